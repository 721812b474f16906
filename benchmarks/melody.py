"""Benchmark: melody extraction — accuracy on the accuracy sets and speed on a 3-minute track.

Accuracy (per set and split): ``mir_eval.melody.evaluate`` (50 cents; overall accuracy OA, raw
pitch RPA, raw chroma RCA, voicing recall VR and false alarm VFA) against the truth notes sampled on
a 10 ms grid, and note onset P/R/F (``mir_eval.transcription.precision_recall_f1_overlap``, 50 ms,
50 cents, ``offset_ratio=None``). Three extractors in the same run:

* ``reissue``  — :func:`reissue.analysis.melody.analyze_melody`;
* ``argmax``   — baseline: the same salience, per-frame argmax, voiced where the frame maximum
  exceeds the same running-median threshold (no Viterbi, no pitch prior);
* ``pyin``     — ``librosa.pyin`` (55–1760 Hz) on the first ``--pyin-items`` dev items, first
  20 s only (it runs at a few × real time), for reference speed and accuracy.

Speed: CPU seconds (``time.process_time``, one core) of ``analyze_melody`` on 3 minutes of
22.05 kHz mono, best of three after a warm-up call (numba compilation is not the analysis).

Run: ``PYTHONPATH=src .venv/bin/python benchmarks/melody.py [--data DIR]``.
"""

from __future__ import annotations

import os
import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

import mir_eval  # noqa: E402
import numpy as np  # noqa: E402

from reissue.analysis import melody as mel  # noqa: E402
from reissue.io import load  # noqa: E402

SR = 22050


def _hz(midi) -> np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(midi, float) - 69.0) / 12.0)


def score(times, f0, notes, truth_notes, duration) -> dict:
    ref_t = np.arange(0.0, duration, 0.01)
    ref_f = np.zeros_like(ref_t)
    for s, e, p in truth_notes:
        ref_f[(ref_t >= s) & (ref_t < e)] = _hz(p)
    m = mir_eval.melody.evaluate(ref_t, ref_f, np.asarray(times), np.asarray(f0))
    out = {"OA": m["Overall Accuracy"], "RPA": m["Raw Pitch Accuracy"],
           "RCA": m["Raw Chroma Accuracy"], "VR": m["Voicing Recall"],
           "VFA": m["Voicing False Alarm"]}
    if notes and truth_notes:
        ref_iv = np.array([[s, e] for s, e, _ in truth_notes])
        est_iv = np.array([[s, e] for s, e, _ in notes])
        p, r, f, _ = mir_eval.transcription.precision_recall_f1_overlap(
            ref_iv, _hz([n[2] for n in truth_notes]), est_iv, _hz([n[2] for n in notes]),
            offset_ratio=None)
    else:
        p = r = f = 0.0
    out.update({"note_P": p, "note_R": r, "note_F": f})
    return {k: float(v) for k, v in out.items()}


def run_reissue(y):
    m = mel.analyze_melody(y, SR)
    return m.times_seconds, m.f0_hz, list(m.notes)


def run_argmax(y):
    """Baseline: salience argmax per frame, thresholded voicing, same note segmentation."""
    p = mel._DEFAULT
    sal, bin_hz = mel.melody_salience(y, SR)
    frame_max = sal.max(axis=1)
    ref = mel._running_median(frame_max, int(round(p.median_seconds / mel.HOP_SECONDS)))
    voiced = (frame_max > p.voicing_ratio * ref) & (frame_max > 0)
    k = sal.argmax(axis=1)
    f0 = np.where(voiced, bin_hz[k], 0.0)
    strength = np.where(voiced, frame_max, 0.0)
    notes = list(mel._notes_seconds(*mel._note_frames(f0, strength, sal, p)))
    return np.arange(len(f0)) * mel.HOP_SECONDS, f0, notes


def run_pyin(y):
    """librosa.pyin contour; notes by reissue's segmentation on a 10 ms resampling of it."""
    import librosa

    f0, voiced, _ = librosa.pyin(y, fmin=55.0, fmax=1760.0, sr=SR, frame_length=2048,
                                 hop_length=256)
    f0 = np.where(voiced, np.nan_to_num(f0), 0.0)
    times = librosa.times_like(f0, sr=SR, hop_length=256)
    grid = np.arange(int(times[-1] / mel.HOP_SECONDS) + 1) * mel.HOP_SECONDS
    g = f0[np.clip(np.searchsorted(times, grid), 0, len(f0) - 1)]
    no_salience = np.zeros((len(g), mel._N_BINS), np.float32)
    notes = list(mel._notes_seconds(*mel._note_frames(
        g, np.where(g > 0, 1.0, 0.0), no_salience, mel.MelodyParams(onset_backtrack=0.0))))
    return times, f0, notes


