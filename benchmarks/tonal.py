"""Benchmark: tonal analysis (tuning, key, section keys, chords) of 3 minutes of 22.05 kHz mono.

Reports CPU seconds on one core (best of 5 after a warm-up) of ``analyze_tonal`` with and without
beat times and of its stages, next to the librosa pieces a textbook pipeline would use
(``estimate_tuning``, ``chroma_cqt``, ``chroma_stft``, HPSS) on the same signal. Accuracy is
scored separately by the accuracy set's ``run.py`` (see /work/data/accuracy/HOW-TO-RUN.md).
Run: ``.venv/bin/python benchmarks/tonal.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    cpu_seconds, pin_one_core, python_info, three_minute_wav, write_report)

pin_one_core()

import numpy as np  # noqa: E402

from reissue.analysis import tonal  # noqa: E402

SR = 22050


def main() -> None:
    from reissue.io import load

    path, desc = three_minute_wav(44100)
    y = load(path, sample_rate=SR, mono=True).samples[0]
    duration = len(y) / SR
    beats = np.arange(0.25, duration, 0.5)  # a 120 BPM grid: cost does not depend on its truth
    p = tonal._Params()

    full_s, result = cpu_seconds(tonal.analyze_tonal, y, SR)
    beat_s, _ = cpu_seconds(tonal.analyze_tonal, y, SR, beats_seconds=beats)
    resample_s, x = cpu_seconds(tonal._resample, y, SR)
    stft_s, mag = cpu_seconds(lambda: tonal._magnitudes(tonal._frame_view(x)))
    mag = mag[tonal._tuning_frames(len(mag))]
    tuning_s, cents = cpu_seconds(tonal._tuning_from_magnitudes, mag)
    spec = tonal._front_end(y, SR)
    evidence_s, _ = cpu_seconds(tonal._evidence, spec, p)
    back_s, _ = cpu_seconds(tonal._analyze, spec, None, p)
    back_beats_s, _ = cpu_seconds(tonal._analyze, spec, beats, p)

    import librosa

    ref = {}
    ref["librosa estimate_tuning"], _ = cpu_seconds(librosa.estimate_tuning, y=y, sr=SR,
                                                    repeat=1)
    ref["librosa chroma_cqt (KS baseline)"], _ = cpu_seconds(librosa.feature.chroma_cqt, y=y,
                                                             sr=SR, repeat=1)
    ref["librosa chroma_stft"], _ = cpu_seconds(librosa.feature.chroma_stft, y=y, sr=SR,
                                                repeat=1)
    ref["librosa effects.hpss"], _ = cpu_seconds(librosa.effects.hpss, y, repeat=1)

    rows = [
        ("analyze_tonal, no beats (frames)", full_s),
        ("analyze_tonal, with beats", beat_s),
        ("  resample to 5512.5 Hz (soxr HQ)", resample_s),
        ("  STFT 2048 / hop 512", stft_s),
        ("  tuning", tuning_s),
        ("  whitening, harmonics, chroma", evidence_s),
        ("  key + sections + chords (no beats)", back_s),
        ("  key + sections + chords (beats)", back_beats_s),
    ] + list(ref.items())
    print(f"signal: {desc}; {duration:.0f} s mono {SR} Hz; {python_info()}; one core")
    print(f"{'what':42s} {'CPU s':>8s} {'x real time':>12s}")
    for name, secs in rows:
        print(f"{name:42s} {secs:8.3f} {duration / secs:12.0f}")
    print(f"result: tuning {result.tuning_cents:+.1f} cents, key {result.key} "
          f"(confidence {result.key_confidence:.2f}), {len(result.section_keys)} section(s), "
          f"{len(result.chords)} chord segments")
    write_report("tonal", {
        "signal": desc, "duration_seconds": duration,
        "cpu_seconds": {name.strip(): secs for name, secs in rows},
        "budget_cpu_seconds_per_3_minutes": 0.3,
        "tuning_cents": cents, "key": result.key, "key_confidence": result.key_confidence,
    })


if __name__ == "__main__":
    main()
