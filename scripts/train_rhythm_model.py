"""Fit the rhythm analysis's small meter model and write ``src/reissue/analysis/_rhythm_model.py``.

The model has three parts, all fitted on rendered training items (``<id>.flac`` + ``<id>.json``
with ``meter``, ``beats``, ``downbeats`` in seconds; see ``scripts/rhythm_training_set.py``):

* ``LAG_SECONDS``: the median delay of the reference beats (novelty peaks) behind the true
  beats, removed from every reported time.
* ``TEMPLATES``: per meter, the mean bar pattern of the three novelty streams (spectral flux,
  harmonic change, low-band flux), 12 cells per beat, sampled on the *true* beat grid.
* ``WEIGHTS``: a conditional-logit (softmax over the metrical hypotheses of a song) weight
  vector over the hypothesis features of ``rhythm._score_hypothesis``, L2-regularised.

Never point it at the accuracy benchmark's test split. Run:
``.venv/bin/python scripts/train_rhythm_model.py DIR [DIR ...] [--l2 0.05]``
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
from pathlib import Path

import numpy as np
import scipy.optimize
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reissue.analysis import rhythm as R  # noqa: E402

OUT = ROOT / "src" / "reissue" / "analysis" / "_rhythm_model.py"


def load_items(dirs: list[Path], cache: Path | None) -> list[dict]:
    """Audio-derived context per item (cached: features do not depend on the model)."""
    if cache and cache.exists():
        items = pickle.loads(cache.read_bytes())
        known = {it["path"] for it in items}
        for it in items:  # no intermediate results of another model version
            it["ctx"].levels, it["ctx"].bar_levels = {}, {}
    else:
        items, known = [], set()
    for d in dirs:
        for js in sorted(d.glob("*.json")):
            audio = js.with_suffix(".flac")
            if str(js) in known or not audio.exists():
                continue
            truth = json.loads(js.read_text())
            if truth.get("meter") not in R._METERS.values() or len(truth["beats"]) < 8:
                continue
            y, sr = sf.read(audio, dtype="float32", always_2d=True)
            y = y.mean(axis=1)
            if sr != 22050:
                y = soxr.resample(y, sr, 22050).astype(np.float32)
            feats = R._features(y, 22050.0)
            if feats is None:
                continue
            nov = R._novelty(feats)
            ref = R._track(nov, R._reference_tempo(nov))
            first, last = R._active_span(feats)
            ref = ref[(ref >= first - 2) & (ref <= last)]
            if len(ref) < 8:
                continue
            ctx = R._context(feats, nov, ref)
            items.append({"path": str(js), "truth": truth, "ctx": ctx})
            print(f"{len(items):4d} {js}", file=sys.stderr)
    if cache:
        cache.write_bytes(pickle.dumps(items))
    return items


def fit_lag(items: list[dict]) -> float:
    errs = []
    for it in items:
        est = it["ctx"].ref / R._FPS
        tb = np.asarray(it["truth"]["beats"])
        j = np.clip(np.searchsorted(tb, est), 1, len(tb) - 1)
        near = np.where(np.abs(tb[j] - est) < np.abs(tb[j - 1] - est), tb[j], tb[j - 1])
        d = est - near
        errs.extend(d[np.abs(d) < 0.07])
    return float(np.median(errs))


def fit_templates(items: list[dict], lag: float) -> dict[str, np.ndarray]:
    acc: dict[str, list[np.ndarray]] = {}
    for it in items:
        tr, ctx = it["truth"], it["ctx"]
        meter = tr["meter"]
        m = {"2/4": 2, "3/4": 3, "4/4": 4, "6/8": 2, "9/8": 3, "12/8": 4}[meter]
        beats = np.asarray(tr["beats"])
        first = int(np.argmin(np.abs(beats - tr["downbeats"][0])))
        beats = beats[first:]
        n_bars = (len(beats) - 1) // m
        if n_bars < 2:
            continue
        u = np.arange(n_bars * m * R._CELLS) / R._CELLS
        frames = (np.interp(u, np.arange(len(beats)), beats) + lag) * R._FPS
        x = R._sample(ctx.streams[:3], frames, peaks=False)  # flux, note entries, bass flux
        x = x.reshape(3, n_bars, m * R._CELLS).mean(axis=1)
        acc.setdefault(meter, []).append(R._zrows(x))
    out = {k: R._zrows(np.mean(v, axis=0)) for k, v in acc.items()}
    # a meter without training items borrows from its half (two bars of 6/8 make one of 12/8)
    for meter, half in (("12/8", "6/8"), ("4/4", "2/4"), ("2/4", "4/4"), ("6/8", "12/8")):
        if meter not in out and half in out:
            src = out[half]
            if meter in ("12/8", "4/4"):
                out[meter] = R._zrows(np.concatenate([src, 0.8 * src], axis=1))
            else:
                out[meter] = R._zrows(src[:, : src.shape[1] // 2])
        print(f"template {meter}: {len(acc.get(meter, []))} items", file=sys.stderr)
    return out


def _beats_of(h, phase_cells: int, cells: float, ctx, lag: float):
    span = len(ctx.ref) - 1
    first = phase_cells % R._CELLS
    u = (first + R._CELLS * np.arange(int((span / cells - first) // R._CELLS) + 1)) * cells
    beats = R._frames_at(ctx.ref, u) / R._FPS - lag
    down = ((np.arange(len(u)) * R._CELLS + first - phase_cells) // R._CELLS) \
        % h.beats_per_bar == 0
    return beats, beats[down]


def true_hypothesis(it, model) -> tuple[list, int]:
    tr, ctx = it["truth"], it["ctx"]
    f_true = float(np.median(np.diff(tr["beats"]))) / ctx.ref_period_s
    cands, label = [], -1
    for h in R._HYPOTHESES:
        s = R._score_hypothesis(h, ctx, model)
        if s is None:
            continue
        if abs(np.log(h.factor / f_true)) < 0.06 and h.meter == tr["meter"]:
            label = len(cands)
        cands.append((h, s))
    return cands, label


def phase_sets(items, model) -> list[tuple[np.ndarray, int]]:
    import mir_eval

    sets = []
    for it in items:
        cands, label = true_hypothesis(it, model)
        if label < 0:
            continue
        h, s = cands[label]
        td = np.asarray(it["truth"]["downbeats"])
        f = [mir_eval.beat.f_measure(td, _beats_of(h, int(p), s.cells, it["ctx"],
                                                   model.lag_seconds)[1]) for p in s.phases]
        if max(f) > 0.5:
            sets.append((s.phase_features, int(np.argmax(f)), it["truth"]["meter"]))
    return sets


def hypothesis_sets(items, model) -> list[tuple[np.ndarray, int]]:
    sets, missing = [], 0
    for it in items:
        cands, label = true_hypothesis(it, model)
        if label < 0:
            missing += 1
            continue
        sets.append((np.array([s.features for _, s in cands]), label, it["truth"]["meter"]))
    print(f"{len(sets)} items with a true hypothesis, {missing} whose reference level is not "
          "metrically related to the truth", file=sys.stderr)
    return sets


def fit_weights(sets, l2: float) -> np.ndarray:
    """Conditional logit; items weighted by 1/√(their meter's count): rare meters (9/8, 12/8)
    are not drowned by 4/4, yet the common meters keep part of their prior."""
    dim = sets[0][0].shape[1]
    classes = [c for _, _, c in sets]
    counts = {c: classes.count(c) for c in set(classes)}
    weight = np.array([1.0 / np.sqrt(counts[c]) for c in classes])
    weight *= len(sets) / weight.sum()

    def loss(w):
        total, grad = l2 * w @ w / len(sets), 2 * l2 * w / len(sets)
        for (X, y, _), q in zip(sets, weight):
            z = X @ w
            z = z - z.max()
            p = np.exp(z)
            p /= p.sum()
            total -= q * np.log(max(p[y], 1e-300)) / len(sets)
            grad -= q * (X[y] - p @ X) / len(sets)
        return total, grad

    res = scipy.optimize.minimize(loss, np.zeros(dim), jac=True, method="L-BFGS-B")
    return res.x


def accuracy(sets, w) -> float:
    """Class-balanced accuracy (mean over meters)."""
    hits: dict = {}
    for X, y, c in sets:
        hits.setdefault(c, []).append(int(np.argmax(X @ w) == y))
    return float(np.mean([np.mean(v) for v in hits.values()]))


def write_model(model, note: str) -> None:
    lines = ['"""Fitted parameters of the rhythm meter model (generated; do not edit by hand).',
             "", f"Written by ``scripts/train_rhythm_model.py``: {note}", '"""', "",
             f"LAG_SECONDS = {model.lag_seconds:.4f}", "",
             "# bar-phase feature weights (rhythm._score_hypothesis: phi columns)",
             "PHASE_WEIGHTS = [" + ", ".join(f"{w:.4f}" for w in model.phase_weights) + "]", "",
             "# hypothesis-feature weights, in the order of rhythm._score_hypothesis",
             "WEIGHTS = [" + ", ".join(f"{w:.4f}" for w in model.weights) + "]", "",
             "# meter -> 3 streams (flux, harmonic change, low flux) x 12 cells per beat",
             "TEMPLATES = {"]
    for k in sorted(model.templates):
        lines.append(f'    "{k}": [')
        for row in model.templates[k]:
            lines.append("        [" + ", ".join(f"{v:.3f}" for v in row) + "],")
        lines.append("    ],")
    lines.append("}")
    OUT.write_text("\n".join(lines) + "\n")


