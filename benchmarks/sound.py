"""Benchmark: the foundation's sound analysis of a 3-minute stereo 44.1 kHz track, one core.

Reports CPU seconds, real-time factor and peak memory of ``analyze_sound`` (everything in the
issue's item 4), with pyloudnorm's integrated loudness and scipy's 4× ``resample_poly`` true peak
timed in the same run as references. Run: ``make bench-sound``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, peak_rss_mb, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

import numpy as np  # noqa: E402
import pyloudnorm  # noqa: E402
import scipy.signal  # noqa: E402

from reissue.analysis import sound  # noqa: E402


STREAMED = """
import resource, sys, time
from reissue.io import stream
from reissue.analysis.sound import SoundMeter

def run(path):
    meter = None
    for info, block in stream(path):
        meter = meter or SoundMeter(info.sample_rate, info.channels)
        meter.process(block)
    return meter.result()

run(sys.argv[1])  # warm-up (JIT)
t = time.process_time()
run(sys.argv[1])
print(time.process_time() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def streamed(path: Path) -> tuple[float, float]:
    """What ``reissue analyze`` does: the sound meter fed block by block from the file, in a
    fresh process (imports, decoding and JIT included in its peak memory)."""
    import subprocess

    res = subprocess.run([sys.executable, "-c", STREAMED, str(path)], check=True,
                         capture_output=True, text=True)
    cpu, peak = map(float, res.stdout.split())
    return cpu, peak


def main() -> None:
    sr = 44100
    from reissue.io import load

    path, desc = three_minute_wav(sr)
    stream_s, stream_peak_mb = streamed(path)
    x = load(path).samples
    sound.analyze_sound(x[:, : sr * 5], sr)  # warm-up: JIT compilation is not the analysis
    base_mb = peak_rss_mb()
    duration = x.shape[1] / sr
    ours_s, result = cpu_seconds(sound.analyze_sound, x, sr)
    peak_mb = peak_rss_mb()
    meter = pyloudnorm.Meter(sr)
    ref_s, ref_lufs = cpu_seconds(meter.integrated_loudness, x.T, repeat=1)
    lufs_s, lufs = cpu_seconds(sound.integrated_loudness, x, sr)
    tp_s, tp = cpu_seconds(sound.true_peak_dbtp, x, sr)
    rp_s, rp = cpu_seconds(lambda: float(20 * np.log10(np.abs(scipy.signal.resample_poly(
        x, 4, 1, axis=1)).max())), repeat=1)

    rows = [
        ("reissue analyze_sound (all of item 4)", ours_s, None),
        ("  of which integrated loudness", lufs_s, f"{lufs:.2f} LUFS"),
        ("  of which true peak", tp_s, f"{tp:.2f} dBTP"),
        ("pyloudnorm integrated_loudness", ref_s, f"{ref_lufs:.2f} LUFS"),
        ("scipy resample_poly 4x true peak", rp_s, f"{rp:.2f} dBTP"),
    ]
    print(f"track: {desc}; {duration:.0f} s stereo {sr} Hz; {python_info()}; one core")
    print(f"{'what':44s} {'CPU s':>8s} {'x real time':>12s}  result")
    for name, secs, res in rows:
        print(f"{name:44s} {secs:8.3f} {duration / secs:12.0f}  {res or ''}")
    print(f"peak memory: {peak_mb:.0f} MB (process), {peak_mb - base_mb:.0f} MB above the loaded "
          f"track")
    print(f"streamed from the file (as `reissue analyze` does), in a fresh process: "
          f"{stream_s:.3f} CPU-s, process peak {stream_peak_mb:.0f} MB (imports included)")
    print(f"speed-up over pyloudnorm's integrated loudness alone: {ref_s / ours_s:.1f}x for all "
          f"measures")
    write_report("sound", {
        "track": desc, "duration_seconds": duration, "analyze_sound_cpu_seconds": ours_s,
        "real_time_factor": duration / ours_s, "integrated_lufs_cpu_seconds": lufs_s,
        "true_peak_cpu_seconds": tp_s, "pyloudnorm_integrated_cpu_seconds": ref_s,
        "scipy_resample_poly_true_peak_cpu_seconds": rp_s, "peak_rss_mb": peak_mb,
        "rss_above_track_mb": peak_mb - base_mb,
        "streamed_cpu_seconds": stream_s, "streamed_process_peak_mb": stream_peak_mb, "integrated_lufs": lufs,
        "pyloudnorm_lufs": ref_lufs, "true_peak_dbtp": tp, "scipy_true_peak_dbtp": rp,
        "result": result.to_dict(),
    })


if __name__ == "__main__":
    main()
