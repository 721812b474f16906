"""Audio files in and out: the only module that touches audio on disk.

Conventions
-----------
* Samples are ``float32`` arrays shaped ``(channels, frames)``, always 2-D (mono is ``(1, n)``);
  soundfile's ``(frames, channels)`` is transposed here and nowhere else.
* Every format is decoded by libsndfile (through ``soundfile``): WAV, FLAC, OGG/Vorbis, OGG/Opus,
  MP3 and AIFF. One decoder for all formats keeps timing decoder-neutral: libsndfile's MP3 decoder
  (mpg123) honours the LAME/Xing gapless header, so a beat at 1.000 s reads at 1.000 s in MP3 as in
  WAV. (pedalboard's MP3 reader was measured adding a 1105-sample lead-in, so it is not used here.)
* An original is only ever opened for reading. :func:`save` writes to a temporary file in the
  destination folder and renames it over the final name, so a crash never leaves a half-written file
  under the final name, and it refuses to write over the file the audio was loaded from.
* Expected failures raise :class:`~reissue.errors.AudioFileError` with the path, the problem and
  what to do.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ParameterError

__all__ = ["Audio", "StreamInfo", "load", "stream", "save", "resample", "check_audio",
           "SUPPORTED_READ", "SUPPORTED_WRITE"]

#: File suffixes :func:`load` reads (libsndfile's container detection decides; this list is for messages).
SUPPORTED_READ = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".aifc")
#: Suffix -> (libsndfile format, default subtype) for :func:`save`.
_WRITE_FORMATS = {
    ".wav": ("WAV", "PCM_24"),
    ".flac": ("FLAC", "PCM_24"),
    ".ogg": ("OGG", "VORBIS"),
    ".mp3": ("MP3", "MPEG_LAYER_III"),
    ".aif": ("AIFF", "PCM_24"),
    ".aiff": ("AIFF", "PCM_24"),
}
SUPPORTED_WRITE = tuple(_WRITE_FORMATS)
_CONVERT_HINT = "convert it to WAV or FLAC first (e.g. `ffmpeg -i IN OUT.flac`)"


@dataclass
class Audio:
    """Decoded audio.

    Attributes
    ----------
    samples : np.ndarray [shape=(channels, frames), dtype=float32]
        The signal, nominally in [-1, 1] (values beyond are kept: they are the file's content).
    sample_rate : int
        Frames per second.
    path : Path or None
        The file it was read from, if any.
    subtype : str or None
        The source's libsndfile subtype (``"PCM_16"``, ``"VORBIS"`` …), kept so outputs can match it.
    """

    samples: np.ndarray
    sample_rate: int
    path: Path | None = None
    subtype: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        self.samples = check_audio(self.samples, self.sample_rate, name=str(self.path or "audio"))

    @property
    def channels(self) -> int:
        return int(self.samples.shape[0])

    @property
    def frames(self) -> int:
        return int(self.samples.shape[1])

    @property
    def duration_seconds(self) -> float:
        return self.frames / float(self.sample_rate)

    def mono(self) -> np.ndarray:
        """The mean of the channels, shape ``(frames,)``."""
        return self.samples.mean(axis=0) if self.channels > 1 else self.samples[0]

    def __repr__(self) -> str:  # short: the samples would flood a log
        src = f", path={str(self.path)!r}" if self.path else ""
        return (f"Audio(channels={self.channels}, frames={self.frames}, "
                f"sample_rate={self.sample_rate}{src})")


def check_audio(samples: np.ndarray, sample_rate: int, *, name: str = "audio") -> np.ndarray:
    """Validate the layout every public entry expects and return float32 ``(channels, frames)``.

    Raises :class:`ParameterError` for a programming mistake (wrong shape, non-positive rate) and
    :class:`AudioFileError` when the content is unusable (empty, NaN/Inf).
    """
    if not isinstance(samples, np.ndarray):
        raise ParameterError(f"samples must be a numpy array, got {type(samples).__name__}")
    if samples.ndim != 2:
        raise ParameterError(
            f"samples must be 2-D (channels, frames), got shape {samples.shape}; "
            "use samples[np.newaxis] for mono")
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive integer")
    if samples.shape[0] < 1 or samples.shape[0] > 64:
        raise ParameterError(f"samples has {samples.shape[0]} channels; expected 1–64 "
                             "(is the array (frames, channels)? transpose it)")
    if samples.shape[1] == 0:
        raise AudioFileError(name, "contains no audio frames", "use a file with sound in it",
                             code="audio.empty")
    if samples.dtype != np.float32:
        samples = samples.astype(np.float32)
    # chunked so a long file does not need a second, boolean copy of itself
    step = 1 << 20
    if not all(np.isfinite(samples[:, i:i + step]).all()
               for i in range(0, samples.shape[1], step)):
        bad = int(np.size(samples) - np.count_nonzero(np.isfinite(samples)))
        raise AudioFileError(name, f"contains {bad} NaN or infinite samples",
                             "the file is damaged; re-export it from its source",
                             code="audio.not_finite")
    return samples


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence C-level stderr (mpg123 prints 'Warning: Xing stream size off…' for damaged MP3s)."""
    try:
        fd = os.dup(2)
    except OSError:  # no stderr at all
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(fd, 2)
        os.close(fd)


def _declared_longer(extra_info: str) -> bool:
    """True when libsndfile's header log says a chunk is declared longer than the file holds."""
    for line in extra_info.splitlines():
        m = re.match(r"\s*(data|SSND|RIFF|FORM)\s*:\s*(\d+)\s*\(should be (\d+)\)", line)
        if m and int(m.group(2)) > int(m.group(3)) and int(m.group(2)) < 0xFFFFFFF0:
            return True
    return False


@dataclass(frozen=True)
class StreamInfo:
    """What a file says about itself before it is decoded."""

    path: Path
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str


def _check_path(path: Path) -> None:
    if not path.exists():
        raise AudioFileError(path, "no such file", "check the path", code="audio.missing")
    if path.is_dir():
        raise AudioFileError(path, "is a folder, not an audio file", "pass the files inside it",
                             code="audio.not_a_file")
    try:
        size = path.stat().st_size
    except OSError as err:
        raise AudioFileError(path, f"cannot be read ({err.strerror})", "check its permissions",
                             code="audio.unreadable") from err
    if size == 0:
        raise AudioFileError(path, "is empty (0 bytes)", "the copy is incomplete; copy it again",
                             code="audio.empty")


def _open(path: Path) -> sf.SoundFile:
    """Open read-only with libsndfile, turning its errors into :class:`AudioFileError`."""
    _check_path(path)
    suffix = path.suffix.lower()
    try:
        with _quiet_stderr():
            return sf.SoundFile(str(path), mode="r")
    except sf.LibsndfileError as err:
        if suffix in SUPPORTED_READ:
            raise AudioFileError(
                path, f"is not a valid {suffix[1:].upper()} file (its content is not "
                "recognised)", "the file is damaged or mislabelled; re-export it",
                code="audio.not_audio") from err
        raise AudioFileError(
            path, "is not an audio file reissue can read",
            f"supported formats are {', '.join(s[1:] for s in SUPPORTED_READ)}; "
            + _CONVERT_HINT, code="audio.unsupported") from err
    except OSError as err:
        raise AudioFileError(path, f"cannot be read ({err})",
                             "check the file and its permissions",
                             code="audio.unreadable") from err


def _header_truncated(f: sf.SoundFile) -> bool:
    if f.format in ("WAV", "WAVEX", "AIFF", "RF64", "W64"):
        return _declared_longer(f.extra_info)
    if f.format == "OGG":
        return "lacks an end-of-stream" in f.extra_info
    return False


def _truncated_error(path: Path, detail: str) -> AudioFileError:
    return AudioFileError(path, f"is truncated ({detail})", "re-copy or re-export the file",
                          code="audio.truncated")


def _damaged_error(path: Path, err: Exception) -> AudioFileError:
    reason = str(err).split(":")[-1].strip().rstrip(".")
    return AudioFileError(path, f"is damaged or truncated ({reason})",
                          "re-copy or re-export the file", code="audio.truncated")


def stream(path: str | os.PathLike, *, block_seconds: float = 10.0
           ) -> Iterator[tuple[StreamInfo, np.ndarray]]:
    """Decode a file block by block: yields ``(info, float32 (channels, n))``.

    The same checks as :func:`load` apply (a damaged block raises :class:`AudioFileError` when it
    is reached), so a one-hour file is measured in bounded memory.
    """
    path = Path(path)
    f = _open(path)
    with f:
        info = StreamInfo(path, int(f.samplerate), int(f.channels), int(f.frames), f.format,
                          f.subtype)
        if _header_truncated(f):
            raise _truncated_error(path, "the file ends before its audio does")
        block = max(1, int(block_seconds * info.sample_rate))
        if info.format == "MP3":
            # libsndfile 1.2's MP3 reader returned zeros near block edges for reads shorter than
            # ≈ 46k frames (measured on a click track); reads of ≥ 2^17 frames were exact
            block = -(-max(block, 1 << 17) // 1152) * 1152
        got = 0
        while True:
            try:
                with _quiet_stderr():
                    data = f.read(block, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as err:
                raise _damaged_error(path, err) from err
            if data.shape[0] == 0:
                break
            chunk = np.ascontiguousarray(data.T)
            if not np.isfinite(chunk).all():
                raise AudioFileError(path, "contains NaN or infinite samples",
                                     "the file is damaged; re-export it from its source",
                                     code="audio.not_finite")
            got += chunk.shape[1]
            yield info, chunk
    if got == 0:
        raise AudioFileError(path, "contains no audio frames", "use a file with sound in it",
                             code="audio.empty")
    if info.format == "MP3" and info.frames > 0 and got < info.frames - 2 * 1152:
        raise _truncated_error(path, f"decoded {got} of {info.frames} frames")


def load(path: str | os.PathLike, *, sample_rate: int | None = None, mono: bool = False) -> Audio:
    """Decode an audio file.

    Parameters
    ----------
    path : path-like
        WAV, FLAC, OGG (Vorbis/Opus), MP3 or AIFF, any sample rate, bit depth and channel count.
    sample_rate : int, optional
        Resample to this rate with soxr (VHQ). ``None`` keeps the file's rate.
    mono : bool
        Mix down to one channel (mean of channels).

    Returns
    -------
    Audio
        ``float32`` samples shaped ``(channels, frames)``.

    Raises
    ------
    AudioFileError
        Missing, empty, truncated, non-audio or unsupported files, and NaN/Inf content. The
        message names the file and says what to do.

    Examples
    --------
    >>> from reissue.demo import write_demo
    >>> import tempfile, pathlib
    >>> p = write_demo(pathlib.Path(tempfile.mkdtemp()) / "demo.wav")
    >>> load(p).sample_rate
    44100
    """
    path = Path(path)
    f = _open(path)
    with f:
        declared, rate, fmt, subtype = f.frames, int(f.samplerate), f.format, f.subtype
        if _header_truncated(f):
            raise _truncated_error(path, "the file ends before its audio does")
        try:
            with _quiet_stderr():
                data = f.read(dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise _damaged_error(path, err) from err
    got = data.shape[0]
    if fmt == "MP3" and declared > 0 and got < declared - 2 * 1152:
        # libsndfile takes the length from the Xing/LAME header; a cut file decodes short
        raise _truncated_error(path, f"decoded {got} of {declared} frames")
    if got == 0:
        raise AudioFileError(path, "contains no audio frames", "use a file with sound in it",
                             code="audio.empty")
    samples = np.ascontiguousarray(data.T)
    del data
    if mono and samples.shape[0] > 1:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != rate:
        samples = resample(samples, rate, int(sample_rate))
        rate = int(sample_rate)
    samples = check_audio(samples, rate, name=str(path))
    return Audio(samples, rate, path, subtype)


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """Resample ``(channels, frames)`` float32 with soxr (very high quality, linear phase).

    The output keeps the time origin (no added delay), so event times are preserved.
    """
    import soxr

    if from_rate == to_rate:
        return samples
    out = soxr.resample(samples.T, from_rate, to_rate, quality="VHQ")
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def save(audio: Audio, path: str | os.PathLike, *, subtype: str | None = None,
         tags_from: str | os.PathLike | None = None, tags: dict[str, str] | None = None,
         overwrite: bool = True) -> Path:
    """Write audio atomically (temporary file in the same folder, then rename).

    Parameters
    ----------
    audio : Audio
    path : path-like
        Destination; its suffix picks the format (wav, flac, ogg, mp3, aiff).
    subtype : str, optional
        libsndfile subtype (``"PCM_16"``, ``"PCM_24"``, ``"FLOAT"`` …). Default: 24-bit PCM for
        lossless formats, Vorbis/MP3 for lossy ones.
    tags_from : path-like, optional
        Copy the metadata tags (title, artist, album …) of this file with mutagen.
    tags : dict, optional
        Extra tags to set (after the copied ones), e.g. ``{"comment": "reissue modern-pop"}``.
    overwrite : bool
        When False, an existing destination raises instead of being replaced.

    Returns
    -------
    Path
        The final path.

    Raises
    ------
    AudioFileError
        Unsupported suffix, destination is the audio's own source file, or the folder is not writable.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _WRITE_FORMATS:
        raise AudioFileError(path, f"cannot write {suffix or 'files without a suffix'}",
                             f"use one of {', '.join(s[1:] for s in SUPPORTED_WRITE)}",
                             code="audio.unsupported")
    if audio.path is not None and (_same_file(audio.path, path)
                                   or Path(audio.path).resolve() == path.resolve()):
        raise AudioFileError(path, "is the original this audio was read from; originals are "
                             "never overwritten", "choose another output name",
                             code="audio.would_overwrite_original")
    if tags_from is not None and _same_file(Path(tags_from), path):
        raise AudioFileError(path, "is the file the tags come from; originals are never "
                             "overwritten", "choose another output name",
                             code="audio.would_overwrite_original")
    if not overwrite and path.exists():
        raise AudioFileError(path, "already exists", "pass another name or allow overwriting",
                             code="audio.exists")
    fmt, default_subtype = _WRITE_FORMATS[suffix]
    subtype = subtype or default_subtype
    if audio.sample_rate not in _mp3_rates() and fmt == "MP3":
        raise AudioFileError(path, f"MP3 cannot hold {audio.sample_rate} Hz audio",
                             "resample to 44100 or 48000 Hz, or write FLAC", code="audio.unsupported")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise AudioFileError(path, "its folder does not exist", "create the folder first",
                             code="audio.no_folder")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".part{suffix}", dir=folder)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        data = np.clip(audio.samples, -1.0, 1.0) if subtype.startswith("PCM") else audio.samples
        with _quiet_stderr():
            sf.write(str(tmp), data.T, audio.sample_rate, format=fmt, subtype=subtype)
        if tags_from is not None or tags:
            _write_tags(tmp, tags_from, tags or {})
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except sf.LibsndfileError as err:
        tmp.unlink(missing_ok=True)
        raise AudioFileError(path, f"cannot be written as {fmt}/{subtype} ({err})",
                             "choose another format or subtype", code="audio.write_failed") from err
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise AudioFileError(path, f"cannot be written ({err.strerror or err})",
                             "check the folder's permissions and free space",
                             code="audio.write_failed") from err
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _mp3_rates() -> tuple[int, ...]:
    return (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)


def _write_tags(target: Path, source: str | os.PathLike | None, extra: dict[str, str]) -> None:
    """Copy easy tags (title, artist, album, date, genre, tracknumber …) and set ``extra``.

    Tags that the target container cannot hold are skipped; tagging never fails a save.
    """
    import mutagen
    from mutagen.easyid3 import EasyID3

    values: dict[str, list[str]] = {}
    if source is not None:
        try:
            src = mutagen.File(str(source), easy=True)
        except Exception:  # noqa: BLE001 - tags are best effort, the audio is what matters
            src = None
        if src is not None and src.tags is not None:
            for key, val in src.tags.items():
                values[str(key).lower()] = [str(v) for v in (val if isinstance(val, list) else [val])]
    for key, val in extra.items():
        values[key.lower()] = [str(val)]
    if not values:
        return
    try:
        dst = mutagen.File(str(target), easy=True)
    except Exception:  # noqa: BLE001
        return
    if dst is None:
        return
    if dst.tags is None:
        try:
            dst.add_tags()
        except Exception:  # noqa: BLE001
            return
    is_id3 = isinstance(dst.tags, EasyID3)
    for key, val in values.items():
        if is_id3 and key not in EasyID3.valid_keys:
            continue
        try:
            dst.tags[key] = val
        except Exception:  # noqa: BLE001 - a key this container cannot hold
            continue
    try:
        dst.save()
    except Exception:  # noqa: BLE001
        return
