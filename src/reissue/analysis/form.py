"""Form: section boundaries, repeat labels (A, B, A′ …) and the energy of each section.

Conventions
-----------
* Input: mono ``y`` (float32) at ``sample_rate`` and the beat times (seconds) from the rhythm
  analysis; optional downbeats, to which boundaries are snapped. Output times are seconds.
* Labels are letters in order of first appearance. A repeat that is clearly *varied* — its
  loudness differs from the first occurrence by ≥ 3 dB — gets a prime (A′). Evaluate label
  agreement with the primes stripped (``base_label``).
* ``energy`` is the section's RMS level relative to the loudest section, in [0, 1]
  (10^(dB/20)); ``level_db`` gives the same in dB.

Method
------
One cheap front-end — an STFT of the signal at 11.025 kHz (2048-point frames, 46 ms hop), which is
all that beat-level structure needs — gives three beat-synchronous views: harmony (a semitone
spectrum C2–B6 folded to chroma, median per beat), timbre (MFCC 1–12 of a 40-band mel spectrum)
and level (RMS in dB). Then:

1. Boundaries: Foote (2000, "Automatic audio segmentation using a measure of audio novelty")
   novelty of the beat self-similarity matrix of all three views, each standardised and smoothed
   over a bar, with the harmony stacked over the previous 7 beats so chord *order* counts (a verse
   and a chorus often share chords in a different order). A Gaussian-tapered checkerboard kernel
   8 beats a side; peaks picked strongest-first with sections ≥ 8 beats and an adaptive threshold
   (median + 2·MAD of all peaks, at least 0.3 of the maximum); boundaries snapped to the nearest
   downbeat within 2 beats.
2. Labels: a section joins an earlier label when both its harmonic sequence (best mean similarity
   along diagonals of the harmony self-similarity block, i.e. the passages slid against each other
   by up to a bar) and its sound (cosine of mean timbre, level within 6 dB) match; otherwise it
   starts a new letter.
McFee & Ellis's (2014) Laplacian spectral clustering was tried first: on songs whose verse and
chorus use the same chord cycle (common in pop, and the demo song) its harmonic recurrence graph
clusters by *chord*, not by section, so sections split at every chord; the novelty + sequence
comparison above is cheaper (no eigendecomposition) and does not have that failure.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from .frontend import LowRateFeatures, beat_means, low_rate_features

__all__ = ["Section", "Form", "analyze_form", "base_label"]

_KERNEL_HALF_BEATS = 8
_MIN_SECTION_BEATS = 8
_VARIANT_DB = 3.0
_SAME_SEQUENCE = 0.5
_SAME_TIMBRE = 0.9


@dataclass(frozen=True)
class Section:
    start_seconds: float
    end_seconds: float
    label: str
    energy: float
    level_db: float

    def to_dict(self) -> dict:
        return {"start_seconds": round(self.start_seconds, 3),
                "end_seconds": round(self.end_seconds, 3), "label": self.label,
                "energy": round(self.energy, 3), "level_db": round(self.level_db, 2)}


@dataclass(frozen=True)
class Form:
    sections: tuple[Section, ...]

    def to_dict(self) -> dict:
        return {"sections": [s.to_dict() for s in self.sections]}

    @property
    def boundaries_seconds(self) -> tuple[float, ...]:
        return tuple(s.start_seconds for s in self.sections[1:])


def base_label(label: str) -> str:
    """The repeat letter without variant primes: ``"A′"`` → ``"A"``."""
    return label.rstrip("′'")


def _beat_views(features: LowRateFeatures, beats: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Beat-synchronous chroma [12, B] (unit norm), MFCC [12, B] and level dB [B]."""
    import librosa

    fs = features.frame_seconds
    mfcc = librosa.feature.mfcc(S=features.mel_db, n_mfcc=13)[1:]
    chroma_b = beat_means(features.chroma, fs, beats)
    chroma_b /= np.linalg.norm(chroma_b, axis=0, keepdims=True) + 1e-9
    level_b = 10 * np.log10(beat_means(features.ms, fs, beats) + 1e-18)
    return chroma_b, beat_means(mfcc, fs, beats), level_b


def _standardise(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(axis=-1, keepdims=True)) / (x.std(axis=-1, keepdims=True) + 1e-6)


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    import scipy.ndimage

    return scipy.ndimage.uniform_filter1d(x, size=width, axis=-1, mode="nearest")


def _stack(x: np.ndarray, steps: int) -> np.ndarray:
    """Each beat followed by its ``steps − 1`` predecessors (edge-padded)."""
    cols = [x]
    for d in range(1, steps):
        cols.append(np.concatenate([np.repeat(x[:, :1], d, axis=1), x[:, :-d]], axis=1))
    return np.vstack(cols)


def _unit(feats: np.ndarray) -> np.ndarray:
    """Columns scaled to unit length (cosine similarity becomes a dot product)."""
    return feats / (np.linalg.norm(feats, axis=0, keepdims=True) + 1e-9)


def _foote_novelty(unit: np.ndarray, half: int) -> np.ndarray:
    """Foote novelty from unit feature columns, without building the full self-similarity matrix:
    only the 2h×2h window around each diagonal point is needed, so memory is O(n·h) — an hour of
    music is ≈ 7000 beats, whose full matrix would take 400 MB."""
    d, n = unit.shape
    idx = np.arange(-half, half) + 0.5
    g = np.exp(-0.5 * (idx / (0.5 * half)) ** 2)
    kernel = np.outer(g, g) * np.outer(np.sign(idx), np.sign(idx))
    padded = np.pad(unit, ((0, 0), (half, half)), mode="edge")
    nov = np.empty(n)
    for i0 in range(0, n, 512):  # bounded temporaries: (block, 2h, 2h)
        i1 = min(n, i0 + 512)
        win = np.lib.stride_tricks.sliding_window_view(padded[:, i0:i1 + 2 * half - 1],
                                                       2 * half, axis=1)  # (d, block, 2h)
        sims = np.einsum("dki,dkj->kij", win, win)
        nov[i0:i1] = np.einsum("kij,ij->k", sims, kernel)
    nov = np.maximum(nov, 0.0)
    return nov / (nov.max() + 1e-12)


