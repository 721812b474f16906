"""Analysis: pure functions from audio to dataclasses.

Conventions
-----------
* ``analyze(audio)`` takes an :class:`~reissue.io.Audio` (or ``samples, sample_rate``) and returns an
  :class:`Analysis`; nothing here reads files, logs or keeps global state.
* Each topic has its own module (``sound`` for loudness/spectrum/stereo/noise) returning its own
  frozen dataclass with a ``to_dict()`` in the ``reissue analyze --json`` schema.
* Times are seconds from the start of the file; levels are dB/LUFS as each module documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .sound import SoundAnalysis, analyze_sound

__all__ = ["Analysis", "analyze", "analyze_sound", "SoundAnalysis"]


@dataclass(frozen=True)
class Analysis:
    """Everything reissue knows about a recording."""

    duration_seconds: float
    sample_rate: int
    channels: int
    sound: SoundAnalysis
    file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict in the ``reissue analyze --json`` schema."""
        out: dict[str, Any] = {
            "file": self.file,
            "duration_seconds": round(self.duration_seconds, 4),
            "sample_rate": self.sample_rate,
            "channels": self.channels,
            "sound": self.sound.to_dict(),
        }
        return out


def analyze(audio, sample_rate: int | None = None) -> Analysis:
    """Analyse a recording.

    Parameters
    ----------
    audio : Audio or np.ndarray [shape=(channels, frames)]
        Decoded audio; with a bare array, ``sample_rate`` is required.
    sample_rate : int, optional

    Returns
    -------
    Analysis
    """
    from ..io import Audio, check_audio

    if isinstance(audio, Audio):
        samples, rate, path = audio.samples, audio.sample_rate, audio.path
    else:
        if sample_rate is None:
            from ..errors import ParameterError

            raise ParameterError("analyze(samples) needs sample_rate=… when given a bare array")
        samples, rate, path = check_audio(np.asarray(audio), sample_rate), int(sample_rate), None
    return Analysis(
        duration_seconds=samples.shape[1] / rate,
        sample_rate=rate,
        channels=samples.shape[0],
        sound=analyze_sound(samples, rate),
        file=str(path) if path is not None else None,
    )
