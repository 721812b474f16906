"""Benchmark: ``reissue batch`` throughput with 1 and 2 workers, cost per audio minute, energy.

Makes ``--tracks`` distinct tracks of ``--minutes`` each (real recordings from Debian's
wesnoth-music looped and varied — a different piece, gain and start per track, so every file has
its own content hash — or the demo song when the package is missing), then refreshes them with
the local engine at each worker count in ``--workers`` (default ``1,2``) and reports, per run:
tracks, audio minutes, wall seconds, throughput (audio seconds per wall second), the workers' CPU
seconds per audio minute, peak memory per track, energy per audio hour (with its method), and the
machine's load average before and after — on a shared machine a busy "other" core makes the
2-worker figure, and so the scaling efficiency, worse than the code is.

Scaling efficiency = throughput(2 workers) / (2 × throughput(1 worker)), from wall time. With
``--pin`` the whole run (driver and workers) is restricted to as many cores as workers with
``sched_setaffinity``, so the 1-worker run cannot borrow the second core.

``--soak N`` instead runs N short tracks (``--minutes`` long, e.g. 0.1) on 2 workers and reports
each worker's resident memory after every track (growth = a leak). ``--long MINUTES`` refreshes one
long track on one worker and reports its peak memory.

Run: ``.venv/bin/python benchmarks/batch.py [--tracks 20 --minutes 3]``. Writes
``benchmarks/out/batch.json`` (or ``batch-soak.json``, ``batch-long.json``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ONE_CORE_ENV, OUT, python_info, wesnoth_tracks, write_report  # noqa: E402

os.environ.update(ONE_CORE_ENV)

MAKE_TRACKS = r"""
import sys, numpy as np
from pathlib import Path
from reissue.io import Audio, load, save
n, minutes, out = int(sys.argv[1]), float(sys.argv[2]), Path(sys.argv[3])
sources = sys.argv[4:]
sr = 44100
frames = int(round(minutes * 60 * sr))
cache = {}
for i in range(n):
    path = out / f"track{i:03d}.flac"
    if path.exists():
        continue
    if sources:
        src = sources[i % len(sources)]
        if src not in cache:
            cache.clear()
            x = load(src, sample_rate=sr).samples
            cache[src] = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]
        x = cache[src]
    else:
        from reissue.demo import render_demo
        x = cache.setdefault("demo", render_demo(sample_rate=sr))
        x = np.repeat(x, 2, axis=0) if x.shape[0] == 1 else x[:2]
    start = (i * 7919 * sr // 10) % x.shape[1]           # a different start per track
    x = np.roll(x, -start, axis=1)
    reps = -(-frames // x.shape[1])
    y = np.tile(x, (1, reps))[:, :frames] * np.float32(10 ** (-(i % 5) / 20))
    save(Audio(np.ascontiguousarray(y, dtype=np.float32), sr), path, subtype="PCM_16")
"""


def make_tracks(n: int, minutes: float, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    sources = wesnoth_tracks()[:max(1, min(n, 12))]
    subprocess.run([sys.executable, "-c", MAKE_TRACKS, str(n), str(minutes), str(folder),
                    *sources], check=True)
    return (f"{len(sources)} wesnoth-music recordings" if sources else "the demo song") + \
        f", looped/varied to {minutes:g} min, 44.1 kHz stereo 16-bit FLAC"


def run(src: Path, out: Path, lib: Path, workers: int, *, pin: bool, style: str) -> dict:
    from reissue.batch import run_batch

    shutil.rmtree(out, ignore_errors=True)
    lib.unlink(missing_ok=True)
    allowed = sorted(os.sched_getaffinity(0))
    if pin:
        os.sched_setaffinity(0, set(allowed[:workers]))  # workers inherit the mask
    try:
        s = run_batch(src, out, workers=workers, library=lib, style=style, intensity=0.7,
                      seed=1, memory_limit_mb=None)
    finally:
        os.sched_setaffinity(0, set(allowed))
    d = s.to_dict()
    audio_min = s.audio_seconds / 60.0
    worker_cpu = s.cpu_hours * 3600 - s.driver_cpu_seconds
    from reissue.library import Library

    with Library(lib) as library:
        items = library.batch_items(library.get_batch(str(out.resolve()))["id"])
    job_wall = sum((it["cost"] or {}).get("wall_seconds", 0.0) for it in items)
    return {
        "workers": workers, "pinned_cores": workers if pin else None,
        "tracks_done": s.tracks["done"], "tracks_failed": s.tracks["failed"],
        "failures": s.failures, "audio_minutes": round(audio_min, 2),
        "wall_seconds": s.wall_seconds,
        "throughput_x_real_time": s.throughput_x_real_time,
        "cpu_seconds_per_audio_minute": round(worker_cpu / audio_min, 2) if audio_min else None,
        "driver_cpu_seconds": s.driver_cpu_seconds,
        # jobs in flight on average / workers: how busy the pool kept its workers
        "pool_occupancy": round(job_wall / (s.wall_seconds * workers), 3),
        # CPU the batch actually got from the OS, in cores (≤ workers; less on a busy machine)
        "cores_obtained": round((worker_cpu + s.driver_cpu_seconds) / s.wall_seconds, 3),
        "real_time_factor_per_core": s.real_time_factor_per_core,
        "peak_rss_mb_max": d["memory"]["peak_rss_mb_max"],
        "energy_wh_per_audio_hour": s.energy.get("wh_per_audio_hour"),
        "energy_method": s.energy["method"], "load_average": s.load_average,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tracks", type=int, default=20)
    ap.add_argument("--minutes", type=float, default=3.0)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--style", default="modern-pop")
    ap.add_argument("--pin", action="store_true", help="restrict each run to `workers` cores")
    ap.add_argument("--soak", type=int, default=0, help="N short tracks on 2 workers: memory")
    ap.add_argument("--long", type=float, default=0.0, help="one track this many minutes long")
    a = ap.parse_args()
    work = OUT / "batch"
    if a.soak:
        src = work / f"soak-{a.soak}x{a.minutes:g}"
        desc = make_tracks(a.soak, a.minutes, src)
        soak(src, work, desc, a.style)
        return
    if a.long:
        src = work / f"long-{a.long:g}"
        desc = make_tracks(1, a.long, src)
        r = run(src, work / "out-long", work / "long.sqlite3", 1, pin=False, style=a.style)
        print(f"one {a.long:g}-minute track ({desc}): peak {r['peak_rss_mb_max']} MB, "
              f"{r['cpu_seconds_per_audio_minute']} CPU-s per audio minute, "
              f"{r['wall_seconds']:.0f} s wall; failures {r['failures']}")
        write_report("batch-long", {"track": desc, **r, "python": python_info()})
        return
    src = work / f"src-{a.tracks}x{a.minutes:g}"
    desc = make_tracks(a.tracks, a.minutes, src)
    print(f"{a.tracks} tracks: {desc}; style {a.style}; {python_info()}; "
          f"{os.cpu_count()} cores visible")
    runs = []
    for w in (int(v) for v in a.workers.split(",")):
        t0 = time.time()
        r = run(src, work / f"out-{w}", work / f"lib-{w}.sqlite3", w, pin=a.pin, style=a.style)
        runs.append(r)
        print(f"workers {w}: {r['tracks_done']} done / {r['tracks_failed']} failed, "
              f"{r['audio_minutes']:.1f} audio min in {r['wall_seconds']:.0f} s wall → "
              f"{r['throughput_x_real_time']}× real time; {r['cpu_seconds_per_audio_minute']} "
              f"CPU-s per audio min; peak {r['peak_rss_mb_max']} MB per track; "
              f"{r['energy_wh_per_audio_hour']} Wh per audio hour; pool occupancy "
              f"{r['pool_occupancy']:.0%}, cores obtained {r['cores_obtained']:.2f}; load "
              f"{r['load_average']} (started {time.strftime('%H:%M', time.localtime(t0))})")
    data = {"tracks": a.tracks, "minutes": a.minutes, "source": desc, "style": a.style,
            "python": python_info(), "runs": runs}
    by = {r["workers"]: r for r in runs}
    if 1 in by and 2 in by and by[1]["throughput_x_real_time"]:
        eff = by[2]["throughput_x_real_time"] / (2 * by[1]["throughput_x_real_time"])
        cpu_ratio = by[2]["cpu_seconds_per_audio_minute"] / by[1]["cpu_seconds_per_audio_minute"]
        data["scaling_efficiency_1_to_2"] = round(eff, 3)
        data["cpu_per_audio_minute_ratio_2_vs_1"] = round(cpu_ratio, 3)
        print(f"scaling efficiency 1→2 workers: {eff:.1%} (wall); CPU-s per audio minute "
              f"with 2 workers / with 1: {cpu_ratio:.3f}")
    print(f"report: {write_report('batch', data)}")


def soak(src: Path, work: Path, desc: str, style: str) -> None:
    from reissue.batch import run_batch
    from reissue.library import Library

    out, lib = work / "out-soak", work / "soak.sqlite3"
    shutil.rmtree(out, ignore_errors=True)
    lib.unlink(missing_ok=True)
    s = run_batch(src, out, workers=2, library=lib, style=style, memory_limit_mb=None)
    with Library(lib) as library:
        items = library.batch_items(library.get_batch(str(out.resolve()))["id"])
    per_worker: dict[str, list] = {}
    for it in sorted(items, key=lambda it: it["finished_at"] or ""):
        c = it["cost"] or {}
        if c.get("rss_after_mb") is not None:
            per_worker.setdefault(c["worker"], []).append((c["rss_after_mb"], c["peak_rss_mb"]))
    rows = {}
    for worker, v in per_worker.items():
        after = [a for a, _ in v]
        tenth = max(1, len(after) // 10)
        first, last = sum(after[:tenth]) / tenth, sum(after[-tenth:]) / tenth
        rows[worker] = {"tracks": len(v), "rss_after_first_tenth_mb": round(first, 1),
                        "rss_after_last_tenth_mb": round(last, 1),
                        "growth_mb": round(last - first, 1),
                        "peak_rss_mb_max": round(max(p or 0 for _, p in v), 1)}
        print(f"worker {worker}: {len(v)} tracks, resident after a track {first:.0f} MB (first "
              f"tenth) → {last:.0f} MB (last tenth), peak {rows[worker]['peak_rss_mb_max']} MB")
    print(f"{s.tracks['done']} done, {s.tracks['failed']} failed, {s.wall_seconds:.0f} s wall, "
          f"load {s.load_average}")
    write_report("batch-soak", {"source": desc, "tracks": len(items), "done": s.tracks["done"],
                                "failed": s.tracks["failed"], "workers": rows,
                                "wall_seconds": s.wall_seconds, "load_average": s.load_average,
                                "python": python_info()})


if __name__ == "__main__":
    main()
