"""The block (segmented, streamed) render of long recordings against the whole-signal render."""

from __future__ import annotations

import itertools
import tracemalloc

import numpy as np
import pytest

from reissue.analysis.sound import analyze_sound
from reissue.demo import write_demo
from reissue.io import load
from reissue.produce.blocks import segment_bounds
from reissue.refresh import refresh


@pytest.fixture(scope="module")
def demo_renders(tmp_path_factory):
    """The demo song (54 s) refreshed whole and in 20 s segments (3 seams)."""
    work = tmp_path_factory.mktemp("blocks")
    src = write_demo(work / "demo.wav")
    whole = refresh(src, style="modern-pop", out=work / "whole.wav")
    blocks = refresh(src, style="modern-pop", out=work / "blocks.wav", segment_seconds=20.0,
                     stems=work / "stems")
    again = refresh(src, style="modern-pop", out=work / "again.wav", segment_seconds=20.0)
    return work, whole, blocks, again


def test_segment_bounds_cover_the_signal_once():
    b = segment_bounds(44100 * 250, 44100, segment_seconds=120.0)
    assert b == [(0, 44100 * 120), (44100 * 120, 44100 * 250)]  # 10 s remainder absorbed
    b = segment_bounds(1000, 100, segment_seconds=3.0)
    assert b[0][0] == 0 and b[-1][1] == 1000
    assert all(p[1] == q[0] for p, q in itertools.pairwise(b))


def test_block_render_sounds_like_the_whole_render(demo_renders):
    """Same length; loudness within ±0.5 LU of the whole render and of the target, true peak
    under the ceiling, 1/3-octave band levels (40 Hz–12.5 kHz) within 1.5 dB, identity and
    modernity within 0.05."""
    work, whole, blocks, _ = demo_renders
    x = load(work / "whole.wav").samples
    y = load(work / "blocks.wav").samples
    assert x.shape == y.shape
    sa, sb = analyze_sound(x, 44100), analyze_sound(y, 44100)
    assert abs(sa.integrated_lufs - sb.integrated_lufs) < 0.5
    target = whole.report["plan"]["master"]["loudness_lufs"]
    assert abs(sb.integrated_lufs - target) < 0.5
    assert sb.true_peak_dbtp <= -1.0 + 0.05  # 16-bit rounding of the file
    bands = slice(sa.band_centres_hz.index("40"), sa.band_centres_hz.index("12500") + 1)
    diff = np.abs(np.array(sa.band_levels_db) - np.array(sb.band_levels_db))[bands]
    assert diff.max() < 1.5
    for key in ("identity", "modernity"):
        assert abs(whole.report[key]["score"] - blocks.report[key]["score"]) < 0.05
    assert blocks.report["master"]["segments"] and len(blocks.report["master"]["segments"]) == 3


def test_block_render_is_deterministic_and_writes_stems(demo_renders):
    work, _, blocks, _again = demo_renders
    assert (work / "blocks.wav").read_bytes() == (work / "again.wav").read_bytes()
    stems = blocks.stems
    assert stems and "original" in stems and len(stems) > 2
    n = load(work / "blocks.wav").frames
    assert all(load(p).frames == n for p in stems.values())  # every stem stays aligned


def test_block_render_peak_memory_is_bounded(tmp_path):
    """Traced (numpy + Python) peak of a refresh in 8 s segments stays well under the whole
    render's (measured 52 vs 117 MB on the demo song): memory follows the segment, not the
    song. (60-minute figures: ``benchmarks/refresh.py --long``.)"""
    src = write_demo(tmp_path / "demo.wav")
    peaks = {}  # (one-time imports and compilation, if any, land in the whole render's peak)
    for seg in (None, 8.0):
        tracemalloc.start()
        try:
            refresh(src, style="lofi", out=tmp_path / f"o{seg}.wav", segment_seconds=seg)
            peaks[seg] = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peaks[8.0] < 0.6 * peaks[None], peaks


def test_windowed_note_matching_equals_mir_eval():
    """The identity's melody F-measure matches notes per 5-minute window of onsets (memory
    linear in the length instead of mir_eval's n_ref × n_est matrices): on 15 minutes of
    jittered, partly octave-shifted notes it equals mir_eval's figure to 0.005."""
    import mir_eval

    from reissue.score import _note_f_measure

    rng = np.random.default_rng(3)
    on = np.sort(rng.uniform(0, 900, 1500))
    ref_iv = np.stack([on, on + 0.2], axis=1)
    ref_hz = 440.0 * 2 ** (rng.integers(-12, 12, on.size) / 12)
    est_iv = ref_iv + rng.normal(0, 0.03, ref_iv.shape)
    est_hz = ref_hz * np.where(rng.random(on.size) < 0.3, 2.0, 1.0)
    want = mir_eval.transcription.precision_recall_f1_overlap(
        ref_iv, ref_hz, est_iv, est_hz, onset_tolerance=0.05, pitch_tolerance=50.0,
        offset_ratio=None)[2]
    assert abs(_note_f_measure(ref_iv, ref_hz, est_iv, est_hz) - want) < 0.005
    assert _note_f_measure(ref_iv[:0], ref_hz[:0], est_iv, est_hz) == 0.0
