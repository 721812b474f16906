"""Score reissue's musical analysis and the librosa baselines on the accuracy sets (issue 3).

Usage::

    PYTHONPATH=<worktree>/src <worktree>/.venv/bin/python /work/wt/accuracy/benchmarks/accuracy/run.py \
        [--set synthetic|music21|all] [--split dev|test|all] [--only rhythm|tonal|melody]
        [--limit N] [--data DIR] [--items SUBSTR] [--truth-beats] [--no-baselines]
        [--json PATH]

``reissue`` is imported from ``sys.path``, so ``PYTHONPATH`` chooses whose code is scored (the path
is printed first). An estimator whose module does not exist yet is reported "not available"; one
that raises is counted as an error for that item (scored as an empty answer) and the traceback's
last line is printed.

Per item: ``y`` = mono float32 at 22050 Hz from ``reissue.io.load``; then
``rhythm.analyze_rhythm(y, sr)``, ``tonal.analyze_tonal(y, sr, beats_seconds=rhythm beats)``,
``melody.analyze_melody(y, sr)`` and the baselines of ``baselines.py`` (row "librosa": beat_track,
Krumhansl–Schmuckler key, template chords, salience melody; row "pyin": ``librosa.pyin`` on the
mix, melody only), each timed with
``time.process_time`` on one pinned core with one math thread (after one untimed warm-up call on
8 s of audio, so numba compilation is not charged to the first item). Metrics: see ``scoring.py``.
Tables: per set and split (dev, test, all) the mean of each metric over the items that have it,
and per-meter and drums/no-drums breakdowns for tempo, beats, downbeats and key. Results go to
``<scored worktree>/benchmarks/out/accuracy.json`` (or ``--json``).
"""

from __future__ import annotations

import os
import argparse
import importlib
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(HERE.parent))

from _common import pin_one_core  # noqa: E402

pin_one_core()

import numpy as np  # noqa: E402

import baselines  # noqa: E402
import scoring  # noqa: E402

DEFAULT_DATA = Path(os.environ.get("REISSUE_ACCURACY_DATA",
                              Path(__file__).resolve().parents[1] / "data" / "accuracy"))
SAMPLE_RATE = 22050
SETS = ("synthetic", "music21")
COLUMNS = [  # (metric key, header)
    ("tempo_acc1", "T-Acc1"), ("tempo_acc2", "T-Acc2"), ("beat_f", "BeatF"),
    ("downbeat_f", "DownF"), ("key_weighted", "KeyW"), ("chord_majmin", "MajMin"),
    ("chord_root", "Root"), ("melody_oa", "MelOA"),
]
CPU_COLUMNS = [("rhythm", "s/min R"), ("tonal", "s/min T"), ("melody", "s/min M")]