def cv_fit(sets, l2: float, folds: int) -> tuple[np.ndarray, float, float]:
    fold = np.random.default_rng(0).integers(folds, size=len(sets))
    cv = [accuracy([s for s, f in zip(sets, fold) if f == k],
                   fit_weights([s for s, f in zip(sets, fold) if f != k], l2))
          for k in range(folds)]
    w = fit_weights(sets, l2)
    return w, accuracy(sets, w), float(np.mean(cv))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("dirs", type=Path, nargs="+")
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--l2", type=float, default=0.05)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args(argv)
    items = load_items(args.dirs, args.cache)
    lag = fit_lag(items)
    templates = fit_templates(items, lag)
    model = R._Model(templates, np.zeros(7), np.zeros(22), lag)
    psets = phase_sets(items, model)
    model.phase_weights, ptrain, pcv = cv_fit(psets, args.l2, args.folds)
    print(f"lag {lag * 1000:.1f} ms; phase accuracy ({len(psets)} items): train {ptrain:.3f}, "
          f"CV {pcv:.3f}; weights {np.round(model.phase_weights, 3)}", file=sys.stderr)
    hsets = hypothesis_sets(items, model)
    model.weights, htrain, hcv = cv_fit(hsets, args.l2, args.folds)
    print(f"hypothesis accuracy: train {htrain:.3f}, CV {hcv:.3f}; weights "
          f"{np.round(model.weights, 3)}", file=sys.stderr)
    write_model(model, f"{len(items)} items from " + ", ".join(d.name for d in args.dirs)
                + f"; l2={args.l2}; accuracy (train / {args.folds}-fold CV): bar phase "
                f"{ptrain:.3f} / {pcv:.3f}, hypothesis {htrain:.3f} / {hcv:.3f}")


if __name__ == "__main__":
    main()