def accuracy(data: Path, pyin_items: int, no_melody: list) -> dict:
    results = {}
    for manifest in sorted(data.glob("*/manifest.json")):
        items = json.loads(manifest.read_text())["items"]
        set_name = manifest.parent.name
        n_pyin = 0
        for item in items:
            truth = json.loads((manifest.parent / Path(item["truth"]).name).read_text())
            audio = load(manifest.parent / Path(item["audio"]).name, sample_rate=SR, mono=True)
            y = audio.samples[0]
            if not truth.get("melody"):  # no melody: how much does the extractor still voice?
                _, f0, notes = run_reissue(y)
                no_melody.append({"set": set_name, "id": item["id"], "split": item["split"],
                                  "voiced_fraction": float(np.mean(f0 > 0)),
                                  "notes": len(notes)})
                continue
            duration = len(y) / SR
            runners = [("reissue", run_reissue), ("argmax", run_argmax)]
            if item["split"] == "dev" and n_pyin < pyin_items:
                runners.append(("pyin", run_pyin))
                n_pyin += 1
            for name, fn in runners:
                yy = y[: 20 * SR] if name == "pyin" else y
                tn = truth["melody"]
                if name == "pyin":
                    tn = [n for n in tn if n[0] < 20.0]
                t0 = time.process_time()
                times, f0, notes = fn(yy)
                cpu = time.process_time() - t0
                sc = score(times, f0, notes, tn, len(yy) / SR)
                sc["cpu_seconds"] = cpu
                sc["audio_seconds"] = len(yy) / SR
                key = (set_name, item["split"], name)
                results.setdefault(key, []).append({"id": item["id"], **sc})
            del duration
    return results


def summarise(results: dict) -> list[dict]:
    rows = []
    for (set_name, split, name), items in sorted(results.items()):
        keys = ["OA", "RPA", "RCA", "VR", "VFA", "note_P", "note_R", "note_F"]
        row = {"set": set_name, "split": split, "extractor": name, "items": len(items)}
        row.update({k: float(np.mean([it[k] for it in items])) for k in keys})
        row["x_real_time"] = (sum(it["audio_seconds"] for it in items)
                              / max(sum(it["cpu_seconds"] for it in items), 1e-9))
        rows.append(row)
    return rows


def speed() -> dict:
    path, desc = three_minute_wav(44100)
    y = load(path, sample_rate=SR, mono=True).samples[0]
    mel.analyze_melody(y[:SR], SR)
    secs, result = cpu_seconds(mel.analyze_melody, y, SR)
    sal_secs, _ = cpu_seconds(mel.melody_salience, y, SR)
    spec_secs, _ = cpu_seconds(mel._spectrum, y, SR)
    return {"track": desc, "audio_seconds": len(y) / SR, "cpu_seconds": secs,
            "x_real_time": len(y) / SR / secs, "spectrum_cpu_seconds": spec_secs,
            "salience_cpu_seconds_incl_spectrum": sal_secs, "notes": len(result.notes)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path(os.environ.get(
        "REISSUE_ACCURACY_DATA", Path(__file__).resolve().parent / "data" / "accuracy")))
    ap.add_argument("--pyin-items", type=int, default=3)
    ap.add_argument("--no-speed", action="store_true")
    args = ap.parse_args()
    report = {"python": python_info()}
    if not args.no_speed:
        sp = speed()
        report["speed"] = sp
        print(f"speed: {sp['track']}: {sp['cpu_seconds']:.3f} CPU-s for {sp['audio_seconds']:.0f} s"
              f" ({sp['x_real_time']:.0f}x real time; spectrum {sp['spectrum_cpu_seconds']:.3f},"
              f" salience incl. spectrum {sp['salience_cpu_seconds_incl_spectrum']:.3f})")
    if args.data.exists():
        no_melody: list[dict] = []
        results = accuracy(args.data, args.pyin_items, no_melody)
        rows = summarise(results)
        report["accuracy"] = rows
        report["no_melody_items"] = no_melody
        report["items"] = {"/".join(k): v for k, v in results.items()}
        print(f"{'set':10s} {'split':5s} {'extractor':9s} {'n':>3s} {'OA':>6s} {'RPA':>6s} "
              f"{'RCA':>6s} {'VR':>6s} {'VFA':>6s} {'noteP':>6s} {'noteR':>6s} {'noteF':>6s} "
              f"{'xRT':>6s}")
        for r in rows:
            print(f"{r['set']:10s} {r['split']:5s} {r['extractor']:9s} {r['items']:3d} "
                  f"{r['OA']:6.3f} {r['RPA']:6.3f} {r['RCA']:6.3f} {r['VR']:6.3f} {r['VFA']:6.3f} "
                  f"{r['note_P']:6.3f} {r['note_R']:6.3f} {r['note_F']:6.3f} "
                  f"{r['x_real_time']:6.0f}")
        for it in report.get("no_melody_items", []):
            print(f"no-melody item {it['set']}/{it['id']} ({it['split']}): voiced fraction "
                  f"{it['voiced_fraction']:.2f}, {it['notes']} notes")
    print("report:", write_report("melody", report))


if __name__ == "__main__":
    main()
