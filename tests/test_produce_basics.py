"""Building blocks of the render: STFT processing, drum push-back, ducking, time map, cost."""

from __future__ import annotations

import numpy as np
import pytest

from reissue import instruments as ins
from reissue.arrange import TimeMap
from reissue.cost import CostMeter
from reissue.produce.sidechain import duck_envelope
from reissue.produce.separate import attenuate_percussive
from reissue.produce.stft import process

SR = 44100


def test_stft_process_reconstructs_exactly(rng):
    x = (rng.standard_normal((2, SR * 3 + 77)) * 0.3).astype(np.float32)
    y = process(x, lambda z, first: z, block=64)
    assert y.shape == x.shape
    assert np.max(np.abs(y - x)) < 1e-5


def test_stft_process_is_block_size_independent(rng):
    x = (rng.standard_normal((1, SR * 2)) * 0.3).astype(np.float32)

    def halve_high(z, first):
        z[..., 500:] *= 0.5
        return z

    a = process(x, halve_high, block=32)
    b = process(x, halve_high, block=256)
    assert np.max(np.abs(a - b)) < 1e-6


def test_percussive_push_back_spares_sustained_notes():
    rng = np.random.default_rng(0)
    n = SR * 6
    snare = ins.render([ins.Note(0.25 * k, 0.1, 0, 0.8) for k in range(24)], ins.Snare(), SR, n,
                       rng)
    chord = sum(ins.render([ins.Note(0, 5.5, p, 0.6)], ins.EPiano(), SR, n, rng)
                for p in (60, 64, 67))

    def drop_db(sig):
        s = np.stack([sig, sig])
        y = attenuate_percussive(s, SR, db=-12.0)
        return 10 * np.log10(np.mean(y ** 2) / np.mean(s ** 2))

    assert drop_db(snare) < -4.3          # measured −4.8 dB (2048/512 STFT: −4.2)
    assert drop_db(chord) > -0.6          # measured ≈ −0.2 dB
    x = np.stack([snare + chord] * 2)
    assert np.array_equal(attenuate_percussive(x, SR, db=0.0), x)
    with pytest.raises(ValueError, match="≤ 0"):
        attenuate_percussive(x, SR, db=3.0)


def test_duck_envelope_dips_and_recovers():
    g = duck_envelope(SR * 2, SR, [0.5, 1.5], depth_db=6.0, release_seconds=0.1)
    db = 20 * np.log10(g)
    assert db[int(0.5 * SR) + 100] == pytest.approx(-6.0, abs=0.3)
    assert db[int(1.0 * SR)] > -0.1          # recovered after 5 release times
    assert db[: int(0.49 * SR)].max() == 0.0  # nothing before the first kick
    assert np.all(duck_envelope(100, SR, [], depth_db=6, release_seconds=0.1) == 1)


def test_time_map_round_trips_and_extrapolates():
    tm = TimeMap.uniform(1.25, 60.0, anchors=[0.5, 1.1, 1.7])
    assert tm.ratio == pytest.approx(1.25)
    assert tm.to_new(30.0) == pytest.approx(24.0)
    assert tm.to_original(tm.to_new(17.3)) == pytest.approx(17.3)
    assert tm.to_new(61.0) == pytest.approx(61.0 / 1.25)
    assert TimeMap.uniform(1.0, 10.0).is_identity
    with pytest.raises(ValueError, match="increase"):
        TimeMap((0.0, 2.0, 1.0), (0.0, 1.0, 2.0))


def test_cost_meter_times_stages_and_estimates_energy():
    meter = CostMeter(audio_seconds=10.0)
    with meter.stage("work"):
        sum(i * i for i in range(200_000))
    cost = meter.finish()
    d = cost.to_dict()
    assert d["cpu_seconds"]["work"] > 0 and d["peak_memory_mb"] > 10
    assert d["energy_joules"] > 0 and d["energy_method"]
    assert d["real_time_factor"] > 0


def test_time_stretch_keeps_to_the_time_map():
    """The renderer's Rubber Band settings place clicks at t/ratio over a long track (its
    high-quality mode drifted 60 ms over 50 s, which is why it is not used)."""
    import pedalboard
    import scipy.signal

    from .signals import click_track

    clicks = [0.5 + 0.6 * k for k in range(60)]
    x = click_track(SR, 37.0, clicks)
    ratio = 1.169
    y = pedalboard.time_stretch(x, float(SR), stretch_factor=ratio, high_quality=False,
                                transient_mode="crisp", preserve_formants=True)
    peaks, _ = scipy.signal.find_peaks(np.abs(y[0]), height=0.2, distance=int(0.3 * SR))
    onsets = peaks / SR
    expected = np.array(clicks) / ratio
    errors = [abs(onsets[np.argmin(np.abs(onsets - e))] - e) for e in expected]
    assert max(errors) < 0.012


def test_stft_process_half_overlap_reconstructs(rng):
    """hop = n_fft/2 uses √Hann windows: identity processing is exact, and a gain applied in
    the STFT domain comes out as that gain (no modulation from the window overlap)."""
    x = (rng.standard_normal((1, SR * 2 + 13)) * 0.3).astype(np.float32)
    assert np.max(np.abs(process(x, lambda z, first: z, n_fft=2048, hop=1024) - x)) < 1e-5
    y = process(x, lambda z, first: z * np.float32(0.5), n_fft=2048, hop=1024)
    assert np.max(np.abs(y - 0.5 * x)) < 1e-5


@pytest.mark.parametrize("tonic", [2, 7, 10])
def test_drum_kit_is_tuned_to_the_key(tonic):
    """A tuned kit's pitched drums (kick, snare body, toms) sit on the tonic and the fifth:
    a groove of kick, snare and toms alone reads as a key on that tonic (major or minor), and
    the kick's body is the tonic within a tritone of its untuned pitch. Untuned, the punchy
    kick sits at 52 Hz (≈ G#1) whatever the song."""
    from reissue.analysis.tonal import PITCH_NAMES, analyze_tonal

    sr = 22050
    kit = ins.instrument("punchy", drums=True, seed=1, tonic_pc=tonic)
    kick = kit.drums[36]
    midi = 69 + 12 * np.log2(kick.f1 / 440.0)
    assert abs(midi - round(midi)) < 1e-9 and round(midi) % 12 == tonic
    assert abs(midi - (69 + 12 * np.log2(52.0 / 440.0))) <= 6.0
    notes, beat = [], 0.5
    for bar in range(16):
        t0 = bar * 4 * beat
        notes += [ins.Note(t0, 0.2, 36, 1.0), ins.Note(t0 + beat, 0.2, 38, 0.9),
                  ins.Note(t0 + 2 * beat, 0.2, 36, 1.0), ins.Note(t0 + 3 * beat, 0.2, 38, 0.9),
                  ins.Note(t0 + 3.5 * beat, 0.2, 45 + 2 * (bar % 3), 0.8)]
    y = ins.render(notes, kit, sr, int(16 * 4 * beat * sr) + sr, np.random.default_rng(0))
    key = analyze_tonal(y, sr).key
    assert key.split()[0] == PITCH_NAMES[tonic], key
