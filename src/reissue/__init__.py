"""reissue — analyse a song and render a modern re-production of it that keeps its identity.

The Python API mirrors the CLI::

    import reissue
    audio = reissue.load("song.flac")
    analysis = reissue.analyze(audio)
    print(analysis.sound.integrated_lufs)

Heavy modules (librosa, numba) load on first use, so ``import reissue`` and ``reissue --help``
stay fast.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .errors import AudioFileError, ParameterError, ReissueError
from .io import Audio, load, save

__all__ = ["__version__", "Audio", "load", "save", "analyze", "ReissueError", "ParameterError",
           "AudioFileError"]


def analyze(audio, sample_rate=None):
    """Analyse audio; see :func:`reissue.analysis.analyze`."""
    from .analysis import analyze as _analyze

    return _analyze(audio, sample_rate)
