"""reissue.produce.master on generated signals whose answers are known.

Loudness and true peak are measured with reissue.analysis.sound (the exact meters); the issue's
bar is ±0.5 LU and ≤ −1.0 dBTP, the master aims at ±0.05 LU, so the tests assert ±0.1 LU.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal

from reissue.analysis import sound
from reissue.errors import ParameterError
from reissue.produce import master as M
from reissue.produce.master import (Compressor, MasterTarget, MultibandProcessor,
                                    TruePeakLimiter, master)

from .signals import click_track

SR = 44100
LOUDNESS_TOL_LU = 0.1


@pytest.fixture(scope="module")
def demo() -> np.ndarray:
    from reissue.demo import render_demo

    return render_demo()  # the vintage "old record", −20 LUFS, hiss and clicks


def pink_noise_with_transients(rng: np.random.Generator, seconds: float = 20.0) -> np.ndarray:
    """Stereo pink noise (partly correlated) at ≈ −20 LUFS with a decaying hit every 0.5 s
    (peaks ≈ 14 dB over the noise's RMS)."""
    n = int(seconds * SR)
    white = rng.standard_normal((2, n))
    spec = np.fft.rfft(white, axis=-1)
    f = np.fft.rfftfreq(n, 1 / SR)
    spec[:, 1:] /= np.sqrt(f[1:])
    spec[:, 0] = 0
    pink = np.fft.irfft(spec, n, axis=-1)
    pink = 0.7 * pink + 0.3 * pink[::-1]  # some correlation between the channels
    pink *= 0.05 / pink.std()
    t = np.arange(int(0.15 * SR)) / SR
    hit = np.exp(-t / 0.03) * np.sin(2 * np.pi * 90 * t * (1 + 2 * np.exp(-t / 0.01)))
    hit += 0.5 * np.exp(-t / 0.005) * rng.standard_normal(t.size)
    for start in np.arange(0.25, seconds - 0.2, 0.5):
        i = int(start * SR)
        pink[:, i: i + hit.size] += 0.25 * hit
    return pink.astype(np.float32)


def side_mid_db(y: np.ndarray, lo_hz: float, hi_hz: float) -> float:
    """Side energy over mid energy (dB) in a frequency range."""
    freqs, pm, ps = M._ms_spectra(y, SR)
    band = (freqs >= lo_hz) & (freqs < hi_hz)
    return float(10 * np.log10(ps[band].sum() / pm[band].sum()))


def check_master_output(x: np.ndarray, y: np.ndarray, target_lufs: float) -> None:
    assert y.shape == x.shape and y.dtype == np.float32
    assert np.isfinite(y).all()
    assert abs(sound.integrated_loudness(y, SR) - target_lufs) <= LOUDNESS_TOL_LU
    assert sound.true_peak_dbtp(y, SR) <= -1.0
    assert np.abs(y.mean(axis=1)).max() < 1e-4  # no DC offset (≤ −80 dBFS)


@pytest.mark.parametrize("target_lufs", [-16.0, -14.0, -9.0])
def test_demo_reaches_loudness_target_under_the_ceiling(demo, target_lufs):
    y, report = master(demo, SR, MasterTarget(loudness_lufs=target_lufs))
    check_master_output(demo, y, target_lufs)
    assert not report.crest_limited
    assert report.loudness_after_lufs == pytest.approx(sound.integrated_loudness(y, SR),
                                                       abs=0.02)
    assert report.true_peak_after_dbtp == pytest.approx(sound.true_peak_dbtp(y, SR), abs=1e-3)
    assert report.loudness_before_lufs == pytest.approx(-20.0, abs=0.1)


def test_pink_noise_with_transients_reaches_targets(rng):
    x = pink_noise_with_transients(rng)
    limiting = []
    for target_lufs in (-16.0, -14.0, -9.0):
        y, report = master(x, SR, MasterTarget(loudness_lufs=target_lufs))
        check_master_output(x, y, target_lufs)
        limiting.append(report.limiter.limiting_lu)
    # the hits are what loudness costs: the louder the target, the more the limiter takes
    assert limiting[0] < limiting[1] < limiting[2] < 6.0


@pytest.mark.parametrize("sample_rate", [22050, 48000, 96000])
def test_other_sample_rates(rng, sample_rate):
    import soxr

    x = soxr.resample(pink_noise_with_transients(rng, 8.0).T, SR, sample_rate).T
    x = np.ascontiguousarray(x, dtype=np.float32)
    y, report = master(x, sample_rate, MasterTarget(loudness_lufs=-11.0,
                                                    curve_db={"100": 2.0, "1000": 0.0,
                                                              "8000": -2.0}))
    assert y.shape == x.shape and np.isfinite(y).all()
    assert abs(sound.integrated_loudness(y, sample_rate) + 11.0) <= LOUDNESS_TOL_LU
    assert sound.true_peak_dbtp(y, sample_rate) <= -1.0


def test_extreme_target_on_a_very_dynamic_source_is_crest_limited(rng):
    # a quiet bed (≈ −33 LUFS) with a full-scale hit every second: −8 LUFS needs ≈ 15 LU of
    # limiting, more than the style allows
    x = (0.01 * rng.standard_normal((2, 12 * SR))).astype(np.float32)
    t = np.arange(int(0.2 * SR)) / SR
    hit = (np.exp(-t / 0.03) * np.sin(2 * np.pi * 60 * t)).astype(np.float32)
    for s in range(12):
        x[:, s * SR: s * SR + hit.size] += hit
    y, report = master(x, SR, MasterTarget(loudness_lufs=-8.0, max_limiting_lu=6.0))
    assert report.crest_limited
    assert report.limiter.limiting_lu == pytest.approx(6.0, abs=0.1)  # it stopped at the cap
    measured = sound.integrated_loudness(y, SR)
    assert measured < -8.0 - 1.0  # honestly short of the target, and says so
    assert report.loudness_after_lufs == pytest.approx(measured, abs=0.02)
    assert sound.true_peak_dbtp(y, SR) <= -1.0
    # allowing more limiting gets there (the hits are then flattened)
    y2, report2 = master(x, SR, MasterTarget(loudness_lufs=-8.0, max_limiting_lu=20.0))
    assert not report2.crest_limited and report2.limiter.limiting_lu > 6.0
    assert abs(sound.integrated_loudness(y2, SR) + 8.0) <= LOUDNESS_TOL_LU
    assert sound.true_peak_dbtp(y2, SR) <= -1.0


def band_distance(y: np.ndarray, curve: dict[str, float], lo=50.0, hi=10000.0) -> float:
    labels, centres, levels = sound.third_octave_bands(*sound.long_term_spectrum(y, SR), SR)
    use = [(lv, curve[lb]) for lb, c, lv in zip(labels, centres, levels) if lo <= c <= hi]
    d = np.array([a - b for a, b in use])
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def test_eq_moves_band_levels_toward_a_smooth_target(demo):
    labels, centres, levels = sound.third_octave_bands(*sound.long_term_spectrum(demo, SR), SR)
    # the input's own curve tilted up 1.5 dB/octave with a 3 dB bump at 200 Hz: within the clamp
    shape = 1.5 * np.log2(centres / 1000) + 3.0 * np.exp(-np.log2(centres / 200) ** 2)
    curve = {lb: float(lv + s) for lb, lv, s in zip(labels, levels, shape)}
    y, report = master(demo, SR, MasterTarget(loudness_lufs=-14.0, curve_db=curve))
    before, after = band_distance(demo, curve), band_distance(y, curve)
    assert before > 2.0
    assert after <= 0.5 * before, (before, after)
    assert report.curve_source == "style" and report.eq_clamped == ()
    assert report.eq_residual_db < 0.5 * report.eq_distance_before_db
    check_master_output(demo, y, -14.0)


def test_eq_is_clamped(demo):
    labels, _, levels = sound.third_octave_bands(*sound.long_term_spectrum(demo, SR), SR)
    curve = {lb: float(lv) for lb, lv in zip(labels, levels)}
    for lb in ("800", "1000", "1250", "1600", "2000"):
        curve[lb] += 15.0  # a broad 15 dB mountain: far beyond eq_max_db
    y, report = master(demo, SR, MasterTarget(curve_db=curve, eq_max_db=4.0))
    assert {"1000", "1250"} <= set(report.eq_clamped)
    assert max(report.eq_db.values()) <= 4.0 + 0.3  # realised band change within the clamp
    assert report.eq_db["1250"] > 2.0


def test_reference_curve_replaces_the_style_curve(demo):
    # a "reference track" 4 dB brighter above 3 kHz and 3 dB fuller below 150 Hz than the demo
    labels, centres, levels = sound.third_octave_bands(*sound.long_term_spectrum(demo, SR), SR)
    shape = 4.0 * (centres > 3000) * np.clip(np.log2(centres / 3000), 0, 1) + \
        3.0 * (centres < 150)
    reference = {lb: float(lv + d) for lb, lv, d in zip(labels, levels, shape)}
    style = {"100": 0.0, "1000": 0.0, "10000": 0.0}  # flat: would do something else
    y, report = master(demo, SR, MasterTarget(curve_db=style), reference_curve=reference)
    assert report.curve_source == "reference"
    assert band_distance(y, reference) < 0.5 * band_distance(demo, reference)


@pytest.mark.parametrize("channels", [1, 2])
def test_a_click_stays_at_the_same_sample(channels):
    times = [0.5, 1.3, 2.2]
    x = (1e-3 * np.random.default_rng(1).standard_normal((channels, 3 * SR))).astype(np.float32)
    for t in times:
        x[:, int(t * SR)] += 0.5  # one-sample clicks
    bursts = click_track(SR, 3.0, times, channels=channels, amplitude=0.5)
    curve = {"63": 4.0, "250": -2.0, "1000": 0.0, "4000": 3.0, "12500": -4.0}
    target = MasterTarget(loudness_lufs=-16.0, curve_db=curve)
    y, _ = master(x, SR, target)
    yb, _ = master(bursts, SR, target)
    assert y.shape == x.shape
    for t in times:
        i = int(t * SR)
        win = slice(i - 2000, i + 2000)
        assert np.argmax(np.abs(y[0, win])) == 2000  # the click is still at sample i
        lag = np.argmax(scipy.signal.correlate(yb[0, win], bursts[0, win])) - 3999
        assert abs(lag) <= 1  # and a 2 kHz burst is not delayed either


def test_bass_is_mono_after_the_master_and_width_raises_side(rng):
    x = pink_noise_with_transients(rng, seconds=10.0)
    x[1] = np.roll(x[1], 4410)  # decorrelate: side ≈ mid at all frequencies
    assert side_mid_db(x, 30, 90) > -3.0
    # the linear stage removes the side below the crossover to the FIR's stop band
    assert side_mid_db(MultibandProcessor().process(x, SR), 30, 90) < -80.0
    flat = MasterTarget(loudness_lufs=-14.0)
    wide = MasterTarget(loudness_lufs=-14.0, width=(0.0, 1.5, 1.5))
    y1, _ = master(x, SR, flat)
    y2, _ = master(x, SR, wide)
    # after the dynamics: the shared gain's fast changes (limiter attack on transients whose side
    # is strong at 120–300 Hz) modulate some side down; it stays ≥ 25 dB under the mid
    assert side_mid_db(y1, 30, 90) < -25.0
    assert side_mid_db(y2, 30, 90) < -25.0
    gain = side_mid_db(y2, 300, 16000) - side_mid_db(y1, 300, 16000)
    assert gain == pytest.approx(20 * np.log10(1.5), abs=0.3)  # width is side gain per band


def test_deterministic(demo):
    target = MasterTarget(loudness_lufs=-9.0, curve_db={"63": 2.0, "1000": 0.0, "8000": 2.0})
    a, ra = master(demo[:, : 20 * SR], SR, target)
    b, rb = master(demo[:, : 20 * SR], SR, target)
    assert a.tobytes() == b.tobytes()
    assert ra.to_dict() == rb.to_dict()


def test_mono_and_silence_and_short_input():
    x = np.zeros((1, SR), np.float32)
    y, report = master(x, SR, MasterTarget())
    assert y.shape == (1, SR) and not y.any()
    assert report.loudness_after_lufs == -70.0
    t = np.arange(int(0.3 * SR)) / SR
    short = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None]
    y, _ = master(short, SR, MasterTarget(loudness_lufs=-14.0))
    assert abs(sound.integrated_loudness(y, SR) + 14.0) <= LOUDNESS_TOL_LU
    assert sound.true_peak_dbtp(y, SR) <= -1.0


