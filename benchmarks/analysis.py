"""Benchmark: the full analysis (sound + rhythm, tonal, melody, form, mood, era) of a 3-minute
stereo 44.1 kHz track on one core, and the peak memory of a 60-minute file streamed through
``analyze_path``. Reports, never asserts. Run: ``make bench-analysis``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import OUT, peak_rss_mb, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

import numpy as np  # noqa: E402

from reissue.analysis import analysis_signal, analyze_signal  # noqa: E402
from reissue.analysis.sound import SoundMeter  # noqa: E402
from reissue.io import load  # noqa: E402

_CHILD = r"""
import json, resource, sys, time
from reissue.analysis import analyze_path
t0 = time.process_time()
a = analyze_path(sys.argv[1])
print(json.dumps({"cpu_seconds": time.process_time() - t0,
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "duration_seconds": a.duration_seconds, "tempo_bpm": a.rhythm.tempo_bpm,
                  "key": a.tonal.key, "sections": len(a.form.sections)}))
"""


def full_analysis(x: np.ndarray, sr: int) -> tuple[dict, object]:
    timings: dict[str, float] = {}
    t0 = time.process_time()
    meter = SoundMeter(sr, x.shape[0])
    meter.process(x)
    sound = meter.result()
    timings["sound"] = time.process_time() - t0
    t1 = time.process_time()
    y = analysis_signal(x, sr)
    timings["resample"] = time.process_time() - t1
    a = analyze_signal(sound, y, x.shape[1] / sr, sr, x.shape[0], timings=timings)
    timings["total"] = time.process_time() - t0
    return timings, a


def sixty_minute_flac(three: Path) -> Path:
    path = OUT / "track-60min.flac"
    if not path.exists():
        code = ("import numpy as np, sys; from reissue.io import load, Audio, save; "
                f"x = load({str(three)!r}).samples; "
                "y = np.concatenate([x * np.float32(0.6 + 0.4 * (k % 3) / 2) for k in range(20)],"
                " axis=1); "
                f"save(Audio(y, 44100), {str(path)!r}, subtype='PCM_16')")
        subprocess.run([sys.executable, "-c", code], check=True)
    return path


def main() -> None:
    path, desc = three_minute_wav(44100)
    x = load(path).samples
    full_analysis(x[:, : 44100 * 20], 44100)  # warm-up: JIT compilation is not the analysis
    base = peak_rss_mb()
    best = None
    for _ in range(3):
        timings, a = full_analysis(x, 44100)
        if best is None or timings["total"] < best["total"]:
            best = timings
    peak = peak_rss_mb()
    print(f"track: {desc}; 180 s stereo 44100 Hz; {python_info()}; one core, best of 3")
    for k, v in best.items():
        print(f"  {k:10s} {v:7.3f} CPU-s" + (f"   ({180 / v:.0f}x real time)" if k == "total"
                                             else ""))
    print(f"  result: {a.rhythm.tempo_bpm:.1f} BPM {a.rhythm.meter}, {a.tonal.key}, "
          f"{len(a.melody.notes)} melody notes, {len(a.form.sections)} sections, "
          f"era {a.era.decade}s")
    print(f"  peak memory {peak:.0f} MB (process), {peak - base:.0f} MB above the decoded track")
    long = sixty_minute_flac(path)
    child = subprocess.run([sys.executable, "-c", _CHILD, str(long)], capture_output=True,
                           text=True, check=True)
    sixty = json.loads(child.stdout.strip().splitlines()[-1])
    print(f"60-minute FLAC streamed through analyze_path: {sixty['cpu_seconds']:.1f} CPU-s, "
          f"peak memory {sixty['peak_rss_mb']:.0f} MB")
    write_report("analysis", {"track": desc, "cpu_seconds": best, "peak_rss_mb": peak,
                              "rss_above_track_mb": peak - base, "sixty_minutes": sixty})


if __name__ == "__main__":
    main()
