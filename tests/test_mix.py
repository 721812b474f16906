"""reissue.produce.mix: gain staging against the original, sidechain ducking on known kicks."""

from __future__ import annotations

import numpy as np
import pytest

from reissue.analysis import sound
from reissue.errors import ParameterError
from reissue.produce.mix import (Gain, SidechainDucker, db_to_gain, gain_to_db,
                                 loudness_match_db, mix_layers)

SR = 44100


def tone(seconds: float, freq: float = 220.0, amp: float = 0.3, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    return np.repeat((amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)[None], channels, 0)


def rms_db(x: np.ndarray, start: int, length: int = 44) -> float:
    seg = x[..., start: start + length]
    return float(10 * np.log10(np.mean(seg.astype(np.float64) ** 2)))


def test_db_conversions_round_trip():
    for db in (-60.0, -6.0, 0.0, 3.5):
        assert gain_to_db(db_to_gain(db)) == pytest.approx(db, abs=1e-9)
    assert db_to_gain(-6.0) == pytest.approx(0.501187, abs=1e-6)
    assert gain_to_db(0.0) == -150.0
    y = Gain(-6.0).process(np.ones((2, 4), np.float32), SR)
    np.testing.assert_allclose(y, 0.501187, atol=1e-6)


@pytest.mark.parametrize("depth_db", [3.0, 6.0, 8.0])
def test_ducking_dips_by_the_depth_at_each_kick_and_recovers(depth_db):
    kicks = [0.5, 1.0, 1.5, 2.0]  # 120 BPM quarter notes
    ducker = SidechainDucker.for_tempo(kicks, 120.0, release_beats=0.5, depth_db=depth_db,
                                       attack_ms=3.0)
    assert ducker.release_seconds == pytest.approx(0.25)
    x = tone(3.0)
    y = ducker.process(x, SR)
    env = ducker.envelope(x.shape[1], SR)
    for k in kicks:
        i = int(round(k * SR))
        assert 20 * np.log10(env[i]) == pytest.approx(-depth_db, abs=1e-4)  # exact at the kick
        assert 20 * np.log10(env[i - int(0.003 * SR) - 2]) == pytest.approx(0.0, abs=1e-6)
        # the audio (RMS over the 1 ms after the kick) is down by the depth …
        assert rms_db(y, i) - rms_db(x, i) == pytest.approx(-depth_db, abs=0.3)
        # … halfway back after half the release (linear in dB) …
        j = i + int(0.125 * SR)
        assert rms_db(y, j) - rms_db(x, j) == pytest.approx(-depth_db / 2, abs=0.3)
        # … and fully back before the next kick
        j = i + int(0.26 * SR)
        assert rms_db(y, j) - rms_db(x, j) == pytest.approx(0.0, abs=0.01)
    assert np.all(env <= 1.0) and env.min() == pytest.approx(db_to_gain(-depth_db), abs=1e-6)


def test_close_kicks_do_not_stack_and_the_curve_shapes_the_release():
    d = SidechainDucker([0.10, 0.12], depth_db=6.0, release_seconds=0.2)
    env_db = 20 * np.log10(d.envelope(SR, SR))
    assert env_db.min() == pytest.approx(-6.0, abs=1e-6)  # the deeper dip wins, no −12 dB
    fast = SidechainDucker([0.1], depth_db=6.0, release_seconds=0.2, curve=3.0)
    slow = SidechainDucker([0.1], depth_db=6.0, release_seconds=0.2, curve=0.5)
    i = int(0.15 * SR)  # a quarter into the release: −6·(1 − 0.25)^curve dB
    assert 20 * np.log10(fast.envelope(SR, SR)[i]) == pytest.approx(-6 * 0.75 ** 3, abs=1e-3)
    assert 20 * np.log10(slow.envelope(SR, SR)[i]) == pytest.approx(-6 * 0.75 ** 0.5, abs=1e-3)


def test_ducker_validates():
    with pytest.raises(ParameterError, match="depth_db=30"):
        SidechainDucker([0.0], depth_db=30)
    with pytest.raises(ParameterError, match="kick_times_seconds must be finite"):
        SidechainDucker([-1.0])
    with pytest.raises(ParameterError, match="tempo_bpm=0"):
        SidechainDucker.for_tempo([0.0], 0)
    assert repr(SidechainDucker([1.0, 1.0, 2.0])).startswith("SidechainDucker(kicks=2,")


def test_layers_are_staged_relative_to_the_original(rng):
    original = tone(6.0, 220.0, 0.2)
    drums = (0.5 * rng.standard_normal((2, 6 * SR))).astype(np.float32)
    bass = tone(6.0, 55.0, 0.05, channels=1)  # mono: goes to both channels
    mix, report = mix_layers(original, {"drums": drums, "bass": bass}, SR,
                             relative_db={"drums": -6.0, "bass": -3.0}, headroom_db=6.0)
    orig_lufs = sound.integrated_loudness(original, SR)
    drums_lufs = sound.integrated_loudness(drums * np.float32(db_to_gain(
        report.gains_db["drums"])), SR)
    bass_lufs = sound.integrated_loudness(bass * np.float32(db_to_gain(report.gains_db["bass"])),
                                          SR)
    assert drums_lufs - orig_lufs == pytest.approx(-6.0, abs=0.02)
    assert bass_lufs - orig_lufs == pytest.approx(-3.0, abs=0.02)
    assert report.gains_db["drums"] == pytest.approx(
        loudness_match_db(drums, original, SR, relative_db=-6.0), abs=1e-9)
    assert 20 * np.log10(np.abs(mix).max()) == pytest.approx(-6.0, abs=1e-3)
    assert report.mix_peak_dbfs == pytest.approx(-6.0, abs=1e-3)
    assert mix.shape == original.shape and mix.dtype == np.float32
    # the staging gain is common: the mix is the gained sum
    expected = (original + drums * np.float32(db_to_gain(report.gains_db["drums"]))
                + bass * np.float32(db_to_gain(report.gains_db["bass"])))
    np.testing.assert_allclose(mix, expected * np.float32(db_to_gain(report.staging_db)),
                               atol=1e-5)


def test_only_the_chosen_stems_are_ducked():
    original = tone(2.0, 330.0, 0.2)
    pad = tone(2.0, 440.0, 0.2)
    ducker = SidechainDucker([0.5, 1.0], depth_db=6.0, release_seconds=0.2)
    mix, report = mix_layers(original, {"pad": pad}, SR, ducker=ducker, duck=["pad"],
                             headroom_db=None)
    assert report.ducked == ("pad",) and report.staging_db == 0.0
    g = np.float32(db_to_gain(report.gains_db["pad"]))
    np.testing.assert_allclose(mix - original, ducker.process(pad * g, SR), atol=1e-6)


def test_mix_layers_rejects_bad_input():
    x = tone(1.0)
    with pytest.raises(ParameterError, match="has 22050 frames; the original has 44100"):
        mix_layers(x, {"a": tone(0.5)}, SR)
    with pytest.raises(ParameterError, match="duck names"):
        mix_layers(x, {"a": x}, SR, ducker=SidechainDucker([0.1]), duck=["b"])
    with pytest.raises(ParameterError, match="needs a ducker"):
        mix_layers(x, {"a": x}, SR, duck=["a"])
    with pytest.raises(ParameterError, match="reserved"):
        mix_layers(x, {"original": x}, SR)
    with pytest.raises(ParameterError, match="not layers"):
        mix_layers(x, {"a": x}, SR, relative_db={"b": 0.0})