def test_report_is_json_ready(demo):
    import json

    target = MasterTarget(curve_db={"100": 1.0, "1000": 0.0, "10000": -1.0},
                          compression_db=(2.0, 0.0, 1.0), glue_db=0.0)
    _, report = master(demo[:, : 10 * SR], SR, target)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert set(d["multiband"]["bands"]) == {"low", "mid", "high"}
    assert d["multiband"]["bands"]["mid"]["threshold_db"] is None  # no compressor there
    assert d["multiband"]["bands"]["low"]["gain_reduction_mean_db"] == pytest.approx(2.0,
                                                                                    abs=0.1)
    assert d["target"]["curve_db"] == {"100": 1.0, "1000": 0.0, "10000": -1.0}
    assert len(d["stages"]) == 2 and d["stages"][0].startswith("MultibandProcessor(")
    assert MasterTarget.from_dict(d["target"]) == target
    assert hash(target) == hash(MasterTarget.from_dict(d["target"]))


# ---------------------------------------------------------------------------- target validation

def test_target_from_dict_round_trips_and_validates():
    t = MasterTarget.from_dict({"loudness_lufs": -9, "width": [0, 1.1, 1.3],
                                "curve_db": {"100": 2, "1000": 0, "8000": -3}})
    assert t.width == (0.0, 1.1, 1.3) and t.curve_db["100"] == 2.0
    assert MasterTarget.from_dict(t.to_dict()) == t
    with pytest.raises(ParameterError, match=r"styles/x.toml: unknown key\(s\) loudnes"):
        MasterTarget.from_dict({"loudnes": -9}, source="styles/x.toml")
    with pytest.raises(ParameterError, match=r"styles/x.toml: ceiling_dbtp=-0.5 is out of range"):
        MasterTarget.from_dict({"ceiling_dbtp": -0.5}, source="styles/x.toml")
    with pytest.raises(ParameterError, match="band '1001'"):
        MasterTarget(curve_db={"1001": 0.0, "100": 0.0, "50": 0.0})
    with pytest.raises(ParameterError, match="width"):
        MasterTarget(width=(0.0, 1.0))
    with pytest.raises(ParameterError, match=r"crossovers_hz\[1\]=500.0 is out of range"):
        MasterTarget(crossovers_hz=(300.0, 500.0))
    with pytest.raises(ParameterError, match="MasterTarget"):
        master(np.zeros((2, 100), np.float32), SR, {"loudness_lufs": -14})


