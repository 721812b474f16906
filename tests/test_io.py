"""reissue.io: formats, timing, atomic writes, tags, clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reissue import Audio, AudioFileError, ParameterError, load, save
from reissue.errors import ReissueError

from .signals import click_track, onset_seconds

FORMATS = [("wav", None), ("flac", None), ("ogg", None), ("mp3", None), ("aiff", None)]


@pytest.mark.parametrize("suffix,subtype", FORMATS)
@pytest.mark.parametrize("sample_rate", [44100, 48000])
@pytest.mark.parametrize("channels", [1, 2])
def test_round_trip_keeps_length_and_timing(tmp_path, suffix, subtype, sample_rate, channels):
    x = click_track(sample_rate, 3.0, [1.0, 2.0], channels=channels)
    path = save(Audio(x, sample_rate), tmp_path / f"click.{suffix}", subtype=subtype)
    y = load(path)
    assert y.sample_rate == sample_rate
    assert y.channels == channels
    assert y.frames == x.shape[1], f"{suffix}: {y.frames} frames, wrote {x.shape[1]}"
    assert y.samples.dtype == np.float32
    # the click written at 1.000 s reads at 1.000 s (≤ 1 ms), whatever the codec
    assert abs(onset_seconds(y.samples, sample_rate) - onset_seconds(x, sample_rate)) <= 0.001


@pytest.mark.parametrize("subtype", ["PCM_U8", "PCM_16", "PCM_24", "PCM_32", "FLOAT", "DOUBLE"])
def test_reads_any_wav_bit_depth(tmp_path, subtype):
    x = click_track(22050, 1.5, [1.0], channels=2)
    path = tmp_path / "d.wav"
    sf.write(path, x.T, 22050, subtype=subtype)
    y = load(path)
    assert y.frames == x.shape[1]
    assert np.max(np.abs(y.samples - x)) < (0.01 if subtype == "PCM_U8" else 1e-4)


def test_multichannel_and_odd_rate(tmp_path):
    x = np.zeros((6, 11025), np.float32)
    x[3, 100] = 0.5
    sf.write(tmp_path / "six.flac", x.T, 11025)
    y = load(tmp_path / "six.flac")
    assert y.samples.shape == (6, 11025) and y.sample_rate == 11025
    assert y.samples[3, 100] == pytest.approx(0.5, abs=1e-4)


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg (LAME) not installed")
def test_lame_mp3_from_ffmpeg_has_no_lead_in(tmp_path):
    """A beat at 1.000 s in an MP3 made by LAME (through ffmpeg) reads at 1.000 s."""
    x = click_track(44100, 3.0, [1.0], channels=2)
    wav = tmp_path / "c.wav"
    sf.write(wav, x.T, 44100)
    mp3 = tmp_path / "c.mp3"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-i", str(wav), "-codec:a", "libmp3lame",
                    "-b:a", "192k", str(mp3)], check=True)
    y = load(mp3)
    assert abs(onset_seconds(y.samples, 44100) - 1.0) <= 0.001
    assert abs(y.frames - x.shape[1]) <= 1


def test_pedalboard_lead_in_is_avoided(tmp_path):
    """Documents why io does not use pedalboard's MP3 reader: it shifts time by its lead-in."""
    from pedalboard.io import AudioFile

    x = click_track(44100, 3.0, [1.0], channels=2)
    path = save(Audio(x, 44100), tmp_path / "c.mp3")
    with AudioFile(str(path)) as f:
        pb = f.read(f.frames)
    assert onset_seconds(pb, 44100) - 1.0 > 0.01  # pedalboard: late by its decoder delay
    assert abs(onset_seconds(load(path).samples, 44100) - 1.0) <= 0.001  # ours: on time


def test_load_resamples_and_mixes_down(tmp_path):
    x = click_track(48000, 2.0, [1.0], channels=2)
    path = save(Audio(x, 48000), tmp_path / "c.flac")
    y = load(path, sample_rate=44100, mono=True)
    assert y.sample_rate == 44100 and y.channels == 1
    assert y.frames == 88200
    assert abs(onset_seconds(y.samples, 44100, 0.05) - 1.0) <= 0.001


