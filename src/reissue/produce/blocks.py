"""Bounded-memory rendering of long recordings: the song in fixed segments, seams crossfaded.

Conventions
-----------
* :func:`render_blocks` renders the same plan as :func:`reissue.produce.render.render` from a
  file, one segment of the original at a time, and hands the new version to ``sink`` in order as
  float32 ``(2, n)`` blocks; its peak memory is that of rendering one segment (≈ 2 minutes)
  whatever the length of the song. Segments are fixed in samples (``SEGMENT_SECONDS`` of the
  original, not machine dependent), so the same input, plan and seed give the same bytes.
* Used by :func:`reissue.refresh.refresh` for recordings longer than ``LONG_SECONDS``; shorter
  ones take the whole-signal path (:func:`~reissue.produce.render.render`), which is what a
  one-segment block render is.

Design
------
Every stage of the whole-signal render runs unchanged on a segment of the original plus
``MARGIN_SECONDS`` of context on each side (the zero-phase DC filter, the STFT stages and the
time stretch see real signal across the seam), with the plan cut to the segment: the time map
restricted and shifted, every note sounding in the window (including release tails of notes
that began before it, rendered from their true onsets), the kicks that duck it. Consecutive
segments overlap by twice the margin; the output switches from one to the next with an
equal-gain linear crossfade of ``FADE_SECONDS`` (50 ms) centred on the seam — both sides are renders
of the same material, so they are coherent there (the time-stretched case is the exception:
two phase-vocoder renders of the same passage differ in phase, and the 50 ms fade keeps the
comb filtering of the overlap too short to hear as more than a blur of one beat's transient).

Levels: the layers' gain staging is relative to each segment's restored original (as the whole
render does for the song); the master runs per segment with its loudness target offset by the
segment's loudness relative to the whole original (energy means of the analysis' short-term
loudness over the segment and over the song), so
a quiet intro stays quieter than the chorus instead of every segment being pushed to the
target — the song's macro-dynamics survive. What a segment's master falls short of its target
(a crest-limited loud passage) is added to the next segment's target (within ±1.5 LU), so the
integrated loudness lands on the target (tested within ±0.5 LU). EQ and compression amounts
are the style's, fitted per segment.

Measured (``benchmarks/refresh.py --long``, modern-pop, FLAC out, one core): 10 minutes —
23 CPU-s, peak RSS 669 MB (analysis 539 MB), −11.90 LUFS for a −11.9 target; 60 minutes —
114 CPU-s (31× real time), peak RSS 1.92 GB, of which the render, encode and score phase
1.02 GB and the streamed analysis 1.92 GB (the beat tracker's whole-song spectrogram);
−11.87 LUFS, −1.01 dBTP. The whole-signal path peaked at 0.90 GB for 5 minutes.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import replace
from pathlib import Path

import numpy as np

__all__ = ["render_blocks", "segment_bounds", "SEGMENT_SECONDS", "MARGIN_SECONDS",
           "FADE_SECONDS", "LONG_SECONDS"]

#: Length of a segment of the original (the unit of work; fixed, so output bytes are too).
SEGMENT_SECONDS = 120.0
#: Context rendered on each side of a segment (covers filter/STFT/stretch edges and the fade).
MARGIN_SECONDS = 2.0
#: Crossfade at each seam.
FADE_SECONDS = 0.05
#: Recordings longer than this take the block path in :func:`reissue.refresh.refresh`.
LONG_SECONDS = 300.0
#: Release tails longer than this (after a note's end) are cut at a segment's start.
_TAIL_SECONDS = 4.0


def segment_bounds(frames: int, sample_rate: int, *, segment_seconds: float = SEGMENT_SECONDS
                   ) -> list[tuple[int, int]]:
    """Core ``[start, end)`` sample ranges of the original, in order; the last segment absorbs a
    remainder shorter than half a segment."""
    size = max(1, round(segment_seconds * sample_rate))
    edges = list(range(0, frames, size)) + [frames]
    if len(edges) > 2 and edges[-1] - edges[-2] < size // 2:
        del edges[-2]
    return list(itertools.pairwise(edges))


def _segment_lufs(sound, start_seconds: float, end_seconds: float) -> float | None:
    """Loudness of ``[start, end)`` of the original from its short-term loudness curve (3 s
    windows every second, window end times), energy mean of the windows gated at −70 LUFS."""
    st = np.asarray(sound.short_term_lufs, float)
    if st.size == 0:
        return None
    hop = float(sound.short_term_hop_seconds)
    ends = 3.0 + hop * np.arange(st.size)
    mid = ends - 1.5
    pick = (mid >= start_seconds) & (mid < end_seconds) & (st > -70.0)
    if not pick.any():
        return None
    return float(10.0 * np.log10(np.mean(10.0 ** (st[pick] / 10.0))))


def _window_plan(plan, a_seconds: float, b_seconds: float, loudness_offset_db: float):
    """The plan cut to original seconds ``[a, b)``, shifted to start at 0 (see module notes)."""
    from ..arrange import TimeMap

    tm = plan.time_map
    na, nb = float(tm.to_new(a_seconds)), float(tm.to_new(b_seconds))
    o = np.asarray(tm.original_seconds, float)
    n = np.asarray(tm.new_seconds, float)
    inside = (o > a_seconds + 1e-6) & (o < b_seconds - 1e-6)
    time_map = TimeMap((0.0, *(o[inside] - a_seconds), b_seconds - a_seconds),
                       (0.0, *(n[inside] - na), nb - na))
    parts = []
    for part in plan.parts:
        notes = tuple(replace(x, start_seconds=x.start_seconds - na) for x in part.notes
                      if x.start_seconds < nb
                      and x.start_seconds + x.duration_seconds + _TAIL_SECONDS > na)
        parts.append(replace(part, notes=notes))
    kicks = tuple(k - na for k in plan.kick_seconds if na - 2.0 < k < nb)
    target = dict(plan.master)
    if loudness_offset_db:
        target["loudness_lufs"] = float(np.clip(float(target["loudness_lufs"])
                                                + loudness_offset_db, -30.0, -5.0))
    return replace(plan, time_map=time_map, parts=tuple(parts), kick_seconds=kicks,
                   duration_seconds=nb - na, master=target), na, nb


def _take(y: np.ndarray, start: int, s0: int, s1: int) -> np.ndarray:
    """New-time samples ``[s0, s1)`` of a render ``y`` that starts at ``start`` (zeros outside)."""
    out = np.zeros((y.shape[0], max(0, s1 - s0)), np.float32)
    i0, i1 = max(s0 - start, 0), min(s1 - start, y.shape[1])
    if i1 > i0:
        out[:, i0 - (s0 - start): i1 - (s0 - start)] = y[:, i0:i1]
    return out


def render_blocks(path, analysis, plan, sink, *, meter=None, stem_sink=None,
                  reference_curve=None, progress=None,
                  segment_seconds: float = SEGMENT_SECONDS) -> dict:
    """Render ``plan`` from the file at ``path`` segment by segment into ``sink``.

    Parameters
    ----------
    path : path-like
        The original (read a segment at a time).
    analysis : Analysis
        Of the whole original (its sound analysis drives the restoration chain and the
        segments' loudness offsets).
    plan : Plan
        The whole song's plan.
    sink : callable
        Receives the new version as consecutive float32 ``(2, n)`` blocks.
    meter : CostMeter, optional
        Stage CPU times accumulate in it as in the whole render.
    stem_sink : callable, optional
        ``stem_sink(name, block)`` receives each stem's blocks (stems are kept when given).
    segment_seconds : float
        Segment length (tests use short ones; the default is fixed).

    Returns
    -------
    dict
        ``restore`` and ``master`` reports of the first segment, ``segments`` (count) and
        per-segment ``loudness_lufs``/``true_peak_dbtp`` of the masters.
    """
    from ..cost import CostMeter
    from ..io import _open
    from .render import render

    meter = meter or CostMeter()
    with _open(Path(path)) as f:
        sr, frames = int(f.samplerate), int(f.frames)
    margin = round(MARGIN_SECONDS * sr)
    fade = max(2, round(FADE_SECONDS * sr))
    total_new = round(plan.duration_seconds * sr) if plan.duration_seconds > 0 else frames
    # the reference is the same measure over the whole song (not the gated integrated
    # loudness): the segments' targets then average, energy-wise, to the song's target
    song_lufs = _segment_lufs(analysis.sound, 0.0, math.inf)
    bounds = segment_bounds(frames, sr, segment_seconds=segment_seconds)
    ramp = ((np.arange(fade, dtype=np.float32) + 0.5) / fade)[None]
    pos = 0
    aimed_energy = got_energy = 0.0
    carry: dict[str, np.ndarray] = {}
    seen: set[str] = set()
    report: dict = {"segments": len(bounds), "segment_masters": []}

    def emit(name: str, block: np.ndarray) -> None:
        if name == "mix":
            sink(block)
        elif stem_sink is not None:
            stem_sink(name, block)

    with _open(Path(path)) as f:
        for k, (lo, hi) in enumerate(bounds):
            a, b = max(0, lo - margin), min(frames, hi + margin)
            with meter.stage("decode"):
                f.seek(a)
                x = np.ascontiguousarray(f.read(b - a, dtype="float32", always_2d=True).T)
            seg_lufs = _segment_lufs(analysis.sound, lo / sr, hi / sr)
            offset = 0.0 if (seg_lufs is None or song_lufs is None or len(bounds) == 1) else \
                float(np.clip(seg_lufs - song_lufs, -12.0, 6.0))
            # feedback: what earlier segments fell short of their targets (a crest-limited
            # master cannot reach a loud target) is asked of the next ones, within ±1.5 LU
            if aimed_energy > 0 and got_energy > 0:
                offset += float(np.clip(10.0 * math.log10(aimed_energy / got_energy),
                                        -1.5, 1.5))
            sub, na, _ = _window_plan(plan, a / sr, b / sr, offset)
            rendered = render(x, sr, analysis, sub, meter=meter,
                              keep_stems=stem_sink is not None,
                              reference_curve=reference_curve, progress=progress,
                              rng_salt=k + 1 if len(bounds) > 1 else 0)
            del x
            if k == 0:
                report["restore"], report["master"] = rendered.restore, rendered.master
            weight = (hi - lo) / sr
            got = rendered.master.get("loudness_after_lufs")
            if got is not None and got > -70.0:
                aimed_energy += weight * 10.0 ** (float(sub.master["loudness_lufs"]) / 10.0)
                got_energy += weight * 10.0 ** (float(got) / 10.0)
            report["segment_masters"].append(
                {"loudness_lufs": rendered.master.get("loudness_after_lufs"),
                 "true_peak_dbtp": rendered.master.get("true_peak_after_dbtp")})
            # new-time sample where this render starts; ``pos`` is where the output stands
            start = round(na * sr)
            last = k == len(bounds) - 1
            end = total_new if last else \
                round(float(plan.time_map.to_new(hi / sr)) * sr) - fade // 2
            end = max(end, pos + (fade if carry else 0))
            signals = {"mix": rendered.samples, **rendered.stems}
            for name in set(signals) - seen:  # a stem first heard here: silence before it
                seen.add(name)
                if pos and name != "mix":
                    emit(name, np.zeros((2, pos), np.float32))
            for name in sorted(seen, key=lambda s: (s != "mix", s)):
                # a part with no notes in this segment renders nothing: its stem is silent
                y = np.asarray(signals.get(name, np.zeros((2, 0))), np.float32)
                if y.ndim == 1:
                    y = y[None]
                if y.shape[0] == 1:
                    y = np.repeat(y, 2, axis=0)
                at = pos
                if name in carry:  # the previous segment's version of [pos, pos + fade)
                    prev = carry.pop(name)
                    here = _take(y, start, at, at + prev.shape[1])
                    emit(name, prev * (1.0 - ramp[:, :prev.shape[1]])
                         + here * ramp[:, :prev.shape[1]])
                    at += prev.shape[1]
                if end > at:
                    emit(name, _take(y, start, at, end))
                if not last:
                    carry[name] = _take(y, start, end, end + fade)
            pos = end
            del rendered, signals
    return report