# ---------------------------------------------------------------------------- the stages

def test_bands_sum_back_flat():
    """No EQ, no compression, width 1: the three bands sum to the 20 Hz high-pass alone."""
    proc = MultibandProcessor(width=(1.0, 1.0, 1.0))
    x = np.zeros((2, 65536), np.float32)
    x[:, 20000] = 1.0
    x[1, 20000] = 0.5  # some side signal
    y = proc.process(x, SR)
    f = np.fft.rfftfreq(x.shape[1], 1 / SR)
    for c in range(2):
        h = np.abs(np.fft.rfft(y[c])) / np.abs(np.fft.rfft(x[c]))
        band = (f >= 50) & (f <= 20000)  # below 50 Hz the 20 Hz subsonic high-pass acts
        assert np.abs(20 * np.log10(h[band])).max() < 0.05
    bands, paths, taps, _ = proc.split(x, SR)
    mid = bands[[i for i, p in enumerate(paths) if p[1] == 0]].sum(axis=0)
    np.testing.assert_allclose(mid, 0.5 * (y[0] + y[1]), atol=1e-6)
    assert int(np.argmax(np.abs(y[0]))) == 20000  # linear phase, latency removed


def test_compressor_reaches_its_target_gain_reduction(rng):
    n = 20 * SR
    level = np.repeat(rng.uniform(0.02, 0.5, 40), n // 40)  # a level that jumps every 0.5 s
    x = (level * rng.standard_normal(n)).astype(np.float32)[None].repeat(2, axis=0)
    for want in (1.0, 3.0):
        comp = Compressor(target_gr_db=want, ratio=3.0, attack_ms=10, release_ms=100)
        y, stats = comp.process_report(x, SR)
        assert stats.gain_reduction_mean_db == pytest.approx(want, abs=0.1)
        assert np.isfinite(y).all()


def test_compressor_static_curve_above_the_knee():
    t = np.arange(4 * SR) / SR
    x = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)[None]  # −9.03 dB power
    comp = Compressor(threshold_db=-21.0, ratio=4.0, knee_db=0.0, attack_ms=5, release_ms=50)
    y = comp.process(x, SR)
    gain_db = 20 * np.log10(np.abs(y[0, -SR:]).max() / 0.5)
    assert gain_db == pytest.approx(-(1 - 1 / 4) * (-9.03 + 21.0), abs=0.15)


