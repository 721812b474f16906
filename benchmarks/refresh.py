"""Benchmark: the refresh of a 3-minute stereo 44.1 kHz track on one core, stage by stage.

Runs the real ``reissue.refresh`` twice per style after a warm-up (JIT compilation is not the
refresh), once for a style that keeps the tempo and once for one that stretches it, and reports
CPU seconds per stage, real-time factor, peak memory and the energy estimate. Reports, never
asserts. Run: ``make bench-refresh``.

``--long FILE …`` instead refreshes each file once (modern-pop) in a child process and reports
its CPU seconds per stage and peak resident memory (VmHWM of the child, imports included;
the decode + analysis phase and the render + encode + score phase separately), which is how
the bounded memory of the block path (recordings over 5 minutes) is measured, e.g. on 10- and
60-minute files.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import peak_rss_mb, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

from reissue.refresh import refresh  # noqa: E402


def long_runs(paths: list[str], style: str = "modern-pop") -> None:
    import json
    import subprocess

    # the child records its peak RSS up to the plan (decode + analysis), then resets the
    # kernel's high-water mark (/proc/self/clear_refs, Linux ≥ 4.0) so the final VmHWM is the
    # peak of the render, encode and score alone
    code = (
        "import json, sys, tempfile, pathlib\n"
        "from reissue.refresh import refresh\n"
        "marks = {}\n"
        "def hwm():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            return int(line.split()[1]) / 1024.0\n"
        "def rss():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmRSS:'):\n"
        "            return int(line.split()[1]) / 1024.0\n"
        "def step(name):\n"
        "    if name == 'plan' and 'analysis' not in marks:\n"
        "        marks['analysis'] = hwm()\n"
        "        marks['rss_after_analysis'] = rss()\n"
        "        try:\n"
        "            open('/proc/self/clear_refs', 'w').write('5')\n"
        "        except OSError:\n"
        "            marks['reset_failed'] = True\n"
        "r = refresh(sys.argv[1], style=sys.argv[2], progress=step,\n"
        "            out=pathlib.Path(tempfile.mkdtemp()) / 'out.flac').report\n"
        "marks['render'] = hwm()\n"
        "print(json.dumps({'cost': r['cost'], 'identity': r['identity']['score'],\n"
        "    'modernity': r['modernity']['score'], 'lufs': r['result']['integrated_lufs'],\n"
        "    'tp': r['result']['true_peak_dbtp'], 'marks': marks,\n"
        "    'minutes': r['original']['duration_seconds'] / 60}))\n")
    rows = {}
    for path in paths:
        out = subprocess.run([sys.executable, "-c", code, path, style], check=True,
                             capture_output=True, text=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        # the child's own peak: its high-water mark was reset after the analysis, so the
        # process peak is the larger of the two phases' peaks
        peak = max(r["marks"].get("analysis", 0.0), r["marks"].get("render", 0.0),
                   r["cost"]["peak_memory_mb"] if "analysis" not in r["marks"] else 0.0)
        r["peak_rss_mb"] = peak
        rows[path] = r
        cpu = r["cost"]["cpu_seconds_total"]
        print(f"{Path(path).name}: {r['minutes']:.1f} min, CPU {cpu:.1f} s "
              f"({r['cost']['real_time_factor']}x real time), peak RSS {peak:.0f} MB "
              f"({peak / max(r['minutes'], 1e-9):.0f} MB/min), result {r['lufs']} LUFS "
              f"{r['tp']} dBTP, identity {r['identity']}, modernity {r['modernity']}")
        marks = r["marks"]
        print(f"    peak RSS of decode + analysis {marks.get('analysis', float('nan')):.0f} MB, "
              f"of render + encode + score {marks.get('render', float('nan')):.0f} MB "
              f"(resident when the render starts: "
              f"{marks.get('rss_after_analysis', float('nan')):.0f} MB)")
        print("   ", {k: round(v, 2) for k, v in r["cost"]["cpu_seconds"].items()})
    write_report("refresh-long", rows)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] == "--long":
        long_runs(sys.argv[2:])
        return
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
