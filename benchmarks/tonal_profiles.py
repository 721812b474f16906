"""Measure the audio key profiles used by ``reissue.analysis.tonal`` (dev split only).

For every *dev* item of the accuracy sets (``/work/data/accuracy/{music21,synthetic}``) this
runs the tonal front end, accumulates the key chroma exactly as the key stage does (pitched frames, opening
weighted up), rotates it to the truth tonic and z-normalises it; the mean per mode, z-normalised
again, is the measured profile. Test items are never opened. It also reports the leave-one-out key
score (each item scored with profiles measured without it) and the calibration of
``key_confidence``.

Run: ``.venv/bin/python benchmarks/tonal_profiles.py [--data /work/data/accuracy]`` and paste the
two printed arrays into ``MEASURED_MAJOR`` / ``MEASURED_MINOR`` in ``tonal.py`` (the values
depend on the front end, so re-run after changing it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

PITCH = {"c": 0, "c#": 1, "db": 1, "d": 2, "d#": 3, "eb": 3, "e": 4, "f": 5, "f#": 6, "gb": 6,
         "g": 7, "g#": 8, "ab": 8, "a": 9, "a#": 10, "bb": 10, "b": 11}


def _z(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, float) - np.mean(v)
    return v / np.linalg.norm(v)


def dev_items(root: Path):
    for set_name in ("music21", "synthetic"):
        manifest = json.loads((root / set_name / "manifest.json").read_text())
        for item in manifest["items"]:
            if item["split"] == "dev":
                yield set_name, item, root / set_name


def accumulated_chroma(y: np.ndarray, sample_rate: int):
    """(12,) accumulated key chroma (sum 1) and the frame count, as the key stage sees it."""
    from reissue.analysis import tonal as T

    p = T._Params()
    spec = T._front_end(y, sample_rate)
    ev = T._evidence(spec, p)
    pitched = ev.audible * ev.tonality
    total = (T._key_weights(spec.times, pitched, p)[:, None] * ev.key_chroma).sum(axis=0)
    return total / total.sum()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/work/data/accuracy"))
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    import mir_eval

    from reissue.analysis import tonal as T
    from reissue.io import load

    rows = []
    for set_name, item, folder in dev_items(args.data):
        truth = json.loads((folder / item["truth"]).read_text())
        audio = load(folder / item["audio"], sample_rate=22050, mono=True)
        tonic, mode = truth["key"].split()
        rows.append((set_name, item["id"], accumulated_chroma(audio.samples[0], 22050),
                     PITCH[tonic.lower()], mode))
        print(f"{set_name:10s} {item['id']:48s} {truth['key']}", file=sys.stderr)

    def measured(exclude: int | None = None) -> dict[str, np.ndarray]:
        out = {}
        for mode in ("major", "minor"):
            vs = [_z(np.roll(v, -t)) for i, (_, _, v, t, m) in enumerate(rows)
                  if m == mode and i != exclude]
            out[mode] = _z(np.mean(vs, axis=0))
        return out

    prof = measured()
    np.set_printoptions(precision=3, suppress=True, floatmode="fixed")
    n_major = sum(r[4] == "major" for r in rows)
    print(f"# measured on {len(rows)} dev items ({n_major} major, {len(rows) - n_major} minor)")
    print("MEASURED_MAJOR =", np.array2string(prof["major"], separator=", "))
    print("MEASURED_MINOR =", np.array2string(prof["minor"], separator=", "))

    # leave-one-out score and confidence calibration with the module's mixing and temperature
    p = T._Params()
    scores, correct, post_best = {}, [], []
    for i, (set_name, _, v, tonic, mode) in enumerate(rows):
        lo = measured(exclude=i)
        major = _z(p.profile_mix * lo["major"] + (1 - p.profile_mix) * _z(T.TEMPERLEY_MAJOR))
        minor = _z(p.profile_mix * lo["minor"] + (1 - p.profile_mix) * _z(T.TEMPERLEY_MINOR))
        P = np.stack([np.roll(major, k) for k in range(12)]
                     + [np.roll(minor, k) for k in range(12)])
        r = P @ _z(v)
        best = int(np.argmax(r))
        ref = f"{T.PITCH_NAMES[tonic]} {mode}"
        scores.setdefault(set_name, []).append(mir_eval.key.weighted_score(ref, T.KEY_NAMES[best]))
        correct.append(T.KEY_NAMES[best] == ref)
        post_best.append(r - r[best])
    for set_name, s in scores.items():
        print(f"# leave-one-out weighted key score, {set_name} dev: {np.mean(s):.3f} "
              f"({len(s)} items)")
    acc = float(np.mean(correct))
    print(f"# exact-key accuracy {acc:.3f}; mean confidence by soft-max temperature:")
    for beta in (5, 10, 15, 20, 30, 40, 60):
        conf = [1.0 / np.exp(beta * d).sum() for d in post_best]
        brier = np.mean([(c - k) ** 2 for c, k in zip(conf, correct)])
        print(f"#   beta {beta:3d}: mean {np.mean(conf):.3f}  Brier {brier:.4f}")


if __name__ == "__main__":
    main()