def test_limiter_holds_the_ceiling_on_intersample_peaks():
    n = np.arange(SR)
    x = np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32)[None] * np.float32(0.9)
    assert sound.true_peak_dbtp(x, SR) > -1.0  # sample peak −3.9 dBFS, true peak −0.9 dBTP
    y, stats = TruePeakLimiter(-2.0).process_report(x, SR)
    assert sound.true_peak_dbtp(y, SR) <= -2.0
    assert stats.gain_db == 0.0 and stats.gain_reduction_max_db > 0.5


def test_fast_loudness_matches_the_meter(demo, rng):
    for x in (demo, pink_noise_with_transients(rng, 5.0), demo[:, : int(0.25 * SR)],
              demo[:1, SR: SR + int(0.05 * SR)]):
        assert M.integrated_lufs_fast(x, SR) == pytest.approx(
            sound.integrated_loudness(x, SR), abs=0.01)


def test_stage_parameters_are_validated():
    with pytest.raises(ParameterError, match="exactly one of threshold_db and target_gr_db"):
        Compressor()
    with pytest.raises(ParameterError, match=r"ratio=0.5 is out of range"):
        Compressor(threshold_db=-20, ratio=0.5)
    with pytest.raises(ParameterError, match="taps=1000"):
        MultibandProcessor(taps=1000)
    with pytest.raises(ParameterError, match="ceiling_dbtp=3"):
        TruePeakLimiter(3)
    assert "lookahead_ms=2.0" in repr(TruePeakLimiter())
