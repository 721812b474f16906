"""Scores of a refresh: how much of the song survived (identity) and how far its sound moved toward
the style (modernity). Both in [0, 1], each with its components so a user sees why.

Conventions
-----------
* Original times are mapped into the new version with the plan's :class:`~reissue.arrange.TimeMap`
  before anything is compared; the result is never re-beat-tracked (its beats *are* the mapped
  beats), which both saves time and keeps beat errors out of the comparison.

Identity (METHODS.md §13)
-------------------------
* ``harmony`` — mean cosine similarity of beat-synchronous chroma, original vs result, at the
  mapped beats (untransposed; the best of 12 transpositions is reported beside it);
* ``chords`` — duration-weighted agreement of the result's chord labels with the original's,
  mapped (``mir_eval.chord.majmin``);
* ``key`` — ``mir_eval.key.weighted_score`` of the result's key against the original's;
* ``melody`` — note-level F-measure of the result's melody against the original's mapped melody,
  a note counting as kept when the other melody sounds its pitch (same semitone, or an octave
  above or below) for at least half of its duration — recall over the original's notes,
  precision over the result's. The octave is free *per note*: the product adds a lead doubling
  the melody an octave up, and the extractor then follows one octave or the other from phrase
  to phrase; a single global octave shift counted every flip as a lost note (on wesnoth pieces
  at intensity 0.7, modern-pop read 0.41–0.60 that way and 0.85–0.87 with per-note octaves; a
  plain remaster 0.69–0.78 and 0.75–0.85, its extractor flipping octaves on its own). A line
  a semitone off still counts nothing. Why not mir_eval's onset-matched note F (onsets within
  50 ms): it measures whether two *transcriptions* agree, and re-extracting the melody of a mere
  remaster (no new layers) scored only 0.57–0.77 on wesnoth pieces, because the extractor
  splits and starts the same long notes differently; the overlap match asks whether the melody
  is still *there*. The onset-matched
  figure stays in the details (``melody_onset_f``, at the best global octave shift);
* ``structure`` — section-boundary F-measure within ±3 s (``mir_eval.segment.detection``).
Weights: harmony 0.3, chords 0.2, melody 0.25, key 0.1, structure 0.15. Components that cannot
be measured (no melody, one section) drop out and the weights renormalise.

Modernity
---------
Distance of the sound to the style's master target, mapped to a score per cue and averaged —
computed for the original and for the result, so "moved toward the style" is the difference:
loudness (1 − |LUFS − target| / 12), spectral balance (1 − RMS dB difference of the 1/3-octave
curve, normalised at 1 kHz and each smoothed over ±1/3 octave, over the target's bands / 12),
peak-to-loudness ratio (1 − |PLR − (ceiling − target)| / 10), stereo width (1 − |side/mid −
0.25·mid-width| / 0.4; mono and phasey both lose), bandwidth (full at ≥ 18 kHz, falling to 0 at
8 kHz) and noise floor (full at ≤ −80 dBFS, 0 at −45).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Score", "identity_score", "modernity_score", "IDENTITY_WEIGHTS"]

IDENTITY_WEIGHTS = {"harmony": 0.3, "chords": 0.2, "melody": 0.25, "key": 0.1, "structure": 0.15}


@dataclass(frozen=True)
class Score:
    score: float
    components: dict = field(default_factory=dict)
    details: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"score": round(self.score, 4),
                "components": {k: round(v, 4) for k, v in self.components.items()},
                **({"details": self.details} if self.details else {})}


def _weighted(components: dict[str, float | None], weights: dict[str, float]) -> float:
    used = {k: v for k, v in components.items() if v is not None}
    total = sum(weights[k] for k in used)
    return float(sum(weights[k] * used[k] for k in used) / total) if total else 0.0


def _mapped(tmap, items) -> list[tuple]:
    """``(start, end, label)`` items with both times mapped into the result (one vectorised
    call: mapping each time alone cost 0.1 CPU-s on a 3-minute song)."""
    if not items:
        return []
    times = tmap.to_new(np.array([[float(s), float(e)] for s, e, *_ in items]))
    return [(float(a), float(b), *rest) for (a, b), (_, _, *rest) in zip(times.tolist(), items)]


#: Notes are matched within windows of this many seconds of onsets (see _note_f_measure).
_MATCH_WINDOW_SECONDS = 300.0


def _note_f_measure(ref_iv: np.ndarray, ref_hz: np.ndarray, est_iv: np.ndarray,
                    est_hz: np.ndarray) -> float:
    """mir_eval's note F-measure (onsets within 50 ms, pitch within 50 cents, offsets ignored),
    with the matching done per ``_MATCH_WINDOW_SECONDS`` window of onsets.

    ``mir_eval.transcription.match_notes`` builds float64 ``n_ref × n_est`` distance matrices:
    ≈ 1 GB for an hour of melody notes. Notes are local, so matching within consecutive windows
    (each note in the window of its onset) and adding the matches gives the same figure up to
    the rare pair whose onsets straddle a window edge — exactly mir_eval's up to 5 minutes —
    with memory linear in the length.
    """
    import mir_eval

    if len(ref_iv) == 0 or len(est_iv) == 0:
        return 0.0
    width = _MATCH_WINDOW_SECONDS
    end = max(float(ref_iv[:, 0].max()), float(est_iv[:, 0].max()))
    ref_w = np.floor(np.maximum(ref_iv[:, 0], 0.0) / width).astype(int)
    est_w = np.floor(np.maximum(est_iv[:, 0], 0.0) / width).astype(int)
    matched = 0
    for w in range(int(end // width) + 1):
        r, e = ref_w == w, est_w == w
        if r.any() and e.any():
            matched += len(mir_eval.transcription.match_notes(
                ref_iv[r], ref_hz[r], est_iv[e], est_hz[e], onset_tolerance=0.05,
                pitch_tolerance=50.0, offset_ratio=None))
    if matched == 0:
        return 0.0
    precision, recall = matched / len(est_iv), matched / len(ref_iv)
    return float(2 * precision * recall / (precision + recall))


_FRAME_SECONDS = 0.01


def _raster(notes, n: int) -> np.ndarray:
    """MIDI pitch sounding in each 10 ms frame (0 = none; a later note overwrites)."""
    out = np.zeros(n, np.int16)
    for s, e, p in notes:
        a, b = int(round(s / _FRAME_SECONDS)), int(round(e / _FRAME_SECONDS))
        out[max(a, 0):max(b, 0)] = int(round(p))
    return out


def _rasters(ref, est) -> tuple[np.ndarray, np.ndarray]:
    """Both melodies rastered (:func:`_raster`) on one frame grid covering both."""
    end = max(max(e for _, e, _ in ref), max(e for _, e, _ in est))
    n = int(round(end / _FRAME_SECONDS)) + 2
    return _raster(ref, n), _raster(est, n)


def _note_overlap_f(ref, est, rasters=None) -> float:
    """Note-level F-measure with 'kept' = the other melody sounds the note's pitch, or the pitch
    an octave above or below, for ≥ half of the note (see the module notes). ``rasters``:
    :func:`_rasters` of the two, if the caller has them."""
    if not ref or not est:
        return 0.0
    ref_r, est_r = _rasters(ref, est) if rasters is None else rasters

    def kept(notes, other):
        count = 0
        for s, e, p in notes:
            a, b = max(int(round(s / _FRAME_SECONDS)), 0), int(round(e / _FRAME_SECONDS))
            if b > a:
                d = other[a:b].astype(np.int32) - int(round(p))
                if np.mean((other[a:b] > 0) & ((d == 0) | (np.abs(d) == 12))) >= 0.5:
                    count += 1
        return count

    recall = kept(ref, est_r) / len(ref)
    precision = kept(est, ref_r) / len(est)
    return 0.0 if recall + precision == 0 else float(2 * precision * recall /
                                                      (precision + recall))


def _octave_shift(ref_r: np.ndarray, est_r: np.ndarray) -> int:
    """The octave shift (−12, 0, +12 semitones) of the rastered ``est_r`` that makes it sound
    the same pitch as ``ref_r`` in the most frames where both sound."""
    both = (ref_r > 0) & (est_r > 0)
    d = est_r[both].astype(np.int32) - ref_r[both]
    return max((0, -12, 12), key=lambda k: int(np.count_nonzero(d + k == 0)))


def _key_for_mir_eval(key: str) -> str:
    return key if key and key != "N" else "C major"


def identity_score(original, plan, *, original_chroma: np.ndarray, result_chroma: np.ndarray,
                   result_tonal=None, result_melody=None, result_form=None) -> Score:
    """Identity of the result with the original (see the module notes).

    Parameters
    ----------
    original : Analysis
        Of the original (rhythm, tonal, melody, form used).
    plan : Plan
        Its time map maps the original's annotations into the result.
    original_chroma, result_chroma : np.ndarray [12, beats]
        Beat-synchronous chroma at the original's beats and at the same beats mapped.
    result_tonal, result_melody, result_form : optional
        Analyses of the result (key and chords; melody notes; sections).
    """
    import mir_eval

    tmap = plan.time_map
    comps: dict[str, float | None] = {}
    details: dict = {}

    n = min(original_chroma.shape[1], result_chroma.shape[1])
    if n:
        a, b = original_chroma[:, :n], result_chroma[:, :n]
        active = (np.linalg.norm(a, axis=0) > 0) & (np.linalg.norm(b, axis=0) > 0)
        if active.any():
            sims = [float(np.mean(np.sum(np.roll(a[:, active], k, axis=0) * b[:, active],
                                         axis=0))) for k in range(12)]
            comps["harmony"] = max(0.0, sims[0])
            best = int(np.argmax(sims))
            details["best_transposition_semitones"] = best if best <= 6 else best - 12
            details["harmony_at_best_transposition"] = round(sims[best], 4)
    if result_tonal is not None and original.tonal is not None:
        comps["key"] = float(mir_eval.key.weighted_score(
            _key_for_mir_eval(original.tonal.key), _key_for_mir_eval(result_tonal.key)))
        details["key"] = {"original": original.tonal.key, "result": result_tonal.key}
        ref = _mapped(tmap, [c for c in original.tonal.chords if c[1] > c[0]])
        est = [(s, e, lab) for s, e, lab in result_tonal.chords if e > s]
        if ref and est:
            ref_iv = np.array([[s, e] for s, e, _ in ref])
            est_iv = np.array([[s, e] for s, e, _ in est])
            est_iv, est_lab = mir_eval.util.adjust_intervals(
                est_iv, [lab for *_, lab in est], ref_iv.min(), ref_iv.max(),
                mir_eval.chord.NO_CHORD, mir_eval.chord.NO_CHORD)
            iv, r_lab, e_lab = mir_eval.util.merge_labeled_intervals(
                ref_iv, [lab for *_, lab in ref], est_iv, est_lab)
            durations = mir_eval.util.intervals_to_durations(iv)
            comparison = mir_eval.chord.majmin(r_lab, e_lab)
            if np.any(comparison >= 0):
                comps["chords"] = float(mir_eval.chord.weighted_accuracy(comparison, durations))
    if result_melody is not None and original.melody is not None and original.melody.notes:
        ref = _mapped(tmap, [n for n in original.melody.notes if n[1] > n[0]])
        est = [(s, e, p) for s, e, p in result_melody.notes if e > s]
        if ref and est:
            ref_iv = np.array([[s, e] for s, e, _ in ref])
            ref_hz = 440.0 * 2 ** ((np.array([p for *_, p in ref]) - 69) / 12)
            est_iv = np.array([[s, e] for s, e, _ in est])
            rasters = _rasters(ref, est)
            shift = _octave_shift(*rasters)
            est_hz = 440.0 * 2 ** ((np.array([p for *_, p in est]) + shift - 69) / 12)
            comps["melody"] = _note_overlap_f(ref, est, rasters)
            details["melody_octave_shift"] = shift
            details["melody_onset_f"] = round(_note_f_measure(ref_iv, ref_hz, est_iv, est_hz),
                                              4)
        else:
            comps["melody"] = 0.0 if ref else None
    if result_form is not None and original.form is not None and len(original.form.sections) > 1:
        ref_b = np.array([float(tmap.to_new(s.start_seconds)) for s in original.form.sections]
                         + [float(tmap.to_new(original.form.sections[-1].end_seconds))])
        est_b = np.array([s.start_seconds for s in result_form.sections]
                         + [result_form.sections[-1].end_seconds]) if result_form.sections \
            else np.array([0.0, ref_b[-1]])
        ref_iv = np.stack([ref_b[:-1], ref_b[1:]], axis=1)
        est_iv = np.stack([est_b[:-1], est_b[1:]], axis=1)
        _, _, f = mir_eval.segment.detection(ref_iv, est_iv, window=3.0, trim=True)
        comps["structure"] = float(f)
    return Score(_weighted(comps, IDENTITY_WEIGHTS), {k: v for k, v in comps.items()
                                                      if v is not None}, details)


def _curve_distance(sound, curve: dict[str, float]) -> float | None:
    bands = dict(zip(sound.band_centres_hz, sound.band_levels_db))
    if not curve or "1000" not in bands:
        return None
    keys = [k for k in curve if k in bands]
    if len(keys) < 3:
        return None
    centres = sorted(bands, key=float)

    def smooth(level_of, k):  # mean over ±1/3 octave (the band and its neighbours)
        i = centres.index(k)
        near = centres[max(0, i - 1): i + 2]
        return float(np.mean([level_of(c) for c in near]))

    ref = smooth(bands.get, "1000")
    measured = np.array([smooth(bands.get, k) - ref for k in keys])
    xs = sorted(curve, key=float)
    lx = [math.log(float(x)) for x in xs]
    target = np.array([np.interp(math.log(float(k)), lx, [curve[x] for x in xs]) for k in keys])
    target -= np.interp(math.log(1000.0), lx, [curve[x] for x in xs])
    return float(np.sqrt(np.mean((measured - target) ** 2)))


def modernity_score(sound, target: dict) -> Score:
    """How close a sound is to a style's master target (see the module notes).

    Parameters
    ----------
    sound : SoundAnalysis
    target : dict
        The style's (or the plan's blended) ``master`` table.
    """
    lufs_t = float(target["loudness_lufs"])
    plr_t = float(target.get("ceiling_dbtp", -1.0)) - lufs_t
    width_t = 0.25 * float((target.get("width") or [0, 1.0, 1.0])[1])
    comps: dict[str, float | None] = {
        "loudness": 1 - abs(sound.integrated_lufs - lufs_t) / 12,
        "peak_to_loudness": 1 - abs(sound.plr_db - plr_t) / 10,
        "width": 1 - abs(min(sound.stereo_width, 2.0) - width_t) / 0.4,
        "bandwidth": (min(sound.bandwidth_hz, 18000.0) - 8000.0) / 10000.0,
        "noise": (-45.0 - sound.noise_floor_dbfs) / 35.0,
    }
    d = _curve_distance(sound, target.get("curve_db") or {})
    comps["spectrum"] = None if d is None else 1 - d / 12
    comps = {k: float(min(1.0, max(0.0, v))) for k, v in comps.items() if v is not None}
    details = {"target_lufs": lufs_t, "target_plr_db": round(plr_t, 2),
               "target_width": round(width_t, 3)}
    if d is not None:
        details["spectrum_rms_db_from_target"] = round(d, 2)
    return Score(float(np.mean(list(comps.values()))), comps, details)
