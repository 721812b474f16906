"""Benchmark: the refresh of a 3-minute stereo 44.1 kHz track on one core, stage by stage.

Runs the real ``reissue.refresh`` twice per style after a warm-up (JIT compilation is not the
refresh), once for a style that keeps the tempo and once for one that stretches it, and reports
CPU seconds per stage, real-time factor, peak memory and the energy estimate. Reports, never
asserts. Run: ``make bench-refresh``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

from reissue.refresh import refresh  # noqa: E402


def main() -> None:
    path, desc = three_minute_wav(44100)
    work = Path(tempfile.mkdtemp(prefix="reissue-bench-"))
    from reissue.demo import write_demo

    warm = write_demo(work / "warm.wav")
    refresh(warm, style="house", intensity=0.7, seed=1, out=work / "warm-out.wav", overwrite=True)
    rows = {}
    for style in ("modern-pop", "house"):
        best = None
        for _ in range(2):
            r = refresh(path, style=style, intensity=0.7, seed=1, out=work / f"{style}.wav",
                        overwrite=True).report
            if best is None or r["cost"]["cpu_seconds_total"] < best["cost"]["cpu_seconds_total"]:
                best = r
        rows[style] = best
    print(f"track: {desc}; 180 s stereo 44100 Hz; {python_info()}; one core")
    stages = sorted({k for r in rows.values() for k in r["cost"]["cpu_seconds"]})
    print(f"{'stage':12s} " + " ".join(f"{s:>14s}" for s in rows))
    for st in stages:
        print(f"{st:12s} " + " ".join(f"{r['cost']['cpu_seconds'].get(st, 0.0):14.3f}"
                                      for r in rows.values()))
    print(f"{'TOTAL CPU s':12s} " + " ".join(f"{r['cost']['cpu_seconds_total']:14.3f}"
                                            for r in rows.values()))
    print(f"{'x real time':12s} " + " ".join(f"{r['cost']['real_time_factor']:14.1f}"
                                            for r in rows.values()))
    print(f"{'tempo':12s} " + " ".join(f"{r['original']['tempo_bpm']:6.1f}→{r['result']['tempo_bpm']:6.1f}"
                                      for r in rows.values()))
    print(f"{'energy J':12s} " + " ".join(f"{r['cost']['energy_joules']:14.1f}"
                                         for r in rows.values()))
    print(f"peak memory of the process: {peak_rss_mb():.0f} MB "
          f"({rows['house']['cost']['energy_method']})")
    write_report("refresh", {"track": desc, "peak_rss_mb": peak_rss_mb(),
                             "styles": {k: {"cost": v["cost"], "identity": v["identity"],
                                            "modernity": v["modernity"]}
                                        for k, v in rows.items()}})


if __name__ == "__main__":
    main()
