"""Benchmark: mastering a 3-minute stereo 44.1 kHz track on one core, with a peer in the same run.

Reports CPU seconds (best of 3 after a warm-up, ``time.process_time``), the real-time factor and
the stage breakdown of :func:`reissue.produce.master.master` at three loudness targets, plus what
the result measures (loudness, true peak by :mod:`reissue.analysis.sound`; distance of the band
levels to the reference curve). The peer is Matchering 2 (``pip install matchering``, GPL-3.0)
mastering the same track against the same reference file if it is installed, else pedalboard's
own chain (high-pass, compressor, gain, limiter) — the output says which. Budget for the master:
≤ 1.2 CPU-s per 3-minute track. Never asserts. Run: ``.venv/bin/python benchmarks/master.py``.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (cpu_seconds, peak_rss_mb, pin_one_core, python_info,  # noqa: E402
                     three_minute_wav, write_report)

pin_one_core()

import numpy as np  # noqa: E402

from reissue.analysis import sound  # noqa: E402
from reissue.io import Audio, load, save  # noqa: E402
from reissue.produce import master as M  # noqa: E402

SR = 44100


def band_distance_db(x: np.ndarray, curve: dict) -> float:
    """RMS over bands 50 Hz–12.5 kHz of (levels − curve), both normalised by their mean there."""
    labels, _, levels = sound.third_octave_bands(*sound.long_term_spectrum(x, SR), SR)
    pairs = [(lv, curve[lb]) for lb, lv in zip(labels, levels)
             if lb in curve and 50 <= float(lb) <= 12500]
    d = np.array([a - b for a, b in pairs])
    return float(np.sqrt(np.mean((d - d.mean()) ** 2)))


def measure(y: np.ndarray, curve: dict) -> dict:
    return {"lufs": sound.integrated_loudness(y, SR), "dbtp": sound.true_peak_dbtp(y, SR),
            "band_distance_db": band_distance_db(y, curve),
            "dc": float(np.abs(y.mean(axis=1)).max()), "finite": bool(np.isfinite(y).all())}


def stage_breakdown(x: np.ndarray, target: M.MasterTarget) -> dict:
    """CPU seconds of each stage, run as master() runs them."""
    out = {}
    out["input loudness"], _ = cpu_seconds(M.integrated_lufs_fast, x, SR)
    out["spectra + EQ fit"], fit = cpu_seconds(
        lambda: M.fit_eq(*M._ms_spectra(x, SR), SR, target.curve_db, max_db=target.eq_max_db,
                         width=target.width, crossovers_hz=target.crossovers_hz))
    comps = tuple(M.Compressor(target_gr_db=a, ratio=r, attack_ms=at, release_ms=rel,
                               rms_ms=rms, restore_level=True)
                  for a, (r, at, rel, rms) in zip(target.compression_db, M.BAND_DYNAMICS))
    mb = M.MultibandProcessor(eq_db=fit.eq_db, width=target.width,
                              crossovers_hz=target.crossovers_hz, compressors=comps)
    out["multiband (FFT EQ/split/width + 3 compressors)"], (y, _) = cpu_seconds(
        mb.process_report, x, SR)
    glue = M.Compressor(target_gr_db=target.glue_db, ratio=2.0, attack_ms=30.0, release_ms=250.0)
    out["glue compressor"], _ = cpu_seconds(lambda: glue._run(y, SR, np.empty_like(y)))
    lim = M.TruePeakLimiter(target.ceiling_dbtp, target_lufs=target.loudness_lufs,
                            max_limiting_lu=target.max_limiting_lu)
    out["loudness + true-peak limiter (incl. verification)"], _ = cpu_seconds(
        lambda: lim._run(y, SR, np.empty_like(y)))
    return out


def hand_written_vs_library(x: np.ndarray) -> list[tuple[str, float, str]]:
    """Each stage written here next to the library way of doing it (same signal, one core)."""
    import pedalboard as pb
    import scipy.signal

    rows = []
    secs, _ = cpu_seconds(pb.Compressor(threshold_db=-24.0, ratio=2.0, attack_ms=30.0,
                                        release_ms=250.0).process, x, SR)
    rows.append(("pedalboard Compressor (one band, unlinked, fixed threshold)", secs, ""))
    comp = M.Compressor(threshold_db=-24.0, ratio=2.0, attack_ms=30.0, release_ms=250.0)
    secs, _ = cpu_seconds(comp.process, x, SR)
    rows.append(("reissue Compressor (linked, soft knee, same settings)", secs, ""))

    def lr4_split():
        lp1 = scipy.signal.butter(2, 120, fs=SR, output="sos")
        hp1 = scipy.signal.butter(2, 120, "high", fs=SR, output="sos")
        lp2 = scipy.signal.butter(2, 4000, fs=SR, output="sos")
        hp2 = scipy.signal.butter(2, 4000, "high", fs=SR, output="sos")
        low = scipy.signal.sosfilt(np.vstack([lp1, lp1]), x, axis=-1)
        rest = scipy.signal.sosfilt(np.vstack([hp1, hp1]), x, axis=-1)
        mid = scipy.signal.sosfilt(np.vstack([lp2, lp2]), rest, axis=-1)
        high = scipy.signal.sosfilt(np.vstack([hp2, hp2]), rest, axis=-1)
        # phase compensation of the low band: the LR4 all-pass at 4 kHz (LP + HP)
        low = scipy.signal.sosfilt(np.vstack([lp2, lp2]), low, axis=-1) + \
            scipy.signal.sosfilt(np.vstack([hp2, hp2]), low, axis=-1)
        return low, mid, high

    secs, _ = cpu_seconds(lr4_split, repeat=1)
    rows.append(("scipy sosfilt LR4 3-band split, phase-compensated (no EQ)", secs, ""))
    mb = M.MultibandProcessor(eq_db={"100": 2.0, "1000": 0.0, "8000": 2.0})
    secs, _ = cpu_seconds(mb.split, x, SR)
    rows.append(("reissue linear-phase EQ + width + 3-band split (one FFT pass)", secs, ""))
    y = x * np.float32(4.0)  # +12 dB: peaks to limit
    secs, z = cpu_seconds(pb.Limiter(threshold_db=-1.0, release_ms=80.0).process, y, SR)
    rows.append(("pedalboard Limiter (JUCE) at -1 dB", secs,
                 f"{sound.true_peak_dbtp(z, SR):.2f} dBTP"))
    secs, z = cpu_seconds(M.TruePeakLimiter(-1.0).process, y, SR)
    rows.append(("reissue TruePeakLimiter at -1 dBTP (verified)", secs,
                 f"{sound.true_peak_dbtp(z, SR):.2f} dBTP"))
    return rows


def pedalboard_chain(x: np.ndarray, target_lufs: float) -> np.ndarray:
    import pedalboard as pb

    board = pb.Pedalboard([pb.HighpassFilter(30.0), pb.Compressor(-18.0, 2.0, 30.0, 250.0)])
    y = board(x, SR)
    y = y * np.float32(10 ** ((target_lufs - sound.integrated_loudness(y, SR)) / 20))
    return pb.Pedalboard([pb.Limiter(-1.5, 100.0)])(y, SR)


def main() -> None:
    path, desc = three_minute_wav(SR)
    x = load(path).samples
    duration = x.shape[1] / SR
    from reissue.demo import render_demo

    ref = render_demo(noise=False, vintage=False)
    ref_curve = sound.analyze_sound(ref, SR).to_dict()["band_levels_db"]
    ref_lufs = sound.integrated_loudness(ref, SR)
    print(f"track: {desc}; {duration:.0f} s stereo {SR} Hz; {python_info()}; one core")
    print(f"reference: demo song, modern mix ({ref_lufs:.1f} LUFS); EQ target = its 1/3-octave "
          "curve")
    before = measure(x, ref_curve)
    print(f"input: {before['lufs']:.2f} LUFS, {before['dbtp']:.2f} dBTP, band distance to "
          f"reference {before['band_distance_db']:.2f} dB")
    M.master(x[:, : SR * 5], SR, M.MasterTarget())  # warm-up: JIT-cache load is not mastering

    rows, report = [], {"track": desc, "duration_seconds": duration, "runs": []}
    for lufs in (-16.0, -14.0, -9.0):
        target = M.MasterTarget(loudness_lufs=lufs, curve_db=ref_curve)
        secs, (y, rep) = cpu_seconds(M.master, x, SR, target)
        m = measure(y, ref_curve)
        rows.append((f"reissue master → {lufs:g} LUFS", secs, m, rep.limiter.crest_limited))
        again, _ = M.master(x, SR, target)
        report["runs"].append({"target_lufs": lufs, "cpu_seconds": secs,
                               "real_time_factor": duration / secs, **m,
                               "deterministic": bool(np.array_equal(again, y)),
                               "report": rep.to_dict()})
    breakdown = stage_breakdown(x, M.MasterTarget(loudness_lufs=-9.0, curve_db=ref_curve))

    peer_name = "matchering"
    try:
        import matchering as mg
    except ImportError:
        mg = None
    with tempfile.TemporaryDirectory() as tmp:
        if mg is not None:
            ref_path = Path(tmp) / "reference.wav"
            save(Audio(ref, SR), ref_path, subtype="PCM_16")
            out_path = Path(tmp) / "matchering.wav"
            mg.log(default_handler=lambda *a: None)

            def run_peer():
                mg.process(target=str(path), reference=str(ref_path),
                           results=[mg.pcm24(str(out_path))])

            peer_s, _ = cpu_seconds(run_peer, repeat=1)
            y_peer = load(out_path).samples
            peer_label = "Matchering 2 (files in/out, its own limiter)"
        else:
            peer_name = "pedalboard"
            peer_s, y_peer = cpu_seconds(pedalboard_chain, x, -14.0)
            peer_label = "pedalboard HPF+Compressor+gain+Limiter (-14 LUFS)"
    ours_ref_s, (y_ref, _) = cpu_seconds(
        M.master, x, SR, M.MasterTarget(loudness_lufs=float(np.clip(ref_lufs, -30, -5)),
                                        curve_db=ref_curve))
    rows.append((f"reissue master → reference ({ref_lufs:.1f} LUFS)", ours_ref_s,
                 measure(y_ref, ref_curve), False))
    rows.append((peer_label, peer_s, measure(y_peer, ref_curve), False))

    print(f"{'what':48s} {'CPU s':>6s} {'x RT':>6s} {'LUFS':>7s} {'dBTP':>6s} {'dist dB':>7s}")
    for name, secs, m, crest in rows:
        print(f"{name:48s} {secs:6.2f} {duration / secs:6.0f} {m['lufs']:7.2f} {m['dbtp']:6.2f} "
              f"{m['band_distance_db']:7.2f}{'  crest-limited' if crest else ''}")
    print("written here vs the library way (CPU s):")
    versus = hand_written_vs_library(x)
    for name, secs, res in versus:
        print(f"  {name:62s} {secs:6.3f}  {res}")
    print("stage breakdown at -9 LUFS (CPU s, best of 3):")
    for name, secs in breakdown.items():
        print(f"  {name:52s} {secs:6.3f}")
    print(f"  {'sum':52s} {sum(breakdown.values()):6.3f}")
    import os

    print(f"peer: {peer_name}; budget for the master: 1.2 CPU-s per 3 min; peak memory "
          f"{peak_rss_mb():.0f} MB; load average {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores (contention inflates CPU seconds)")
    report.update({"stage_breakdown_cpu_seconds": breakdown,
                   "versus_library": [{"what": n, "cpu_seconds": t, "result": r}
                                      for n, t, r in versus],
                   "peer": {"name": peer_name, "cpu_seconds": peer_s,
                            **measure(y_peer, ref_curve)},
                   "reissue_vs_reference": {"cpu_seconds": ours_ref_s,
                                            **measure(y_ref, ref_curve)},
                   "input": before, "peak_rss_mb": peak_rss_mb()})
    print(f"report: {write_report('master', report)}")


if __name__ == "__main__":
    t0 = time.process_time()
    main()
    print(f"benchmark total CPU: {time.process_time() - t0:.0f} s")
