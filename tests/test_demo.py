"""The built-in demo song: deterministic, an "old record", with consistent ground truth."""

from __future__ import annotations

import numpy as np
import pytest

from reissue import load
from reissue.analysis import analyze
from reissue.demo import demo_truth, render_demo


def test_truth_is_consistent():
    t = demo_truth()
    assert 40 <= t.duration_seconds <= 60
    assert t.tempo_bpm == 96 and t.meter == "4/4" and t.key == "G major"
    beats = np.array(t.beats_seconds)
    np.testing.assert_allclose(np.diff(beats), 60 / 96, atol=1e-6)
    assert set(t.downbeats_seconds) <= set(t.beats_seconds)
    assert t.downbeats_seconds == t.beats_seconds[::4]
    assert [c[2] for c in t.chords[:4]] == ["G:maj", "E:min", "C:maj", "D:maj"]
    # chords tile the music without gaps
    for a, b in zip(t.chords, t.chords[1:]):
        assert a[1] == pytest.approx(b[0])
    # every melody note lies within the music and in G major
    scale = {7, 9, 11, 0, 2, 4, 6}
    assert all(n[2] % 12 in scale and t.chords[0][0] <= n[0] < n[1] <= t.chords[-1][1]
               for n in t.melody)
    assert [s[2] for s in t.sections] == ["A", "B", "A"]


def test_render_is_deterministic_and_seeded():
    a = render_demo(seed=7)
    assert np.array_equal(a, render_demo(seed=7))
    assert not np.array_equal(a, render_demo(seed=8))
    assert a.dtype == np.float32 and a.shape[0] == 2


def test_sounds_like_an_old_record():
    x = render_demo()
    s = analyze(x, 44100).sound
    assert s.integrated_lufs == pytest.approx(-20.0, abs=0.5)
    assert s.stereo_width < 0.05                     # narrow
    assert s.bandwidth_hz < 13000                     # rolled-off highs
    assert s.loudness_range_lu > 5                    # wide dynamics
    assert s.plr_db > 11
    assert s.noise_floor_dbfs > -60                   # audible hiss
    clean = analyze(render_demo(noise=False), 44100).sound
    assert clean.noise_floor_dbfs < s.noise_floor_dbfs - 10
    # the clean reference is the same music: the difference is only the record noise
    diff = x - render_demo(noise=False)
    assert 10 * np.log10(np.mean(diff ** 2)) == pytest.approx(-55.4, abs=1.0)


def test_demo_file_round_trips(demo_wav):
    audio = load(demo_wav)
    assert audio.sample_rate == 44100 and audio.channels == 2
    assert audio.duration_seconds == pytest.approx(demo_truth().duration_seconds, abs=1e-3)
