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
  :class:`AudioWriter` does the same block by block (long renders stream into it); ``save`` is
  one write of it, so both give the same bytes.
* 16- and 24-bit PCM is written as integers rounded to nearest from ``clip(x) · (2^(b−1) − 1)``
  (computed here: libsndfile's own float conversion truncated toward −∞, a −½ LSB offset).
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
from typing import Iterator, Self

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ParameterError

__all__ = ["Audio", "StreamInfo", "load", "stream", "save", "AudioWriter", "resample",
           "check_audio", "SUPPORTED_READ", "SUPPORTED_WRITE"]

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
                # 16-bit PCM: read the integers and scale while transposing (one pass instead
                # of libsndfile's conversion plus a transposing copy; the same float32 values,
                # k/32768, bit for bit)
                data = f.read(dtype="int16" if subtype == "PCM_16" else "float32",
                              always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as err:
            raise _damaged_error(path, err) from err
    got = data.shape[0]
    if fmt == "MP3" and declared > 0 and got < declared - 2 * 1152:
        # libsndfile takes the length from the Xing/LAME header; a cut file decodes short
        raise _truncated_error(path, f"decoded {got} of {declared} frames")
    if got == 0:
        raise AudioFileError(path, "contains no audio frames", "use a file with sound in it",
                             code="audio.empty")
    if data.dtype == np.int16:
        samples = np.empty(data.shape[::-1], np.float32)
        np.multiply(data.T, np.float32(1.0 / 32768.0), out=samples)
    else:
        samples = np.ascontiguousarray(data.T)
    del data
    if mono and samples.shape[0] > 1:
        samples = samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if sample_rate is not None and int(sample_rate) != rate:
        samples = resample(samples, rate, int(sample_rate))
        rate = int(sample_rate)
    samples = check_audio(samples, rate, name=str(path))
    return Audio(samples, rate, path, subtype)


def resample(samples: np.ndarray, from_rate: int, to_rate: int, *,
             quality: str = "VHQ") -> np.ndarray:
    """Resample ``(channels, frames)`` float32 with soxr (linear phase; very high quality by
    default, ``quality="HQ"`` for analysis copies).

    The output keeps the time origin (no added delay), so event times are preserved.
    """
    import soxr

    if from_rate == to_rate:
        return samples
    out = soxr.resample(samples.T, from_rate, to_rate, quality=quality)
    return np.ascontiguousarray(out.T, dtype=np.float32)


def _to_pcm(samples: np.ndarray, subtype: str) -> np.ndarray:
    """Interleaved ``(frames, channels)`` data for libsndfile: for 16/24-bit PCM the integers
    themselves (clipped, ×(2^(bits−1) − 1), rounded to nearest, ties to even), computed here
    in one vectorised pass — ≈ 3× cheaper than handing libsndfile transposed floats, and
    without the −½ LSB bias of its conversion (measured: it floors); other subtypes get the
    (clipped) floats."""
    if subtype in ("PCM_16", "PCM_24"):
        full = 32767.0 if subtype == "PCM_16" else 8388607.0
        out = np.empty(samples.shape[::-1], np.int16 if subtype == "PCM_16" else np.int32)
        step = 1 << 16  # bounded float temporaries
        for i in range(0, samples.shape[1], step):
            piece = np.clip(samples[:, i:i + step], -1.0, 1.0) * np.float32(full)
            np.rint(piece, out=piece)
            out[i:i + step] = piece.T
        if subtype == "PCM_24":
            out <<= 8  # libsndfile stores the top 24 bits of int32 samples
        return out
    data = np.clip(samples, -1.0, 1.0) if subtype.startswith("PCM") else samples
    return data.T


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
    with AudioWriter(path, audio.sample_rate, audio.channels, subtype=subtype,
                     tags_from=tags_from, tags=tags, overwrite=overwrite,
                     source=audio.path) as out:
        out.write(audio.samples)
    return out.path


class AudioWriter:
    """Write audio block by block, atomically: a temporary file in the destination's folder,
    renamed over the destination when the ``with`` block ends without an error (removed if it
    fails). :func:`save` is one :meth:`write` of the whole signal, so both give the same bytes
    for the same samples whatever the block sizes (integer conversion is per sample).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "x.flac"
    >>> with AudioWriter(target, 44100, 2) as out:
    ...     out.write(np.zeros((2, 1000), np.float32))
    ...     out.write(np.zeros((2, 500), np.float32))
    >>> out.frames, target.exists()
    (1500, True)
    """

    def __init__(self, path: str | os.PathLike, sample_rate: int, channels: int, *,
                 subtype: str | None = None, tags_from: str | os.PathLike | None = None,
                 tags: dict[str, str] | None = None, overwrite: bool = True,
                 source: str | os.PathLike | None = None):
        path = Path(path)
        suffix = path.suffix.lower()
        if suffix not in _WRITE_FORMATS:
            raise AudioFileError(path, f"cannot write {suffix or 'files without a suffix'}",
                                 f"use one of {', '.join(s[1:] for s in SUPPORTED_WRITE)}",
                                 code="audio.unsupported")
        if source is not None and (_same_file(Path(source), path)
                                   or Path(source).resolve() == path.resolve()):
            raise AudioFileError(path, "is the original this audio was read from; originals "
                                 "are never overwritten", "choose another output name",
                                 code="audio.would_overwrite_original")
        if tags_from is not None and _same_file(Path(tags_from), path):
            raise AudioFileError(path, "is the file the tags come from; originals are never "
                                 "overwritten", "choose another output name",
                                 code="audio.would_overwrite_original")
        if not overwrite and path.exists():
            raise AudioFileError(path, "already exists", "pass another name or allow "
                                 "overwriting", code="audio.exists")
        fmt, default_subtype = _WRITE_FORMATS[suffix]
        self.subtype = subtype or default_subtype
        if sample_rate not in _mp3_rates() and fmt == "MP3":
            raise AudioFileError(path, f"MP3 cannot hold {sample_rate} Hz audio",
                                 "resample to 44100 or 48000 Hz, or write FLAC",
                                 code="audio.unsupported")
        folder = path.parent if str(path.parent) else Path(".")
        if not folder.is_dir():
            raise AudioFileError(path, "its folder does not exist", "create the folder first",
                                 code="audio.no_folder")
        self.path, self.fmt, self.sample_rate, self.channels = path, fmt, int(sample_rate), \
            int(channels)
        self.tags_from, self.tags = tags_from, tags
        self.frames = 0
        self._folder = folder
        self._file = None
        self._tmp: Path | None = None

    def __enter__(self) -> Self:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{self.path.stem}.",
                                        suffix=f".part{self.path.suffix.lower()}",
                                        dir=self._folder)
        os.close(fd)
        self._tmp = Path(tmp_name)
        try:
            with _quiet_stderr():
                self._file = sf.SoundFile(str(self._tmp), "w", self.sample_rate, self.channels,
                                          self.subtype, format=self.fmt)
        except BaseException as err:  # noqa: BLE001 - _fail cleans up and re-raises
            self._fail(err)
        return self

    def write(self, samples: np.ndarray) -> None:
        """Append float32 ``(channels, n)`` samples."""
        if samples.ndim != 2 or samples.shape[0] != self.channels:
            raise ParameterError(f"block shape {samples.shape} does not match "
                                 f"{self.channels} channels")
        try:
            with _quiet_stderr():
                self._file.write(_to_pcm(samples, self.subtype))
        except BaseException as err:  # noqa: BLE001 - _fail cleans up and re-raises
            self._fail(err)
        self.frames += samples.shape[1]

    def __exit__(self, kind, value, tb) -> None:
        if self._file is None:
            return
        if kind is not None:
            self._file.close()
            self._tmp.unlink(missing_ok=True)
            return
        try:
            with _quiet_stderr():
                self._file.close()
            if self.tags_from is not None or self.tags:
                _write_tags(self._tmp, self.tags_from, self.tags or {})
            with open(self._tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.replace(self._tmp, self.path)
        except BaseException as err:  # noqa: BLE001 - _fail cleans up and re-raises
            self._fail(err)

    def _fail(self, err: BaseException):
        if self._file is not None and not self._file.closed:
            with contextlib.suppress(Exception):  # already failing: the first error wins
                self._file.close()
        if self._tmp is not None:
            self._tmp.unlink(missing_ok=True)
        path = self.path
        if isinstance(err, sf.LibsndfileError):
            raise AudioFileError(path, f"cannot be written as {self.fmt}/{self.subtype} ({err})",
                                 "choose another format or subtype",
                                 code="audio.write_failed") from err
        if isinstance(err, OSError):
            raise AudioFileError(path, f"cannot be written ({err.strerror or err})",
                                 "check the folder's permissions and free space",
                                 code="audio.write_failed") from err
        raise err


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
