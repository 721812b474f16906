"""reissue.produce.restore against generated signals whose truth is known."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scipy.signal

from reissue import instruments as ins
from reissue.analysis import sound as S
from reissue.errors import ParameterError
from reissue.produce import restore as R

RATES = [44100, 48000]


def sine(freq, seconds, sample_rate, amplitude=1.0):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def tone_level_db(x, freq, sample_rate):
    """Level (dB re full-scale amplitude) of the ``freq`` sinusoid in ``x``, by least squares."""
    t = np.arange(x.size) / sample_rate
    basis = np.stack([np.sin(2 * np.pi * freq * t), np.cos(2 * np.pi * freq * t)], axis=1)
    coef, *_ = np.linalg.lstsq(basis, x.astype(np.float64), rcond=None)
    return 20 * np.log10(np.hypot(*coef))


def sdr_db(out, clean):
    """Signal-to-distortion ratio 10·log10(Σclean² / Σ(out − clean)²)."""
    clean = clean.astype(np.float64)
    return 10 * np.log10(np.sum(clean ** 2) / np.sum((out.astype(np.float64) - clean) ** 2))


# --------------------------------------------------------------------------- DC

@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_dc_offset_removed_and_tone_kept(sample_rate, channels):
    x = np.stack([sine(440 + 110 * c, 3, sample_rate, 0.5) + 0.2 * (c + 1)
                  for c in range(channels)])
    y = R.DCBlocker().process(x, sample_rate)
    assert y.dtype == np.float32 and y.shape == x.shape
    inner = y[:, sample_rate // 2: -sample_rate // 2]
    # the offset (0.2, 0.4) is gone to 1e-4 away from the edges, and to 2e-3 at them
    assert np.abs(inner.mean(axis=1)).max() < 1e-4
    assert np.abs(y.mean(axis=1)).max() < 2e-3
    for c in range(channels):  # 440 Hz is 44× the cut-off: its level moves < 0.01 dB
        assert tone_level_db(inner[c], 440 + 110 * c, sample_rate) == \
            pytest.approx(20 * np.log10(0.5), abs=0.01)


def test_dc_matches_full_rate_zero_phase_reference(rng):
    """The decimated computation equals scipy's sosfiltfilt of the same high-pass to −60 dB
    (away from the edges, where the two pad differently)."""
    sr = 44100
    x = (0.1 * rng.standard_normal((2, sr * 4)) + 0.05).astype(np.float32)
    x += sine(30, 4, sr, 0.2)  # low content near the cut-off exercises the filter
    y = R.DCBlocker(cutoff_hz=10.0).process(x, sr)
    sos = scipy.signal.butter(2, 10.0, "high", fs=sr, output="sos")
    ref = scipy.signal.sosfiltfilt(sos, x.astype(np.float64), axis=-1)
    s = slice(sr, -sr)
    err = np.sum((y[:, s] - ref[:, s]) ** 2) / np.sum(ref[:, s] ** 2)
    assert 10 * np.log10(err) < -60


def test_dc_blocker_validates_cutoff():
    with pytest.raises(ParameterError, match="cutoff_hz=100"):
        R.DCBlocker(cutoff_hz=100)
    assert repr(R.DCBlocker(12)) == "DCBlocker(cutoff_hz=12.0)"


# --------------------------------------------------------------------------- clicks

def _sine_with_click(sample_rate, rng, at_seconds=0.6, amplitude=0.3):
    clean = (sine(440, 1.5, sample_rate, 0.5)
             + 1e-4 * rng.standard_normal(int(1.5 * sample_rate))).astype(np.float32)
    width = int(0.0005 * sample_rate)  # a 0.5 ms click
    i = int(at_seconds * sample_rate)
    noisy = clean.copy()
    noisy[i: i + width] += amplitude * np.hanning(width + 2)[1:-1].astype(np.float32)
    return clean[None], noisy[None], i, width


@pytest.mark.parametrize("sample_rate", RATES)
def test_click_in_sine_found_and_repaired(sample_rate, rng):
    clean, noisy, at, width = _sine_with_click(sample_rate, rng)
    remover = R.ClickRemover()
    found = remover.detect(noisy, sample_rate)
    assert len(found.spans) == 1
    start, end = found.spans[0]
    assert abs(found.peaks[0] - at) <= 0.001 * sample_rate  # within 1 ms
    assert start <= at and end >= at + width  # the span covers the click
    repaired = remover.process(noisy, sample_rate)
    click_energy = np.sum((noisy - clean) ** 2)
    err = repaired - clean
    # the refill is within 1 % of the click's energy and 5e-3 of the sine at every sample
    assert np.sum(err ** 2) < 0.01 * click_energy
    assert np.abs(err).max() < 5e-3
    np.testing.assert_array_equal(repaired[:, :start], noisy[:, :start])  # nothing else moves
    np.testing.assert_array_equal(repaired[:, end:], noisy[:, end:])


def test_click_on_one_channel_is_refilled_in_both(rng):
    sr = 44100
    clean, noisy, at, width = _sine_with_click(sr, rng)
    stereo_clean = np.concatenate([clean, 0.8 * clean])
    stereo = np.concatenate([noisy, 0.8 * clean])
    out = R.ClickRemover().process(stereo, sr)
    assert np.sum((out - stereo_clean) ** 2) < 0.01 * np.sum((stereo - stereo_clean) ** 2)


def _snare_pattern(sample_rate, rng, seconds=4.0, with_kick_and_hats=True):
    n = int(seconds * sample_rate)
    beat = 0.5
    snares = [ins.Note(beat * (2 * k + 1), 0.2, 0, 0.9 if k % 2 else 0.7)
              for k in range(int(seconds / beat / 2))]
    x = ins.render(snares, ins.Snare(), sample_rate, n, rng)
    if with_kick_and_hats:
        kicks = [ins.Note(beat * 2 * k, 0.2, 0, 0.9) for k in range(int(seconds / beat / 2))]
        hats = [ins.Note(beat / 2 * k, 0.05, 0, 0.6) for k in range(int(seconds / beat * 2))]
        x = x + ins.render(kicks, ins.Kick(), sample_rate, n, rng) \
            + ins.render(hats, ins.HiHat(), sample_rate, n, rng)
    return (0.5 * x / np.abs(x).max()).astype(np.float32)[None]


@pytest.mark.parametrize("drums", [False, True], ids=["snare", "snare+kick+hats"])
def test_no_false_clicks_on_clean_drums(drums, rng):
    sr = 44100
    x = _snare_pattern(sr, rng, with_kick_and_hats=drums)
    found = R.ClickRemover().detect(x, sr)
    assert found.spans == ()
    # ... while clicks placed between the hits are found (the detector is not just deaf)
    y = x.copy()
    for t in (1.2, 1.93, 3.18):
        i = int(t * sr)
        y[0, i: i + 20] += 0.2 * np.hanning(22)[1:-1].astype(np.float32)
    found = R.ClickRemover().detect(y, sr)
    assert [round(p / sr, 2) for p in found.peaks] == pytest.approx([1.2, 1.93, 3.18], abs=2e-3)


def test_lsar_fill_matches_dense_least_squares(rng):
    for p, m in ((10, 7), (5, 12)):
        seg = rng.standard_normal(m + 2 * p)
        a = 0.3 * rng.standard_normal(p)
        poly = np.concatenate([[1.0], a])
        mat = np.zeros((m + p, m + 2 * p))
        r = np.arange(m + p)
        for j in range(p + 1):
            mat[r, r + p - j] = poly[j]
        unknown = np.arange(p, p + m)
        known = np.setdiff1d(np.arange(m + 2 * p), unknown)
        ref, *_ = np.linalg.lstsq(mat[:, unknown], -mat[:, known] @ seg[known], rcond=None)
        np.testing.assert_allclose(R._lsar_fill(seg, a, p, m), ref, atol=1e-9)


# --------------------------------------------------------------------------- hiss

@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("channels", [1, 2])
def test_hiss_reduced_6_db_tone_kept_within_half_db(sample_rate, channels, rng):
    n = 5 * sample_rate
    tone = sine(1000, 5, sample_rate, 0.1)  # −23 dBFS RMS
    x = (tone + 1e-3 * rng.standard_normal((channels, n))).astype(np.float32)  # −60 dBFS hiss
    y = R.HissReducer().process(x, sample_rate)
    before = S.noise_floor_dbfs(x, sample_rate)
    after = S.noise_floor_dbfs(y, sample_rate)
    assert before == pytest.approx(-60.0, abs=1.0)
    assert after <= before - 6.0
    inner = slice(sample_rate // 4, -sample_rate // 4)
    for c in range(channels):
        assert tone_level_db(y[c, inner], 1000, sample_rate) == pytest.approx(-20.0, abs=0.5)


def test_hiss_profile_reads_the_noise_level(rng):
    """The reported noise profile level is the true white-noise level to 1 dB."""
    sr = 44100
    x = (sine(300, 4, sr, 0.2) + 10 ** (-50 / 20) * rng.standard_normal((2, 4 * sr))
         ).astype(np.float32)
    out = R.HissReducer().apply(x, sr)
    assert out.details["hiss"]["noise_floor_dbfs"] == pytest.approx(-50.0, abs=1.0)


def test_spectral_stage_is_transparent_without_processing(rng):
    """With nothing to remove (no over-subtraction, 0 dB floor) the STFT reconstructs exactly."""
    sr = 44100
    x = (0.3 * rng.standard_normal((2, sr))).astype(np.float32)
    y = R.HissReducer(floor_db=0.0, over_subtraction=0.0).process(x, sr)
    np.testing.assert_allclose(y, x, atol=2e-6)


# --------------------------------------------------------------------------- band extension

def test_band_extension_adds_energy_above_the_cutoff_only(rng):
    sr = 44100
    cutoff = 8000.0
    sos = scipy.signal.ellip(10, 0.5, 90, cutoff, fs=sr, output="sos")
    x = scipy.signal.sosfilt(sos, 0.1 * rng.standard_normal((1, 4 * sr)), axis=-1
                             ).astype(np.float32)
    ext = R.BandwidthExtender(cutoff_hz=cutoff, level_db=-20.0)
    out = ext.apply(x, sr)
    added = (out.samples - x)[0, sr // 2: -sr // 2]
    f, p = scipy.signal.welch(added, sr, nperseg=4096)
    below = p[f < cutoff - 100].sum()
    above = p[f >= cutoff].sum()
    assert below < 1e-3 * above  # > 99.9 % of what was added lies above the cut-off
    _, px = scipy.signal.welch(x[0, sr // 2: -sr // 2], sr, nperseg=4096)
    octave = px[(f >= cutoff / 2) & (f < cutoff)].sum()
    assert 10 * np.log10(above / octave) == pytest.approx(-20.0, abs=1.5)
    assert out.details["bandwidth"]["added_level_db"] == pytest.approx(-20.0, abs=0.5)
    # nothing reaches beyond max_hz
    assert p[f > 20500].sum() < 1e-3 * above


# --------------------------------------------------------------------------- mono → stereo

def _mono_music(sample_rate, rng, seconds=4.0):
    """Electric piano chords (C5 E5 G5) under a lead line: energy mostly in 300 Hz – 8 kHz."""
    n = int(seconds * sample_rate)
    chords = [ins.Note(0.5 * k, 0.45, p, 0.7) for k in range(int(seconds * 2))
              for p in (72, 76, 79)]
    melody = [ins.Note(0.25 * k, 0.22, 84 + (k * 5) % 12, 0.8) for k in range(int(seconds * 4))]
    x = ins.render(chords, ins.EPiano(), sample_rate, n, rng) + \
        ins.render(melody, ins.Lead(), sample_rate, n, rng)
    return (0.3 * x / np.abs(x).max()).astype(np.float32)[None]


@pytest.mark.parametrize("sample_rate", RATES)
def test_mono_to_stereo_widens_and_keeps_the_mono_sum(sample_rate, rng):
    mono = _mono_music(sample_rate, rng)
    out = R.MonoToStereo().process(mono, sample_rate)
    assert out.shape == (2, mono.shape[1]) and out.dtype == np.float32
    width, corr = S.stereo_image(out)
    # side at −12 dB re the in-band mid: width = 0.063 × the in-band share of the energy
    assert width > 0.05 and corr < 0.95
    np.testing.assert_allclose(out[0] + out[1], 2 * mono[0], atol=1e-6)
    # the low end stays mono: side below 150 Hz is ≥ 40 dB under the mid there
    side = 0.5 * (out[0] - out[1])
    f, ps = scipy.signal.welch(side, sample_rate, nperseg=8192)
    _, pm = scipy.signal.welch(mono[0] + 1e-9, sample_rate, nperseg=8192)
    low = (f > 20) & (f < 150)
    assert ps[low].sum() < 1e-4 * pm[low].sum()


def test_mono_to_stereo_on_two_channels_keeps_their_sum(rng):
    sr = 44100
    mono = _mono_music(sr, rng)
    x = np.concatenate([mono, 0.9 * mono])
    out = R.MonoToStereo().process(x, sr)
    np.testing.assert_allclose(out[0] + out[1], x[0] + x[1], atol=1e-6)


def test_mono_to_stereo_output_independent_of_block_size(rng):
    sr = 44100
    mono = _mono_music(sr, rng, seconds=2.0)
    whole = R.MonoToStereo().process(mono, sr)
    for sizes in ([1, 511, 512, 513, 30000], [4096] * 30, [7] * 50 + [100000]):
        stage = R.MonoToStereo()
        edges = np.cumsum([0] + sizes)
        edges = edges[edges < mono.shape[1]].tolist() + [mono.shape[1]]
        parts = [stage.process(mono[:, a:b], sr, reset=(a == 0))
                 for a, b in zip(edges[:-1], edges[1:])]
        np.testing.assert_allclose(np.concatenate(parts, axis=1), whole, atol=1e-6)


def test_mono_to_stereo_validates():
    with pytest.raises(ParameterError, match="side_db=0"):
        R.MonoToStereo(side_db=0)
    with pytest.raises(ParameterError, match="got 3"):
        R.MonoToStereo().process(np.zeros((3, 100), np.float32), 44100)


# --------------------------------------------------------------------------- restore()

@pytest.fixture(scope="module")
def demo_pair():
    from reissue.demo import render_demo

    return render_demo(), render_demo(noise=False)


@pytest.fixture(scope="module")
def demo_restored(demo_pair):
    noisy, _ = demo_pair
    sound = S.analyze_sound(noisy, 44100)
    out, report = R.restore(noisy, 44100, sound=sound)
    return sound, out, report


def test_demo_noise_floor_down_6_db_without_losing_sdr(demo_pair, demo_restored):
    """Done condition of the restoration stage (issue 4): on the demo song the noise floor
    falls ≥ 6 dB and the signal-to-distortion ratio against the clean render does not fall."""
    noisy, clean = demo_pair
    sound, out, report = demo_restored
    sr = 44100
    assert S.noise_floor_dbfs(out, sr) <= S.noise_floor_dbfs(noisy, sr) - 6.0
    assert sdr_db(out, clean) >= sdr_db(noisy, clean) + 2.0  # measured +3.8 dB
    applied = [s.stage for s in report.stages if s.applied]
    assert applied == ["dc", "clicks", "hiss", "bandwidth"]  # narrow stereo: not widened


def test_demo_band_extension_costs_at_most_noise_level_sdr(demo_pair, demo_restored):
    """With and without the band extension: it adds no more distortion than 0.3 dB of SDR."""
    noisy, clean = demo_pair
    sound, out, _ = demo_restored
    without, _ = R.run_chain([R.DCBlocker(), R.ClickRemover(),
                              R.SpectralStage([R.HissReducer()])], noisy, 44100)
    assert sdr_db(out, clean) >= sdr_db(without, clean) - 0.3


def test_demo_clicks_all_found_and_nothing_else(demo_pair, demo_restored):
    noisy, clean = demo_pair
    diff = np.abs(noisy[0] - clean[0]) > 0.02  # the clicks (hiss is ≈ 0.0015 RMS)
    starts = np.flatnonzero(diff & ~np.concatenate([[False], diff[:-1]]))
    truth = starts[np.concatenate([[True], np.diff(starts) > 100])]
    assert truth.size == 12
    found = demo_restored[2].stage("clicks").details["click_seconds"]
    assert len(found) == 12
    assert np.abs(np.array(found) - truth / 44100).max() < 0.001


def test_restore_is_deterministic_finite_and_dc_free(demo_pair, demo_restored):
    noisy, _ = demo_pair
    _, out, report = demo_restored
    again, report2 = R.restore(noisy, 44100, sound=demo_restored[0])
    assert out.tobytes() == again.tobytes()
    assert out.dtype == np.float32 and np.isfinite(out).all()
    assert np.abs(out.mean(axis=1)).max() < 1e-5
    d1, d2 = report.to_dict(), report2.to_dict()
    d1.pop("cpu_seconds"), d2.pop("cpu_seconds")
    for s in d1["stages"] + d2["stages"]:
        s.pop("cpu_seconds")
    assert d1 == d2
    json.dumps(report.to_dict())  # JSON-ready


def test_chain_skips_what_is_not_needed(demo_pair):
    _, clean = demo_pair
    sr = 44100
    sound = S.analyze_sound(clean, sr)
    chain, decisions = R.restoration_chain(sound, sample_rate=sr, channels=2)
    by = {d.stage: d for d in decisions}
    assert not by["hiss"].applied and "inaudible" in by["hiss"].reason
    assert by["bandwidth"].applied          # the clean demo keeps its 11 kHz roll-off
    assert not by["stereo"].applied and "already stereo" in by["stereo"].reason
    # strength 0: only the DC filter
    chain0, decisions0 = R.restoration_chain(sound, sample_rate=sr, channels=2, strength=0.0)
    assert [type(s) for s in chain0] == [R.DCBlocker]
    assert all(not d.applied for d in decisions0[1:])


def test_restore_widens_a_mono_source(rng):
    sr = 44100
    mono = _mono_music(sr, rng, seconds=3.0)
    sound = S.analyze_sound(mono, sr)
    out, report = R.restore(mono, sr, sound=sound)
    assert out.shape[0] == 2
    assert report.stage("stereo").applied and report.channels_out == 2
    chain, _ = R.restoration_chain(sound, sample_rate=sr, channels=1)
    assert isinstance(chain[-1], R.MonoToStereo)
    before_widening, _ = R.run_chain(chain[:-1], mono, sr)
    np.testing.assert_allclose(out[0] + out[1], 2 * before_widening[0], atol=1e-6)
    # dual mono (identical channels) counts as mono too
    _, report2 = R.restore(np.concatenate([mono, mono]), sr)
    assert report2.stage("stereo").applied


def test_chain_for_a_clean_wide_full_band_recording(demo_pair):
    """A modern-looking recording (full band, quiet, stereo) gets the DC filter only."""
    import dataclasses

    sr = 44100
    sound = dataclasses.replace(S.analyze_sound(demo_pair[1], sr), bandwidth_hz=20000.0,
                                stereo_width=0.3, lr_correlation=0.6)
    chain, decisions = R.restoration_chain(sound, sample_rate=sr, channels=2)
    assert [type(s) for s in chain] == [R.DCBlocker]
    by = {d.stage: d for d in decisions}
    assert "modern-looking" in by["clicks"].reason and "20000 Hz" in by["bandwidth"].reason
    # an audible noise floor alone is reason enough to look for clicks
    hissy = dataclasses.replace(sound, noise_floor_dbfs=sound.integrated_lufs - 40.0)
    chain, _ = R.restoration_chain(hissy, sample_rate=sr, channels=2)
    assert [type(s) for s in chain] == [R.DCBlocker, R.ClickRemover, R.SpectralStage]


def _smooth_music(sample_rate, seconds, pitches, rng):
    """Harmonic tones under smooth (Hann) envelopes: music with no discontinuity anywhere."""
    n = int(seconds * sample_rate)
    t = np.arange(n) / sample_rate
    out = np.zeros(n)
    note = 0.5
    for k, p in enumerate(pitches * int(seconds / note / len(pitches) + 1)):
        a = int(k * note * sample_rate)
        b = min(n, a + int(1.5 * note * sample_rate))
        if a >= n:
            break
        env = np.hanning(b - a)
        f = 440.0 * 2 ** ((p - 69) / 12)
        for h, amp in enumerate((1.0, 0.5, 0.3, 0.2, 0.1), start=1):
            out[a:b] += amp * env * np.sin(2 * np.pi * h * f * t[a:b] + rng.uniform(0, 6.3))
    return (0.3 * out / np.abs(out).max()).astype(np.float32)


def test_no_false_clicks_in_smooth_stereo_music(rng):
    """Different clean parts left and right, with a realistic −90 dBFS floor: nothing found."""
    sr = 44100
    x = np.stack([_smooth_music(sr, 4.0, [60, 64, 67, 72], rng),
                  _smooth_music(sr, 4.0, [48, 55, 52, 57], rng)])
    x += (3e-5 * rng.standard_normal(x.shape)).astype(np.float32)
    assert R.ClickRemover().detect(x, sr).spans == ()


def test_a_floor_that_is_music_is_not_taken_for_hiss(demo_pair):
    """Dense recordings read an 'audible' meter noise floor (orchestral tracks: −30…−62 dBFS);
    when their quietest frames do not look like steady noise, there is no hiss reduction."""
    import dataclasses

    sr = 44100
    sound = dataclasses.replace(S.analyze_sound(demo_pair[1], sr), noise_floor_dbfs=-50.0)
    _, decisions = R.restoration_chain(sound, sample_rate=sr, channels=2, noise_likeness=0.02)
    hiss = {d.stage: d for d in decisions}["hiss"]
    assert not hiss.applied and "music, not steady noise" in hiss.reason
    _, decisions = R.restoration_chain(sound, sample_rate=sr, channels=2, noise_likeness=0.9)
    assert {d.stage: d for d in decisions}["hiss"].applied


def test_noise_likeness_of_hiss_and_of_music(demo_pair, rng):
    sr = 44100
    assert R.noise_likeness(demo_pair[0], sr) > 0.8   # tape hiss under music
    assert R.noise_likeness(demo_pair[1], sr) < 0.05  # the same music, clean
    white = (1e-3 * rng.standard_normal((1, 20 * sr))).astype(np.float32)
    assert R.noise_likeness(white, sr) > 0.8
    music = np.concatenate([_mono_music(sr, rng, 20.0),
                            _smooth_music(sr, 20.0, [48, 55, 52, 57], rng)[None]])
    assert R.noise_likeness(music, sr) < 0.1  # (the level test decides whether a floor matters)


def test_strength_scales_the_work(rng):
    sr = 44100
    x = (sine(1000, 4, sr, 0.1) + 1e-3 * rng.standard_normal((2, 4 * sr))).astype(np.float32)
    floors = []
    for strength in (0.0, 0.5, 1.0):
        out, _ = R.restore(x, sr, strength=strength)
        floors.append(S.noise_floor_dbfs(out, sr))
    assert floors[0] > floors[1] + 2.0 > floors[2] + 4.0


def test_restore_validates_input():
    with pytest.raises(ParameterError, match="strength=1.5"):
        R.restore(np.zeros((2, 1000), np.float32), 44100, strength=1.5)
    with pytest.raises(ParameterError, match="2-D"):
        R.restore(np.zeros(1000, np.float32), 44100)


def test_restore_handles_silence_and_short_input():
    sr = 44100
    for n in (10, 3000, sr):
        out, report = R.restore(np.zeros((2, n), np.float32), sr)
        assert out.shape == (2, n) and np.isfinite(out).all() and not out.any()
    out, _ = R.restore(np.full((1, 500), 0.3, np.float32), sr)
    assert np.isfinite(out).all()