def _pick_boundaries(novelty: np.ndarray, min_gap: int) -> list[int]:
    n = len(novelty)
    peaks = [i for i in range(1, n - 1)
             if novelty[i] >= novelty[i - 1] and novelty[i] > novelty[i + 1]]
    if not peaks:
        return []
    values = novelty[peaks]
    med = float(np.median(values))
    mad = float(np.median(np.abs(values - med)))
    threshold = max(med + 2.0 * mad, 0.3)
    chosen: list[int] = []
    for i in sorted(peaks, key=lambda k: -novelty[k]):  # strongest first
        if novelty[i] < threshold or i < min_gap or i > n - min_gap:
            continue
        if all(abs(i - j) >= min_gap for j in chosen):
            chosen.append(i)
    return sorted(chosen)


def _sequence_similarity(unit: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> float:
    """Best mean similarity along diagonals of the a×b block (slid by up to ±4 beats)."""
    block = unit[:, a[0]:a[1]].T @ unit[:, b[0]:b[1]]
    best = -1.0
    for lag in range(-4, 5):
        d = np.diagonal(block, offset=lag)
        if len(d) >= max(4, min(block.shape) // 2):
            best = max(best, float(d.mean()))
    return best


def analyze_form(y: np.ndarray, sample_rate: int, *, beats_seconds, downbeats_seconds=(),
                 features: LowRateFeatures | None = None) -> Form:
    """Segment a song into sections with repeat labels and energies.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float32 mono
    sample_rate : int
    beats_seconds : sequence of float
        Beat times from the rhythm analysis.
    downbeats_seconds : sequence of float, optional
        Bar starts; boundaries within 2 beats of one are moved onto it.
    features : LowRateFeatures, optional
        The shared front end (:func:`reissue.analysis.frontend.low_rate_features`) if the
        caller already has it.

    Returns
    -------
    Form
        One section covering everything when there are too few beats to segment.
    """
    duration = len(y) / sample_rate if sample_rate > 0 else 0.0
    if len(y) == 0 or duration <= 0:
        return Form(())
    beats = np.asarray(beats_seconds, dtype=float)
    beats = beats[(beats >= 0) & (beats < duration)]
    feats = features if features is not None else low_rate_features(y, sample_rate)
    if len(beats) < 3 * _MIN_SECTION_BEATS:
        rms = float(np.sqrt(np.mean(np.square(y, dtype=np.float64))))
        return Form((Section(0.0, duration, "A", 1.0 if rms > 0 else 0.0,
                             0.0 if rms > 0 else -150.0),))
    chroma, mfcc, level = _beat_views(feats, beats)
    harmony = _stack(chroma, 8)
    timbre = _smooth(_standardise(mfcc), 4)
    loud = _smooth(_standardise(level[None]), 4)
    feats = np.vstack([_standardise(harmony) / np.sqrt(harmony.shape[0]),
                       timbre / np.sqrt(timbre.shape[0]), 1.5 * loud])
    novelty = _foote_novelty(_unit(feats), max(4, min(_KERNEL_HALF_BEATS, len(beats) // 4)))
    cuts = _pick_boundaries(novelty, _MIN_SECTION_BEATS)

    period = float(np.median(np.diff(beats)))
    downs = np.asarray(downbeats_seconds, dtype=float)
    edges = [0.0]
    for c in cuts:
        t = float(beats[c])
        if downs.size:
            d = float(downs[np.argmin(np.abs(downs - t))])
            if abs(d - t) <= 2.05 * period:
                t = d
        if t - edges[-1] > 2 * period:
            edges.append(t)
    edges.append(duration)

    spans = [(int(np.searchsorted(beats, a - 1e-6)), int(np.searchsorted(beats, b - 1e-6)))
             for a, b in zip(edges[:-1], edges[1:])]
    spans = [(a, max(b, a + 1)) for a, b in spans]
    harm_unit = _unit(_standardise(harmony))
    levels = [float(10 * np.log10(np.mean(10 ** (level[a:b] / 10)))) for a, b in spans]
    means = [mfcc[:, a:b].mean(axis=1) for a, b in spans]
    top = max(levels)

    labels: list[str] = []
    for i, span in enumerate(spans):
        best, best_score = None, 0.0
        for j in range(i):
            seq = _sequence_similarity(harm_unit, span, spans[j])
            tim = float(means[i] @ means[j] / (np.linalg.norm(means[i]) *
                                                np.linalg.norm(means[j]) + 1e-9))
            if seq >= _SAME_SEQUENCE and tim >= _SAME_TIMBRE and \
                    abs(levels[i] - levels[j]) <= 6.0:
                score = seq + tim
                if score > best_score:
                    best, best_score = j, score
        if best is None:
            used = {base_label(lb) for lb in labels}
            labels.append(chr(ord("A") + min(len(used), 25)))
        else:
            letter = base_label(labels[best])
            first = next(k for k, lb in enumerate(labels) if base_label(lb) == letter)
            varied = abs(levels[i] - levels[first]) >= _VARIANT_DB
            labels.append(letter + ("′" if varied else ""))
    sections = tuple(
        Section(float(a), float(b), lab, float(10 ** ((lv - top) / 20)), float(lv - top))
        for a, b, lab, lv in zip(edges[:-1], edges[1:], labels, levels))
    return Form(sections)
