"""Benchmark: restoration (reissue.produce.restore) — cost on 3-minute stereo 44.1 kHz tracks,
one core, and quality on the demo song against its clean render.

Budget (issue 4): the whole refresh of a 3-minute track fits in 4 CPU-s, restoration in 0.8.
Reported, never asserted:

* CPU seconds per stage and in total for (a) the standard 3-minute track (a real recording;
  :func:`restore` decides its own chain), (b) the demo song looped to 3:00 (every stage a hissy,
  clicky, band-limited record gets), (c) the worst case: every stage forced on the wide stereo
  track (click detection per channel), and the mono→stereo stage on its mono fold-down;
* the zero-phase DC filter against ``scipy.signal.sosfiltfilt`` (time and difference);
* on the 54 s demo song: noise floor (``reissue.analysis.sound.noise_floor_dbfs``) and SDR =
  10·log10(Σclean² / Σ(out − clean)²) against ``render_demo(noise=False)``, for the noisy input,
  the restoration, and the restoration without each stage; clicks found vs the 12 inserted.

Run: ``.venv/bin/python benchmarks/restore.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import cpu_seconds, peak_rss_mb, pin_one_core, python_info, three_minute_wav, write_report  # noqa: E402,E501

pin_one_core()

import numpy as np  # noqa: E402
import scipy.signal  # noqa: E402

from reissue.analysis import sound  # noqa: E402
from reissue.produce import restore as R  # noqa: E402

SR = 44100


def sdr_db(out: np.ndarray, clean: np.ndarray) -> float:
    clean = clean.astype(np.float64)
    return float(10 * np.log10(np.sum(clean ** 2) / np.sum((out.astype(np.float64) - clean) ** 2)))


def timed_restore(x: np.ndarray, snd) -> tuple[float, dict]:
    secs, (out, report) = cpu_seconds(R.restore, x, SR, sound=snd)
    return secs, {s.stage: round(s.cpu_seconds, 3) for s in report.stages if s.applied} | {
        "decisions": {s.stage: ("applied: " if s.applied else "skipped: ") + s.reason
                      for s in report.stages}}


def timed_chain(chain: list, x: np.ndarray) -> tuple[float, dict]:
    best, per = float("inf"), {}
    R.run_chain(chain, x, SR)  # warm-up
    for _ in range(3):
        t0 = time.process_time()
        _, info = R.run_chain(chain, x, SR)
        total = time.process_time() - t0
        if total < best:
            best = total
            per = {type(s).__name__: round(secs, 3) for s, (_, secs) in zip(chain, info)}
    return best, per


def main() -> None:
    from reissue.demo import render_demo
    from reissue.io import load

    # warm-up: JIT compilation (cached on disk after the first run) is not restoration
    warm = render_demo(sample_rate=SR)[:, : SR * 6]
    R.restore(warm, SR)
    R.restore(warm[:1], SR)

    path, desc = three_minute_wav(SR)
    track = load(path).samples
    duration = track.shape[1] / SR
    rows = []

    # (a) the standard track, as restore() decides
    snd_s, snd = cpu_seconds(sound.analyze_sound, track, SR, repeat=1)
    a_s, a_stages = timed_restore(track, snd)
    rows.append((f"(a) {desc}: restore() as decided", a_s, a_stages))

    # (b) the demo song looped to 3:00: the whole chain of an old record
    noisy = render_demo(sample_rate=SR)
    clean = render_demo(sample_rate=SR, noise=False)
    looped = np.ascontiguousarray(np.tile(noisy, (1, -(-track.shape[1] // noisy.shape[1])))[
        :, : track.shape[1]])
    snd_b = sound.analyze_sound(looped, SR)
    b_s, b_stages = timed_restore(looped, snd_b)
    rows.append(("(b) demo song looped to 3:00: restore() as decided", b_s, b_stages))

    # (c) worst case: everything forced on the wide stereo track, and widening of its mono mix
    forced = [R.DCBlocker(), R.ClickRemover(),
              R.SpectralStage([R.HissReducer(), R.BandwidthExtender(cutoff_hz=11000.0)])]
    c_s, c_stages = timed_chain(forced, track)
    mono = np.ascontiguousarray(track.mean(axis=0, keepdims=True))
    w_s, _ = cpu_seconds(R.MonoToStereo().process, mono, SR)
    rows.append(("(c) worst case, all forced, clicks per channel", c_s, c_stages))
    rows.append(("    + mono→stereo of the mono fold-down", w_s, {}))

    # the DC filter against scipy's full-rate zero-phase filter
    dc_s, dc_out = cpu_seconds(R.DCBlocker().process, track, SR)
    sos = scipy.signal.butter(2, 10.0, "high", fs=SR, output="sos")
    ref_s, ref = cpu_seconds(scipy.signal.sosfiltfilt, sos, track.astype(np.float64), axis=-1,
                             repeat=1)
    inner = slice(SR, -SR)
    dc_err_db = float(10 * np.log10(np.sum((dc_out[:, inner] - ref[:, inner]) ** 2)
                                    / np.sum(ref[:, inner] ** 2)))

    # quality on the 54 s demo song
    snd_demo = sound.analyze_sound(noisy, SR)
    out, report = R.restore(noisy, SR, sound=snd_demo)
    chain, _ = R.restoration_chain(snd_demo, sample_rate=SR, channels=2)
    quality = {
        "noise_floor_dbfs": {"noisy": sound.noise_floor_dbfs(noisy, SR),
                             "clean": sound.noise_floor_dbfs(clean, SR),
                             "restored": sound.noise_floor_dbfs(out, SR)},
        "sdr_db": {"noisy": sdr_db(noisy, clean), "restored": sdr_db(out, clean)},
    }
    ablations = {
        "without clicks": [s for s in chain if not isinstance(s, R.ClickRemover)],
        "without hiss": [s if not isinstance(s, R.SpectralStage) else R.SpectralStage(
            [p for p in s.processors if not isinstance(p, R.HissReducer)]) for s in chain],
        "without bandwidth": [s if not isinstance(s, R.SpectralStage) else R.SpectralStage(
            [p for p in s.processors if not isinstance(p, R.BandwidthExtender)]) for s in chain],
        "DC only": [R.DCBlocker()],
    }
    for name, ch in ablations.items():
        y, _ = R.run_chain(ch, noisy, SR)
        quality["sdr_db"][name] = sdr_db(y, clean)
        quality["noise_floor_dbfs"][name] = sound.noise_floor_dbfs(y, SR)
    diff = np.abs(noisy[0] - clean[0]) > 0.02
    starts = np.flatnonzero(diff & ~np.concatenate([[False], diff[:-1]]))
    truth = starts[np.concatenate([[True], np.diff(starts) > 100])] / SR
    found = np.array(report.stage("clicks").details.get("click_seconds", []))
    hits = int(sum(np.any(np.abs(found - t) < 0.001) for t in truth)) if found.size else 0
    quality["clicks"] = {"inserted": int(truth.size), "found": int(found.size),
                         "found_within_1ms": hits}

    print(f"{python_info()}; one core; 3:00 stereo {SR} Hz tracks; budget 0.8 CPU-s")
    print(f"sound analysis of the standard track (context): {snd_s:.3f} CPU-s")
    print(f"{'what':52s} {'CPU s':>7s} {'x real time':>12s}  per stage")
    for name, secs, stages in rows:
        per = ", ".join(f"{k} {v:.3f}" for k, v in stages.items() if k != "decisions")
        print(f"{name:52s} {secs:7.3f} {duration / secs:12.0f}  {per}")
    print("decisions on (a):")
    for k, v in a_stages["decisions"].items():
        print(f"  {k:10s} {v}")
    print(f"DC filter: ours {dc_s:.3f} s vs scipy sosfiltfilt {ref_s:.3f} s; "
          f"difference {dc_err_db:.1f} dB re signal")
    print(f"demo song (54 s): noise floor {quality['noise_floor_dbfs']['noisy']:.2f} → "
          f"{quality['noise_floor_dbfs']['restored']:.2f} dBFS "
          f"(clean render {quality['noise_floor_dbfs']['clean']:.2f})")
    for k, v in quality["sdr_db"].items():
        print(f"  SDR vs clean, {k:18s} {v:6.2f} dB   noise floor "
              f"{quality['noise_floor_dbfs'].get(k, float('nan')):7.2f} dBFS")
    print(f"  clicks: {quality['clicks']}")
    print(f"peak memory: {peak_rss_mb():.0f} MB")
    write_report("restore", {
        "track": desc, "duration_seconds": duration, "sound_analysis_cpu_seconds": snd_s,
        "standard_track": {"cpu_seconds": a_s, "stages": a_stages},
        "demo_looped": {"cpu_seconds": b_s, "stages": b_stages},
        "worst_case_forced": {"cpu_seconds": c_s, "stages": c_stages,
                              "mono_to_stereo_cpu_seconds": w_s},
        "dc_filter": {"ours_cpu_seconds": dc_s, "scipy_sosfiltfilt_cpu_seconds": ref_s,
                      "difference_db": dc_err_db},
        "demo_quality": quality, "restore_report": report.to_dict(),
        "peak_rss_mb": peak_rss_mb(),
    })


if __name__ == "__main__":
    main()