def _load_estimators() -> dict:
    mods = {}
    for name in ("rhythm", "tonal", "melody"):
        try:
            mods[name] = importlib.import_module(f"reissue.analysis.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("reissue.analysis"):
                mods[name] = None
            else:
                raise
    return mods


def _timed(fn, *args, **kwargs):
    t0 = time.process_time()
    res = fn(*args, **kwargs)
    return res, time.process_time() - t0


def _run_reissue(mods, y, sr, truth, only, truth_beats, errors, item_id):
    """Returns (metrics dict, cpu dict) for reissue."""
    metrics, cpu = {}, {}
    rhythm = None
    want = (lambda c: only is None or only == c)
    if mods.get("rhythm") is not None and (want("rhythm") or (want("tonal") and not truth_beats)):
        try:
            rhythm, cpu["rhythm"] = _timed(mods["rhythm"].analyze_rhythm, y, sr)
        except Exception:  # noqa: BLE001 - scored as no answer, reported
            errors.append((item_id, "rhythm", traceback.format_exc().strip().splitlines()[-1]))
        if not want("rhythm"):
            cpu.pop("rhythm", None)  # ran only to feed tonal its beats
        else:
            if rhythm is not None:
                metrics.update(scoring.tempo_scores(truth["tempo_bpm"], rhythm.tempo_bpm))
                metrics.update(scoring.beat_scores(truth["beats"], rhythm.beats_seconds))
                metrics.update(scoring.beat_scores(truth["downbeats"], rhythm.downbeats_seconds,
                                                   prefix="downbeat"))
                metrics["meter_correct"] = float(rhythm.meter == truth["meter"])
                metrics["meter_est"] = rhythm.meter
            else:
                metrics.update(scoring.tempo_scores(truth["tempo_bpm"], None))
                metrics.update(scoring.beat_scores(truth["beats"], []))
                metrics.update(scoring.beat_scores(truth["downbeats"], [], prefix="downbeat"))
                cpu.pop("rhythm", None)
    if mods.get("tonal") is not None and want("tonal"):
        beats = truth["beats"] if truth_beats else (
            rhythm.beats_seconds if rhythm is not None else None)
        tonal = None
        try:
            tonal, cpu["tonal"] = _timed(mods["tonal"].analyze_tonal, y, sr,
                                         beats_seconds=beats)
        except Exception:  # noqa: BLE001
            errors.append((item_id, "tonal", traceback.format_exc().strip().splitlines()[-1]))
        metrics.update(scoring.key_scores(
            truth["key"], tonal.key if tonal else None, truth.get("section_keys"),
            [tuple(s) for s in tonal.section_keys] if tonal else None,
            truth["duration_seconds"]))
        metrics.update(scoring.chord_scores(truth["chords"], tonal.chords if tonal else None))
        if tonal is not None:
            metrics["key_est"] = tonal.key
    if mods.get("melody") is not None and want("melody"):
        mel = None
        try:
            mel, cpu["melody"] = _timed(mods["melody"].analyze_melody, y, sr)
        except Exception:  # noqa: BLE001
            errors.append((item_id, "melody", traceback.format_exc().strip().splitlines()[-1]))
        metrics.update(scoring.melody_scores(truth["melody"], truth["duration_seconds"],
                                             mel.times_seconds if mel else None,
                                             mel.f0_hz if mel else None))
    return metrics, cpu


def _run_librosa(y, sr, truth, only):
    metrics, cpu = {}, {}
    if only in (None, "rhythm"):
        bt, cpu["rhythm"] = _timed(baselines.beat_track, y, sr)
        metrics.update(scoring.tempo_scores(truth["tempo_bpm"], bt["tempo_bpm"]))
        metrics.update(scoring.beat_scores(truth["beats"], bt["beats"]))
    if only in (None, "tonal"):
        k, t_key = _timed(baselines.ks_key, y, sr)
        ch, t_ch = _timed(baselines.template_chords, y, sr)
        cpu["tonal"] = t_key + t_ch
        metrics.update(scoring.key_scores(truth["key"], k["key"], truth.get("section_keys"),
                                          [(0.0, truth["duration_seconds"], k["key"])],
                                          truth["duration_seconds"]))
        metrics["key_est"] = k["key"]
        metrics.update(scoring.chord_scores(truth["chords"], ch["chords"]))
    if only in (None, "melody"):
        m, cpu["melody"] = _timed(baselines.salience_melody, y, sr)
        metrics.update(scoring.melody_scores(truth["melody"], truth["duration_seconds"],
                                             m["times"], m["f0_hz"]))
    return metrics, cpu


def _run_pyin(y, sr, truth, only):
    if only not in (None, "melody"):
        return {}, {}
    m, t = _timed(baselines.pyin_melody, y, sr)
    return (scoring.melody_scores(truth["melody"], truth["duration_seconds"], m["times"],
                                  m["f0_hz"]), {"melody": t})


def _warm_up(mods, y, sr, only, baselines_on):
    y = y[: 8 * sr]
    for name, mod in mods.items():
        if mod is None or (only and only != name):
            continue
        try:
            if name == "rhythm":
                mod.analyze_rhythm(y, sr)
            elif name == "tonal":
                mod.analyze_tonal(y, sr, beats_seconds=None)
            else:
                mod.analyze_melody(y, sr)
        except Exception:  # noqa: BLE001 - the real run reports it
            pass
    if baselines_on:
        baselines.beat_track(y, sr)
        baselines.ks_key(y, sr)
        baselines.template_chords(y, sr)
        baselines.salience_melody(y, sr)
        baselines.pyin_melody(y, sr)


def _mean(values):
    v = [x for x in values if x is not None]
    return (float(np.mean(v)), len(v)) if v else (None, 0)


def summarise(records: list[dict], estimators: list[str]) -> dict:
    """Mean of every metric per estimator over ``records``; CPU seconds per minute of audio."""
    out = {}
    minutes = sum(r["duration_seconds"] for r in records) / 60.0
    for est in estimators:
        rows = [r["results"].get(est, {}) for r in records]
        keys = sorted({k for row in rows for k, v in row.get("metrics", {}).items()
                       if isinstance(v, (int, float)) or v is None})
        summ = {}
        for k in keys:
            m, n = _mean([row.get("metrics", {}).get(k) for row in rows])
            summ[k] = None if m is None else round(m, 4)
            summ[f"n_{k}"] = n
        for comp, _ in CPU_COLUMNS:
            cpu = [row.get("cpu", {}).get(comp) for row in rows]
            cpu = [c for c in cpu if c is not None]
            summ[f"cpu_s_per_min_{comp}"] = (round(sum(cpu) / minutes, 3)
                                             if cpu and minutes else None)
        out[est] = summ
    return out


def _fmt(v) -> str:
    return "   —  " if v is None else f"{v:6.3f}"


def print_table(title: str, summary: dict, n_items: int, minutes: float) -> None:
    print(f"\n{title}  ({n_items} items, {minutes:.1f} min of audio)")
    head = f"{'estimator':10s}" + "".join(f"{h:>8s}" for _, h in COLUMNS) + \
        "".join(f"{h:>9s}" for _, h in CPU_COLUMNS)
    print(head)
    print("-" * len(head))
    for est, s in summary.items():
        row = f"{est:10s}" + "".join(f"  {_fmt(s.get(k))}" for k, _ in COLUMNS)
        row += "".join(f"   {_fmt(s.get(f'cpu_s_per_min_{c}'))}" for c, _ in CPU_COLUMNS)
        print(row)


def print_breakdown(title: str, groups: dict, estimators: list[str]) -> None:
    cols = [("tempo_acc2", "T-Acc2"), ("beat_f", "BeatF"), ("downbeat_f", "DownF"),
            ("key_weighted", "KeyW")]
    print(f"\n{title}")
    head = f"{'group':16s}{'n':>4s} " + "".join(f"{e[:7] + ' ' + h:>15s}" for e in estimators
                                               for _, h in cols)
    print(head)
    for g, recs in groups.items():
        s = summarise(recs, estimators)
        print(f"{g:16s}{len(recs):4d} " + "".join(f"{_fmt(s[e].get(k)):>15s}" for e in estimators
                                                  for k, _ in cols))


def _default_json(reissue_file: str) -> Path:
    p = Path(reissue_file).resolve()
    # <worktree>/src/reissue/__init__.py -> <worktree>/benchmarks/out/accuracy.json
    if p.parent.parent.name == "src" and (p.parent.parent.parent / "benchmarks").is_dir():
        return p.parent.parent.parent / "benchmarks" / "out" / "accuracy.json"
    return Path.cwd() / "benchmarks" / "out" / "accuracy.json"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=(*SETS, "all"), default="all")
    ap.add_argument("--split", choices=("dev", "test", "all"), default="all")
    ap.add_argument("--only", choices=("rhythm", "tonal", "melody"), default=None)
    ap.add_argument("--limit", type=int, default=None, help="first N items of each set")
    ap.add_argument("--items", default=None, help="only items whose id contains this")
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--truth-beats", action="store_true",
                    help="give tonal the truth beats instead of reissue's (isolates chord errors)")
    ap.add_argument("--no-baselines", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    ap.add_argument("--quiet", action="store_true", help="no per-item lines")
    args = ap.parse_args(argv)

    import reissue
    from reissue.io import load

    print(f"reissue from {Path(reissue.__file__).resolve().parent}")
    mods = _load_estimators()
    for name, mod in mods.items():
        print(f"  {name:7s}: {'available' if mod is not None else 'not available'}")
    estimators = ["reissue"] + ([] if args.no_baselines else ["librosa", "pyin"])
    report = {"reissue_path": str(Path(reissue.__file__).resolve().parent),
              "available": {k: v is not None for k, v in mods.items()},
              "args": {k: str(v) for k, v in vars(args).items()}, "sets": {}}
    errors: list[tuple[str, str, str]] = []
    warmed = False
    for set_name in (SETS if args.set == "all" else (args.set,)):
        man_path = args.data / set_name / "manifest.json"
        if not man_path.exists():
            print(f"\n{set_name}: no manifest at {man_path} (run build.py first)")
            continue
        items = json.loads(man_path.read_text())["items"]
        if args.split != "all":
            items = [it for it in items if it["split"] == args.split]
        if args.items:
            items = [it for it in items if args.items in it["id"]]
        if args.limit:
            items = items[: args.limit]
        records = []
        for it in items:
            truth = json.loads((args.data / set_name / it["truth"]).read_text())
            y = load(args.data / set_name / it["audio"], sample_rate=SAMPLE_RATE,
                     mono=True).samples[0]
            y = np.ascontiguousarray(y, dtype=np.float32)
            if not warmed:
                _warm_up(mods, y, SAMPLE_RATE, args.only, not args.no_baselines)
                warmed = True
            results = {}
            m, c = _run_reissue(mods, y, SAMPLE_RATE, truth, args.only, args.truth_beats,
                                errors, it["id"])
            results["reissue"] = {"metrics": m, "cpu": c}
            if not args.no_baselines:
                m, c = _run_librosa(y, SAMPLE_RATE, truth, args.only)
                results["librosa"] = {"metrics": m, "cpu": c}
                m, c = _run_pyin(y, SAMPLE_RATE, truth, args.only)
                results["pyin"] = {"metrics": m, "cpu": c}
            rec = {"id": it["id"], "split": it["split"], "tags": it["tags"],
                   "meter": truth["meter"], "key": truth["key"],
                   "tempo_bpm": truth["tempo_bpm"],
                   "duration_seconds": truth["duration_seconds"], "results": results}
            records.append(rec)
            if not args.quiet:
                parts = []
                for est in estimators:
                    mm = results[est]["metrics"]
                    parts.append(est[:3] + " " + " ".join(
                        f"{h}={mm[k]:.2f}" for k, h in COLUMNS if mm.get(k) is not None))
                print(f"{it['id'][:44]:44s} " + " | ".join(parts), flush=True)
        if not records:
            continue
        set_out = {"items": records, "summary": {}, "by_meter": {}, "by_drums": {}}
        for split in ("dev", "test", "all"):
            recs = [r for r in records if split == "all" or r["split"] == split]
            if not recs:
                continue
            summ = summarise(recs, estimators)
            set_out["summary"][split] = summ
            print_table(f"== {set_name} / {split}", summ, len(recs),
                        sum(r["duration_seconds"] for r in recs) / 60)
        rb_estimators = [e for e in estimators if e != "pyin"]  # pyin scores melody only
        meters: dict[str, list] = {}
        for r in records:
            meters.setdefault(r["meter"], []).append(r)
        drums = {"drums": [r for r in records if "drums" in r["tags"]],
                 "no drums": [r for r in records if "drums" not in r["tags"]]}
        drums = {k: v for k, v in drums.items() if v}
        print_breakdown(f"-- {set_name}: by meter (all splits)", meters, rb_estimators)
        print_breakdown(f"-- {set_name}: drums / no drums (all splits)", drums, rb_estimators)
        set_out["by_meter"] = {k: summarise(v, estimators) for k, v in meters.items()}
        set_out["by_drums"] = {k: summarise(v, estimators) for k, v in drums.items()}
        report["sets"][set_name] = set_out
    if errors:
        print(f"\n{len(errors)} estimator errors:")
        for item_id, comp, msg in errors[:20]:
            print(f"  {item_id} {comp}: {msg}")
    report["errors"] = [list(e) for e in errors]
    path = args.json or _default_json(reissue.__file__)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
