"""Analysis: pure functions from audio to dataclasses.

Conventions
-----------
* :func:`analyze` takes an :class:`~reissue.io.Audio` (or ``samples, sample_rate``) and returns an
  :class:`Analysis`; nothing here reads files, logs or keeps global state (:func:`analyze_path`
  streams a file through :mod:`reissue.io`).
* Each topic has its own module returning a frozen dataclass with ``to_dict()`` in the
  ``reissue analyze --json`` schema: ``sound`` (loudness, peaks, spectrum, stereo, noise),
  ``rhythm`` (tempo, beats, downbeats, meter), ``tonal`` (tuning, key, chords), ``melody``
  (predominant melody notes), ``form`` (sections), ``mood`` (valence/arousal), ``era``.
* Times are seconds from the start of the file.

Data flow
---------
The sound meter runs on the full-rate signal (it streams, so a file never has to be in memory
twice). Every musical analysis runs on one mono 22.05 kHz copy, made once with soxr: rhythm
first (beats), then tonal (beat-synchronous chords), melody, form (beats + downbeats), mood (from
the others' results) and era (from the sound).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .sound import SoundAnalysis, SoundMeter, analyze_sound

__all__ = ["Analysis", "analyze", "analyze_path", "analyze_signal", "analysis_signal",
           "analyze_sound", "SoundAnalysis", "ANALYSIS_RATE", "PARTS", "beats_per_bar"]

#: Sample rate of the mono copy every musical analysis works on.
ANALYSIS_RATE = 22050
#: soxr quality of that copy: "HQ" (20-bit, stop band ≈ −120 dB) is far beyond what any feature
#: reads (≤ 80 dB of range) and ≈ 30 % cheaper than "VHQ" (0.05 vs 0.07 CPU-s for 3 minutes).
ANALYSIS_QUALITY = "HQ"
#: The parts :func:`analyze` can compute ("sound" is always computed).
PARTS = ("rhythm", "tonal", "melody", "form", "mood", "era")


@dataclass(frozen=True)
class Analysis:
    """Everything reissue knows about a recording. Parts not requested are ``None``."""

    duration_seconds: float
    sample_rate: int
    channels: int
    sound: SoundAnalysis
    rhythm: Any = None
    tonal: Any = None
    melody: Any = None
    form: Any = None
    mood: Any = None
    era: Any = None
    file: str | None = None
    #: the shared low-rate front end (:class:`~reissue.analysis.frontend.LowRateFeatures`), kept
    #: so a refresh can compare beat chroma without recomputing it; not part of the JSON
    features: Any = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the ``reissue analyze --json`` schema."""
        out: dict[str, Any] = {
            "file": self.file,
            "duration_seconds": round(self.duration_seconds, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "sound": self.sound.to_dict(),
        }
        if self.rhythm is not None:
            out["rhythm"] = self.rhythm.to_dict()
        if self.tonal is not None or self.melody is not None:
            tonal = self.tonal.to_dict() if self.tonal is not None else {}
            if self.melody is not None:
                tonal.update(self.melody.to_dict())
            out["tonal"] = tonal
        if self.form is not None:
            out["form"] = self.form.to_dict()
        if self.mood is not None:
            out["mood"] = self.mood.to_dict()
        if self.era is not None:
            out["era"] = self.era.to_dict()
        return out


def analysis_signal(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """The mono 22.05 kHz copy every musical analysis works on (channel mean, soxr HQ)."""
    from ..io import resample

    mono = samples.mean(axis=0, dtype=np.float32)[None] if samples.shape[0] > 1 else samples
    return resample(mono, sample_rate, ANALYSIS_RATE, quality=ANALYSIS_QUALITY)[0]


def analyze(audio, sample_rate: int | None = None, *, parts=PARTS) -> Analysis:
    """Analyse a recording.

    Parameters
    ----------
    audio : Audio or np.ndarray [shape=(channels, frames)]
        Decoded audio; with a bare array, ``sample_rate`` is required.
    sample_rate : int, optional
    parts : iterable of str
        Which of :data:`PARTS` to compute (mood needs rhythm and tonal; form needs rhythm).

    Returns
    -------
    Analysis
    """
    from ..errors import ParameterError
    from ..io import Audio, check_audio

    if isinstance(audio, Audio):
        samples, rate, path = audio.samples, audio.sample_rate, audio.path
    else:
        if sample_rate is None:
            raise ParameterError("analyze(samples) needs sample_rate=… when given a bare array")
        samples, rate, path = check_audio(np.asarray(audio), sample_rate), int(sample_rate), None
    meter = SoundMeter(rate, samples.shape[0])
    meter.process(samples)
    wanted = _check_parts(parts)
    y = analysis_signal(samples, rate) if wanted else None
    return analyze_signal(meter.result(), y, samples.shape[1] / rate, rate, samples.shape[0],
                    wanted, str(path) if path is not None else None)


def analyze_path(path: str | os.PathLike, *, parts=PARTS, block_seconds: float = 10.0
                 ) -> Analysis:
    """Analyse a file, streaming it: the full-rate signal is never held in memory whole.

    Memory is the mono 22.05 kHz copy (≈ 5.3 MB per minute) plus the analyses' working sets.
    """
    import soxr

    from ..io import stream

    wanted = _check_parts(parts)
    meter = None
    resampler = None
    y = np.zeros(0, np.float32)
    filled = 0
    info = None

    def append(piece: np.ndarray) -> None:
        nonlocal y, filled
        if filled + len(piece) > len(y):  # grow geometrically (rare: the size is known ahead)
            grown = np.zeros(max(2 * len(y), filled + len(piece)), np.float32)
            grown[:filled] = y[:filled]
            y = grown
        y[filled:filled + len(piece)] = piece
        filled += len(piece)

    for info, block in stream(path, block_seconds=block_seconds):
        if meter is None:
            meter = SoundMeter(info.sample_rate, info.channels)
            if wanted:
                # preallocate the mono analysis copy from the header's length
                y = np.zeros(int(info.frames * ANALYSIS_RATE / info.sample_rate) + 64, np.float32)
                if info.sample_rate != ANALYSIS_RATE:
                    resampler = soxr.ResampleStream(info.sample_rate, ANALYSIS_RATE, 1,
                                                    dtype="float32", quality=ANALYSIS_QUALITY)
        meter.process(block)
        if wanted:
            mono = block.mean(axis=0, dtype=np.float32)
            append(resampler.resample_chunk(mono) if resampler is not None else mono)
    if wanted and resampler is not None:
        append(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
    return analyze_signal(meter.result(), y[:filled] if wanted else None,
                          info.frames / info.sample_rate, info.sample_rate, info.channels,
                          wanted, str(path))


def _check_parts(parts) -> tuple[str, ...]:
    from ..errors import ParameterError

    parts = tuple(parts)
    unknown = [p for p in parts if p not in PARTS and p != "sound"]
    if unknown:
        raise ParameterError(f"unknown analysis part(s) {unknown}; choose from {PARTS}")
    return tuple(p for p in PARTS if p in parts)


def analyze_signal(sound: SoundAnalysis, y: np.ndarray | None, duration: float, rate: int,
                   channels: int, wanted: tuple[str, ...] = PARTS, file: str | None = None,
                   *, timings: dict[str, float] | None = None) -> Analysis:
    """The musical analyses of ``y`` (from :func:`analysis_signal`), given the sound analysis.

    ``timings``, if given, receives the CPU seconds of each part (for benchmarks and reports).
    """
    import time

    wanted = _check_parts(wanted)
    want = set(wanted)
    rhythm = tonal = melody = form = mood = era = spec = None
    sr = ANALYSIS_RATE
    clock = {} if timings is None else timings

    def timed(name, fn, *args, **kwargs):
        t0 = time.process_time()
        result = fn(*args, **kwargs)
        clock[name] = clock.get(name, 0.0) + time.process_time() - t0
        return result

    if {"rhythm", "tonal", "form", "mood"} & want:
        from .rhythm import analyze_rhythm

        rhythm = timed("rhythm", analyze_rhythm, y, sr)
    if {"tonal", "mood"} & want:
        from .tonal import analyze_tonal

        tonal = timed("tonal", analyze_tonal, y, sr, beats_seconds=rhythm.beats_seconds)
    if "melody" in want:
        from .melody import analyze_melody

        melody = timed("melody", analyze_melody, y, sr)
    if {"form", "mood"} & want:
        from .frontend import low_rate_features

        spec = timed("form", low_rate_features, y, sr)
    if "form" in want:
        from .form import analyze_form

        form = timed("form", analyze_form, y, sr, beats_seconds=rhythm.beats_seconds,
                     downbeats_seconds=rhythm.downbeats_seconds, features=spec)
    if "mood" in want:
        from .frontend import onset_density
        from .mood import analyze_mood, harmonic_tension

        bpb = beats_per_bar(rhythm.meter)
        bar_seconds = bpb * 60.0 / rhythm.tempo_bpm if rhythm.tempo_bpm > 0 else 2.0
        mood = timed("mood", lambda: analyze_mood(
            tempo_bpm=rhythm.tempo_bpm, loudness_lufs=sound.integrated_lufs,
            spectral_tilt_db_per_octave=sound.spectral_tilt_db_per_octave,
            onset_density_per_second=onset_density(spec),
            mode="minor" if tonal.key.endswith("minor") else "major",
            key_confidence=tonal.key_confidence,
            harmonic_tension=harmonic_tension(tonal.chords, bar_seconds=bar_seconds)))
    if "era" in want:
        from .era import estimate_era

        era = timed("era", estimate_era, sound)
    return Analysis(
        duration_seconds=duration, sample_rate=rate, channels=channels, sound=sound,
        rhythm=rhythm if "rhythm" in want else None, tonal=tonal if "tonal" in want else None,
        melody=melody, form=form, mood=mood, era=era, file=file, features=spec)


def beats_per_bar(meter: str) -> int:
    """Counted beats per bar of a meter label: 4 for 4/4, 2 for 6/8 (dotted quarters), 3 for 9/8."""
    try:
        top, bottom = (int(v) for v in meter.split("/"))
    except ValueError:
        return 4
    return top // 3 if bottom == 8 and top % 3 == 0 else top