def test_original_is_never_opened_for_writing(tmp_path):
    x = click_track(44100, 1.0, [0.5])
    path = save(Audio(x, 44100), tmp_path / "orig.flac")
    before = path.read_bytes(), path.stat().st_mtime_ns
    path.chmod(0o444)  # read-only original still loads
    audio = load(path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    with pytest.raises(AudioFileError, match="never overwritten"):
        save(audio, path)
    with pytest.raises(AudioFileError, match="never overwritten"):
        save(Audio(x, 44100), tmp_path / "orig.flac", tags_from=path)
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before


def test_save_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    x = click_track(44100, 1.0, [0.5])
    dst = tmp_path / "out.wav"
    dst.write_bytes(b"previous version")

    def broken_write(self, *args, **kwargs):  # the disk fills up in the middle of the data
        Path(self.name).write_bytes(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(sf.SoundFile, "write", broken_write)
    with pytest.raises(AudioFileError, match="No space left"):
        save(Audio(x, 44100), dst)
    assert dst.read_bytes() == b"previous version"  # the old file is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]  # no temp left behind
    monkeypatch.undo()
    save(Audio(x, 44100), dst)
    assert load(dst).frames == x.shape[1]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.wav"]


@pytest.mark.parametrize("suffix", ["flac", "mp3", "ogg"])
def test_tags_are_copied_from_the_source(tmp_path, suffix):
    import mutagen

    x = click_track(44100, 1.0, [0.5])
    src = save(Audio(x, 44100), tmp_path / f"src.{suffix}",
               tags={"title": "Old Song", "artist": "The Band"})
    out = save(load(src), tmp_path / f"new.{suffix}", tags_from=src,
               tags={"comment": "reissue test"} if suffix != "mp3" else None)
    tags = mutagen.File(out, easy=True).tags
    assert tags["title"] == ["Old Song"] and tags["artist"] == ["The Band"]


def test_save_refuses_unknown_suffix(tmp_path):
    with pytest.raises(AudioFileError, match=r"cannot write \.xyz"):
        save(Audio(np.zeros((1, 10), np.float32), 44100), tmp_path / "a.xyz")


# --------------------------------------------------------------------------- bad input

def _truncate(path: Path, keep: float = 0.5) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def _bad_files(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    x = (np.random.default_rng(0).standard_normal((2, 44100 * 3)) * 0.1).astype(np.float32)
    flac = _truncate(save(Audio(x, 44100), tmp_path / "cut.flac"))
    mp3 = _truncate(save(Audio(x, 44100), tmp_path / "cut.mp3"))
    wav = _truncate(save(Audio(x, 44100), tmp_path / "cut.wav"))
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    text = tmp_path / "notes.wav"
    text.write_text("these are not the samples you are looking for\n" * 20)
    other = tmp_path / "song.xyz"
    other.write_text("plain text")
    nan = tmp_path / "nan.wav"
    y = x.copy()
    y[0, 1000] = np.nan
    sf.write(nan, y.T, 44100, subtype="FLOAT")
    inf = tmp_path / "inf.flac.wav"
    y = x.copy()
    y[1, 5] = np.inf
    sf.write(inf, y.T, 44100, subtype="FLOAT")
    return {
        "missing": (tmp_path / "nope.flac", "no such file"),
        "folder": (tmp_path, "is a folder"),
        "empty": (empty, r"is empty \(0 bytes\)"),
        "not audio": (text, "not a valid WAV file"),
        "unsupported": (other, "not an audio file reissue can read.*convert it"),
        "truncated flac": (flac, "truncated"),
        "truncated mp3": (mp3, "truncated"),
        "truncated wav": (wav, "truncated"),
        "nan": (nan, "NaN or infinite"),
        "inf": (inf, "NaN or infinite"),
    }


@pytest.mark.parametrize("case", ["missing", "folder", "empty", "not audio", "unsupported",
                                  "truncated flac", "truncated mp3", "truncated wav", "nan", "inf"])
def test_bad_input_gives_clear_error(tmp_path, case):
    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(AudioFileError, match=message) as info:
        load(path)
    assert info.value.path == path
    assert str(path) in str(info.value)
    assert isinstance(info.value, ReissueError)
    assert "\n" not in str(info.value)


def test_check_audio_rejects_wrong_layout():
    with pytest.raises(ParameterError, match="2-D"):
        Audio(np.zeros(100, np.float32), 44100)
    with pytest.raises(ParameterError, match="transpose"):
        Audio(np.zeros((1000, 100), np.float32), 44100)
    with pytest.raises(ParameterError, match="sample_rate"):
        Audio(np.zeros((1, 100), np.float32), 0)
    assert isinstance(ParameterError("x"), ValueError)


@pytest.mark.parametrize("suffix", ["wav", "flac", "mp3", "ogg", "aiff"])
def test_stream_yields_the_same_samples_as_load(tmp_path, suffix):
    from reissue.io import stream

    x = click_track(44100, 5.3, [1.0, 4.0, 5.0])
    path = save(Audio(x, 44100), tmp_path / f"c.{suffix}")
    blocks = [(info, b) for info, b in stream(path, block_seconds=1.0)]
    info = blocks[0][0]
    assert info.sample_rate == 44100 and info.channels == 2
    assert len(blocks) == (2 if suffix == "mp3" else 6)  # MP3 reads ≥ 2^17 frames at a time
    np.testing.assert_array_equal(np.concatenate([b for _, b in blocks], axis=1),
                                  load(path).samples)


@pytest.mark.parametrize("case", ["missing", "not audio", "truncated flac", "truncated mp3",
                                  "truncated wav", "nan"])
def test_stream_gives_the_same_clear_errors(tmp_path, case):
    from reissue.io import stream

    path, message = _bad_files(tmp_path)[case]
    with pytest.raises(AudioFileError, match=message):
        for _ in stream(path):
            pass


def test_pcm_writes_round_to_nearest(tmp_path):
    """16- and 24-bit files hold round(clip(x)·(2^(b−1) − 1)) exactly (rounded to nearest, not
    truncated), in both channels."""
    import soundfile as sf

    from reissue.io import Audio, save

    x = np.array([[0.5 / 32767, 1.6 / 32767, -1.6 / 32767, 1.2, -1.5, 0.25, -0.3, 0.0],
                  [0.1, -0.1, 0.9999, -0.9999, 0.123456, -0.654321, 2.0, -2.0]], np.float32)
    for subtype, full, dtype in (("PCM_16", 32767, "int16"), ("PCM_24", 8388607, "int32")):
        save(Audio(x, 44100), tmp_path / "a.wav", subtype=subtype)
        got = sf.read(tmp_path / "a.wav", dtype=dtype)[0].T.astype(np.int64)
        if subtype == "PCM_24":
            got >>= 8
        want = np.rint(np.clip(x, -1, 1).astype(np.float32) * np.float32(full)).astype(np.int64)
        assert np.array_equal(got, want), subtype


@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_writer_in_blocks_gives_the_bytes_of_one_save(tmp_path, rng, suffix):
    """The streaming writer (used for long refreshes) writes exactly what save() writes."""
    from reissue.io import AudioWriter

    x = (rng.standard_normal((2, 44100 * 2 + 17)) * 0.3).astype(np.float32)
    save(Audio(x, 44100), tmp_path / f"one.{suffix}")
    with AudioWriter(tmp_path / f"blocks.{suffix}", 44100, 2) as out:
        for i in range(0, x.shape[1], 10007):
            out.write(x[:, i:i + 10007])
    assert (tmp_path / f"one.{suffix}").read_bytes() == (tmp_path / f"blocks.{suffix}").read_bytes()
    # an error inside the block leaves nothing behind
    with pytest.raises(RuntimeError), AudioWriter(tmp_path / f"failed.{suffix}", 44100, 2) as out:
        out.write(x[:, :1000])
        raise RuntimeError("stop")
    assert not any(p.name.startswith(".failed") or p.name.startswith("failed")
                   for p in tmp_path.iterdir())
