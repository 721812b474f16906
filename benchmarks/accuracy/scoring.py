"""Metrics for the accuracy benchmark, all from mir_eval except tempo Accuracy1/2.

Conventions
-----------
* Times in seconds. Every function returns plain floats (or ``None`` when the truth has nothing to
  score, e.g. no melody), so results serialise to JSON directly.
* Tempo: Accuracy1 = estimate within 4 % of the truth; Accuracy2 = also at ×2, ×3, ×½, ×⅓ of it
  (Gouyon et al. 2006; mir_eval has only the MIREX P-score, which is reported too).
* Beats and downbeats: ``mir_eval.beat.f_measure`` (±70 ms) after ``mir_eval.beat.trim_beats``
  (the MIREX convention: events in the first 5 s are ignored) — downbeats are scored the same way.
  CMLt/AMLt from ``mir_eval.beat.continuity`` are kept in the item records.
* Key: ``mir_eval.key.weighted_score`` (1 same, 0.5 fifth, 0.3 relative, 0.2 parallel) of the
  global key; for ``section_keys`` the same score averaged over time on a 0.1 s grid.
* Chords: ``mir_eval.chord.evaluate`` (duration-weighted after interval adjustment), ``majmin`` and
  ``root``. Truth ``X`` is excluded by mir_eval; ``dim``/``aug``/``sus`` truth is excluded from
  ``majmin`` but scored by ``root``.
* Melody: ``mir_eval.melody.evaluate`` on the truth contour (top note, 10 ms grid) — overall
  accuracy (OA), raw pitch accuracy (RPA), voicing recall and false alarm.
"""

from __future__ import annotations

import warnings

import numpy as np

TEMPO_TOL = 0.04
FACTORS = (1.0, 2.0, 3.0, 0.5, 1.0 / 3.0)


def tempo_scores(ref_bpm: float, est_bpm: float | None) -> dict:
    if est_bpm is None or not np.isfinite(est_bpm) or est_bpm <= 0:
        return {"tempo_acc1": 0.0, "tempo_acc2": 0.0, "tempo_pscore": 0.0}
    import mir_eval

    acc1 = abs(est_bpm - ref_bpm) <= TEMPO_TOL * ref_bpm
    acc2 = any(abs(est_bpm - f * ref_bpm) <= TEMPO_TOL * f * ref_bpm for f in FACTORS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        p, _, _ = mir_eval.tempo.detection(np.array([ref_bpm / 2, ref_bpm]), 0.0,
                                           np.array([est_bpm / 2, est_bpm]), tol=0.08)
    return {"tempo_acc1": float(acc1), "tempo_acc2": float(acc2), "tempo_pscore": float(p)}


def beat_scores(ref, est, prefix: str = "beat") -> dict:
    import mir_eval

    ref = mir_eval.beat.trim_beats(np.asarray(ref, float))
    est = mir_eval.beat.trim_beats(np.asarray(est if est is not None else [], float))
    if ref.size == 0:
        return {f"{prefix}_f": None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = mir_eval.beat.f_measure(ref, est, f_measure_threshold=0.07)
        out = {f"{prefix}_f": float(f)}
        if prefix == "beat":
            cmlc, cmlt, amlc, amlt = mir_eval.beat.continuity(ref, est)
            out.update({"beat_cmlt": float(cmlt), "beat_amlt": float(amlt)})
            if est.size:  # mean signed error of matched beats (a constant lag shows here)
                d = [e - ref[np.argmin(np.abs(ref - e))] for e in est]
                d = [x for x in d if abs(x) <= 0.07]
                out["beat_mean_error_ms"] = float(1000 * np.mean(d)) if d else None
    return out


def _key_ok(key: str) -> str:
    import mir_eval

    try:
        mir_eval.key.validate_key(key)
        return key
    except ValueError:
        return "C other"


def key_scores(ref_key: str, est_key: str | None, ref_sections=None, est_sections=None,
               duration: float | None = None) -> dict:
    import mir_eval

    out = {"key_weighted": 0.0 if est_key is None else float(
        mir_eval.key.weighted_score(ref_key, _key_ok(est_key)))}
    out["key_correct"] = float(out["key_weighted"] == 1.0)
    if ref_sections and est_sections and duration:
        grid = np.arange(0.0, duration, 0.1)

        def at(sections, t):
            for s, e, k in sections:
                if s <= t < e:
                    return k
            return None

        scores = []
        for t in grid:
            r, e = at(ref_sections, t), at(est_sections, t)
            if r is None:
                continue
            scores.append(0.0 if e is None else mir_eval.key.weighted_score(r, _key_ok(e)))
        out["key_sections_weighted"] = float(np.mean(scores)) if scores else None
    return out


def chord_scores(ref_chords, est_chords) -> dict:
    import mir_eval

    ref = [c for c in ref_chords if c[1] > c[0]]
    est = [c for c in (est_chords or []) if c[1] > c[0]]
    if not ref:
        return {"chord_majmin": None, "chord_root": None}
    ri = np.array([[c[0], c[1]] for c in ref], float)
    rl = [c[2] for c in ref]
    if not est:
        est = [(ref[0][0], ref[-1][1], "N")]
    ei = np.array([[c[0], c[1]] for c in est], float)
    el = [c[2] for c in est]
    # nothing majmin-scorable in the truth (monophonic pieces): report None, not a fake 0 or 1
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mir_eval.chord.evaluate(ri, rl, ei, el)
        ref_q = [mir_eval.chord.encode(lab)[1] for lab in rl]
    majmin_ok = any(lab != "N" and lab != "X" and
                    (tuple(q) in {(1, 0, 0, 0, 1, 0, 0, 1, 0, 0, 0, 0), (1, 0, 0, 1, 0, 0, 0, 1, 0, 0,
                                                                         0, 0)})
                    for lab, q in zip(rl, ref_q))
    root_ok = any(lab not in ("N", "X") for lab in rl)
    return {"chord_majmin": float(res["majmin"]) if majmin_ok else None,
            "chord_root": float(res["root"]) if root_ok else None}


def truth_contour(melody, duration: float, hop: float = 0.01):
    """(times, f0_hz) of the truth melody on a ``hop`` grid; 0 Hz where no note sounds (the
    highest note wins if two overlap)."""
    times = np.arange(0.0, duration, hop)
    midi = np.full(times.shape, -1.0)
    for s, e, m in melody:
        sel = (times >= s) & (times < e)
        midi[sel] = np.maximum(midi[sel], m)
    f0 = np.where(midi > 0, 440.0 * 2.0 ** ((midi - 69.0) / 12.0), 0.0)
    return times, f0


def melody_scores(ref_melody, duration: float, est_times, est_f0) -> dict:
    import mir_eval

    if not ref_melody:
        return {"melody_oa": None}
    rt, rf = truth_contour(ref_melody, duration)
    if est_times is None or len(est_times) == 0:
        est_times, est_f0 = rt, np.zeros_like(rt)
    et = np.asarray(est_times, float)
    ef = np.asarray(est_f0, float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = mir_eval.melody.evaluate(rt, rf, et, ef)
    return {"melody_oa": float(res["Overall Accuracy"]),
            "melody_rpa": float(res["Raw Pitch Accuracy"]),
            "melody_vr": float(res["Voicing Recall"]),
            "melody_vfa": float(res["Voicing False Alarm"])}
