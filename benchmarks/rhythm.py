"""Benchmark: rhythm analysis of a 3-minute track (22.05 kHz mono, as the pipeline feeds it).

One core.

Reports CPU seconds and real-time factor of ``analyze_rhythm`` with librosa's ``beat_track``
(its own onset envelope and tempo estimate) timed in the same run, after a warm-up call of each
(numba JIT compilation is not the analysis), and what each found. Optionally runs both over the
real recordings of Debian's wesnoth-music (no truth: tempo, meter and confidence side by side).
Run: ``.venv/bin/python benchmarks/rhythm.py [--wesnoth]``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, pin_one_core, python_info, three_minute_wav, wesnoth_tracks, write_report  # noqa: E402,E501

pin_one_core()

import librosa  # noqa: E402
import numpy as np  # noqa: E402

from reissue.analysis.rhythm import analyze_rhythm  # noqa: E402
from reissue.io import load  # noqa: E402

SR = 22050


def _librosa(y: np.ndarray) -> tuple[float, np.ndarray]:
    tempo, beats = librosa.beat.beat_track(y=y, sr=SR, units="time")
    return float(np.atleast_1d(tempo)[0]), beats


def main() -> None:
    path, desc = three_minute_wav(44100)
    y = load(path, sample_rate=SR, mono=True).samples[0]
    analyze_rhythm(y[: SR * 20], SR)  # warm-up (JIT)
    _librosa(y[: SR * 20])
    duration = len(y) / SR
    ours_s, r = cpu_seconds(analyze_rhythm, y, SR)
    lib_s, (lib_tempo, lib_beats) = cpu_seconds(_librosa, y, repeat=1)
    print(f"track: {desc}; {duration:.0f} s mono {SR} Hz; {python_info()}; one core")
    print(f"{'what':34s} {'CPU s':>7s} {'x real time':>12s}  result")
    print(f"{'reissue analyze_rhythm':34s} {ours_s:7.3f} {duration / ours_s:12.0f}  "
          f"{r.tempo_bpm:.1f} BPM {r.meter}, {len(r.beats_seconds)} beats, "
          f"confidence {r.confidence:.2f}")
    print(f"{'librosa beat_track (y=...)':34s} {lib_s:7.3f} {duration / lib_s:12.0f}  "
          f"{lib_tempo:.1f} BPM, {len(lib_beats)} beats")
    report = {"track": desc, "duration_seconds": duration, "analyze_rhythm_cpu_seconds": ours_s,
              "real_time_factor": duration / ours_s, "librosa_beat_track_cpu_seconds": lib_s,
              "result": r.to_dict() | {"beats_seconds": len(r.beats_seconds)}}
    if "--wesnoth" in sys.argv:
        rows = []
        print(f"\n{'wesnoth-music track':34s} {'ours BPM':>8s} {'meter':>5s} {'conf':>5s} "
              f"{'librosa BPM':>11s}  {'agree':>5s}")
        for t in wesnoth_tracks():
            x = load(t, sample_rate=SR, mono=True).samples[0]
            ours = analyze_rhythm(x, SR)
            lt, lb = _librosa(x)
            ratio = ours.tempo_bpm / lt if lt else 0.0
            agree = min(abs(ratio - k) / k for k in (1, 2, 3, 0.5, 1 / 3, 1.5, 2 / 3))
            print(f"{Path(t).stem[:34]:34s} {ours.tempo_bpm:8.1f} {ours.meter:>5s} "
                  f"{ours.confidence:5.2f} {lt:11.1f}  {ratio:5.2f}{'' if agree < 0.04 else ' ?'}")
            rows.append({"track": Path(t).name, "tempo_bpm": ours.tempo_bpm, "meter": ours.meter,
                         "confidence": ours.confidence, "librosa_tempo_bpm": lt})
        report["wesnoth"] = rows
    write_report("rhythm", report)


if __name__ == "__main__":
    main()
