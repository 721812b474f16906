"""Helpers shared by the benchmarks: one core, CPU seconds, peak memory, test tracks.

Benchmarks report; they never assert. CPU time is ``time.process_time()`` of this process
pinned to one core with every math library limited to one thread, so figures are comparable
between runs and machines of the same kind.
"""

from __future__ import annotations

import glob
import json
import os
import resource
import sys
import time
from pathlib import Path

ONE_CORE_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}
OUT = Path(__file__).resolve().parent / "out"


def pin_one_core() -> None:
    """Limit this process to one core (call before importing numpy)."""
    os.environ.update(ONE_CORE_ENV)
    try:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    except (AttributeError, OSError):
        pass


def cpu_seconds(fn, *args, repeat: int = 3, **kwargs):
    """Best-of-``repeat`` CPU seconds of ``fn(*args, **kwargs)`` after one warm-up call."""
    result = fn(*args, **kwargs)
    best = float("inf")
    for _ in range(repeat):
        t0 = time.process_time()
        result = fn(*args, **kwargs)
        best = min(best, time.process_time() - t0)
    return best, result


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def wesnoth_tracks() -> list[str]:
    """Real orchestral recordings from Debian's wesnoth-music package, if installed."""
    return sorted(glob.glob("/usr/share/games/wesnoth/*/data/core/music/*.ogg"))


def three_minute_track(sample_rate: int = 44100):
    """A 3-minute stereo track: a real recording looped to 3 min if available, else the demo
    song's modern mix looped. Returns (samples float32 (2, n), description)."""
    import numpy as np

    from reissue.io import load

    n = 180 * sample_rate
    tracks = wesnoth_tracks()
    if tracks:
        path = next((t for t in tracks if "battle-epic" in t), tracks[0])
        x = load(path, sample_rate=sample_rate).samples
        desc = f"{Path(path).name} (wesnoth-music), looped to 3:00"
    else:
        from reissue.demo import render_demo

        x = render_demo(vintage=False, noise=False, sample_rate=sample_rate)
        desc = "demo song, modern mix, looped to 3:00"
    if x.shape[0] == 1:
        x = np.repeat(x, 2, axis=0)
    reps = -(-n // x.shape[1])
    return np.ascontiguousarray(np.tile(x, (1, reps))[:, :n]), desc


def three_minute_wav(sample_rate: int = 44100) -> tuple[Path, str]:
    """:func:`three_minute_track` cached as a 16-bit WAV under ``benchmarks/out`` (made in a child
    process, so the benchmark's own peak memory is not inflated by the making)."""
    import subprocess

    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"track-3min-{sample_rate}.wav"
    desc_path = path.with_suffix(".txt")
    if not path.exists() or not desc_path.exists():
        code = ("import sys; sys.path.insert(0, %r); from _common import three_minute_track; "
                "from reissue.io import Audio, save; x, d = three_minute_track(%d); "
                "save(Audio(x, %d), %r, subtype='PCM_16'); open(%r, 'w').write(d)"
                % (str(Path(__file__).parent), sample_rate, sample_rate, str(path),
                   str(desc_path)))
        subprocess.run([sys.executable, "-c", code], check=True)
    return path, desc_path.read_text()


def write_report(name: str, data: dict) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{name}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def python_info() -> str:
    return f"Python {sys.version.split()[0]}"
