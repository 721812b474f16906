"""The library: content-addressed originals, analysis cache, versions, jobs, migrations."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat

import numpy as np
import pytest
import soundfile as sf

from reissue import __version__
from reissue.errors import AudioFileError, ParameterError
from reissue.library import (
    SCHEMA_VERSION,
    ConfirmationRequired,
    Library,
    LibraryError,
    NotFoundError,
    detect_format,
    sanitize_filename,
)



def tone(path, *, seconds=1.0, rate=22050, freq=440.0, channels=2, fmt=None):
    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * freq * t)
    sf.write(str(path), np.stack([y] * channels, axis=1), rate, format=fmt)
    return path


@pytest.fixture
def lib(tmp_path):
    with Library(tmp_path / "lib" / "library.sqlite3") as library:
        yield library


def sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_original_stored_once_by_content_read_only(lib, tmp_path):
    src = tone(tmp_path / "song.wav")
    original, created = lib.add_original(src)
    assert created and original.sha256 == sha(src)
    blob = lib.original_path(original)
    assert blob.read_bytes() == src.read_bytes()
    assert blob.name == f"{original.sha256}.wav" and blob.parent.parent.name == "originals"
    assert stat.S_IMODE(blob.stat().st_mode) == 0o444
    assert (original.format, original.sample_rate, original.channels) == ("wav", 22050, 2)
    assert original.duration_seconds == pytest.approx(1.0, abs=1e-6)
    # same bytes under another name: the stored one comes back
    copy = tmp_path / "other name.wav"
    copy.write_bytes(src.read_bytes())
    again, created = lib.add_original(copy, filename="whatever.wav")
    assert not created and again.id == original.id and again.filename == "song.wav"
    assert lib.list_originals()[1] == 1


def test_user_filenames_never_become_paths(lib, tmp_path):
    src = tone(tmp_path / "x.wav")
    original, _ = lib.add_original(src, filename="../../etc/pass\x00wd;rm -rf.wav")
    assert original.filename == "pass_wd;rm -rf.wav"
    assert lib.original_path(original).name == f"{original.sha256}.wav"
    files = [p for p in lib.files_dir.rglob("*") if p.is_file()]
    assert all("pass" not in p.name for p in files)


@pytest.mark.parametrize("name, expected", [
    ("../../etc/passwd", "passwd"), ("C:\\music\\My Song?.wav", "My Song_.wav"),
    ("", "untitled"), ("...", "untitled"), ("a" * 300 + ".flac", "a" * 115 + ".flac"),
    ("tab\there.mp3", "tab_here.mp3"), ("Été – déjà vu.ogg", "Été – déjà vu.ogg"),
])
def test_sanitize_filename(name, expected):
    assert sanitize_filename(name) == expected


def test_non_audio_and_empty_are_refused(lib, tmp_path):
    text = tmp_path / "notes.wav"
    text.write_text("this is not audio\n" * 100)
    with pytest.raises(AudioFileError) as err:
        lib.add_original(text)
    assert err.value.code == "audio.unsupported"
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 2)), 44100)
    with pytest.raises(AudioFileError) as err:
        detect_format(empty)
    assert err.value.code == "audio.empty"
    assert lib.list_originals() == ([], 0)
    assert not any((lib.files_dir / "originals").rglob("*.*"))


def test_aiff_gets_a_browser_playable_copy(lib, tmp_path):
    src = tone(tmp_path / "old.aiff", fmt="AIFF")
    original, _ = lib.add_original(src)
    assert original.format == "aiff"
    play = lib.playback_path(original)
    assert play.suffix == ".flac"
    y, rate = sf.read(str(play))
    ref, _ = sf.read(str(src))
    assert rate == 22050 and np.max(np.abs(y - ref)) < 1e-4  # 24-bit FLAC copy
    wav, _ = lib.add_original(tone(tmp_path / "b.wav", freq=220))
    assert lib.playback_path(wav) == lib.original_path(wav)


def test_search_lists_newest_first_and_escapes_wildcards(lib, tmp_path):
    a, _ = lib.add_original(tone(tmp_path / "Blue Moon.wav", freq=300))
    b, _ = lib.add_original(tone(tmp_path / "100% blue.wav", freq=400))
    c, _ = lib.add_original(tone(tmp_path / "red.flac", freq=500))
    items, total = lib.list_originals()
    assert total == 3 and [o.id for o in items] == [c.id, b.id, a.id]
    assert [o.id for o in lib.list_originals("BLUE")[0]] == [b.id, a.id]
    assert [o.id for o in lib.list_originals("100%")[0]] == [b.id]
    assert lib.list_originals("%")[1] == 1
    assert [o.id for o in lib.list_originals(limit=1, offset=1)[0]] == [b.id]


def test_summaries_for_list_pages(lib, tmp_path):
    a, _ = lib.add_original(tone(tmp_path / "a.wav"))
    b, _ = lib.add_original(tone(tmp_path / "b.wav", freq=200))
    lib.put_analysis(a.id, {"rhythm": {"tempo_bpm": 96.0}, "tonal": {"key": "G major"}})
    lib.put_analysis(b.id, {"rhythm": {"tempo_bpm": 120.0}}, "0.0.1-old")
    lib.create_version(a.id, style="lofi", intensity=0.5, seed=1)
    lib.create_version(a.id, style="lofi", intensity=0.5, seed=2)
    assert lib.summaries([a.id, b.id]) == {
        a.id: {"versions": 2, "tempo_bpm": 96.0, "key": "G major"},
        b.id: {"versions": 0, "tempo_bpm": None, "key": None}}
    assert lib.summaries([]) == {}


def test_analysis_cached_per_software_version(lib, tmp_path):
    o, _ = lib.add_original(tone(tmp_path / "a.wav"))
    assert lib.get_analysis(o.id) is None
    lib.put_analysis(o.id, {"rhythm": {"tempo_bpm": 96.0}})
    assert lib.get_analysis(o.id) == {"rhythm": {"tempo_bpm": 96.0}}
    assert lib.get_analysis(o.id, "0.0.1-old") is None
    lib.put_analysis(o.id, {"rhythm": {"tempo_bpm": 97.0}})  # replaces
    assert lib.get_analysis(o.id)["rhythm"]["tempo_bpm"] == 97.0
    with pytest.raises(ValueError):
        lib.put_analysis(o.id, {"x": float("nan")})


def _render_fake_files(lib, version):
    """Files as the render worker writes them (the content is irrelevant to the library)."""
    staging = lib.staging_dir(version.id)
    (staging / "audio.flac").write_bytes(b"fLaC-bytes")
    (staging / "audio.flac.json").write_text("{}")
    (staging / "stems").mkdir()
    (staging / "stems" / "audio.drums.flac").write_bytes(b"drums")
    files = {"audio": "audio.flac", "report": "audio.flac.json",
             "stems": {"drums": "stems/audio.drums.flac"}}
    report = {"style": version.style, "cost": {"cpu_seconds_total": 12.5, "energy_joules": 125.0}}
    return lib.finish_version(version.id, staging, files=files, report=report,
                              sound={"integrated_lufs": -11.0})


def test_versions_provenance_dedup_and_delete(lib, tmp_path):
    src = tone(tmp_path / "a.wav")
    o, _ = lib.add_original(src)
    ref, _ = lib.add_original(tone(tmp_path / "ref.wav", freq=660))
    before = sha(lib.original_path(o))
    v, created = lib.create_version(o.id, style="lofi", intensity=0.5, seed=3,
                                    reference_id=ref.id, options={"stems": True})
    assert created and v.status == "queued" and v.software_version == __version__
    same, created = lib.create_version(o.id, style="lofi", intensity=0.5, seed=3,
                                       reference_id=ref.id, options={"stems": True})
    assert not created and same.id == v.id
    other, created = lib.create_version(o.id, style="lofi", intensity=0.5, seed=4)
    assert created and other.id != v.id
    with pytest.raises(NotFoundError):
        lib.version_path(v, "audio")  # not rendered yet
    done = _render_fake_files(lib, v)
    assert done.status == "done" and done.cpu_seconds == 12.5 and done.energy_joules == 125.0
    assert lib.version_path(done, "audio").read_bytes() == b"fLaC-bytes"
    assert lib.version_path(done, "stems/drums").read_bytes() == b"drums"
    with pytest.raises(NotFoundError):
        lib.version_path(done, "midi")
    assert not list((lib.files_dir / "versions").glob(".tmp-*"))
    folder = lib.files_dir / "versions" / str(v.id)
    assert folder.is_dir()
    lib.delete_version(v.id)
    assert not folder.exists()
    with pytest.raises(NotFoundError):
        lib.get_version(v.id)
    assert sha(lib.original_path(o)) == before == sha(src)
    assert [x.id for x in lib.list_versions(o.id)] == [other.id]


def test_failed_version_is_rendered_anew(lib, tmp_path):
    o, _ = lib.add_original(tone(tmp_path / "a.wav"))
    v, _ = lib.create_version(o.id, style="house", intensity=1.0, seed=1)
    lib.set_version_status(v.id, "failed", error="boom")
    again, created = lib.create_version(o.id, style="house", intensity=1.0, seed=1)
    assert created and again.id != v.id
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ParameterError, match="intensity"):
            lib.create_version(o.id, style="house", intensity=bad, seed=1)
    with pytest.raises(NotFoundError):
        lib.create_version(999, style="house", intensity=0.5, seed=1)


def test_deleting_an_original_asks_then_removes_its_versions(lib, tmp_path):
    o, _ = lib.add_original(tone(tmp_path / "a.wav"))
    keep, _ = lib.add_original(tone(tmp_path / "b.wav", freq=200))
    v = _render_fake_files(lib, lib.create_version(o.id, style="lofi", intensity=0.5, seed=1)[0])
    job = lib.create_job("render", original_id=o.id, version_id=v.id)
    lib.put_analysis(o.id, {"a": 1})
    with pytest.raises(ConfirmationRequired, match="1 version"):
        lib.delete_original(o.id)
    assert lib.original_path(o).exists()
    assert lib.delete_original(o.id, confirm=True) == [v.id]
    assert not lib.original_path(o).exists()
    assert not (lib.files_dir / "versions" / str(v.id)).exists()
    for getter, ident in ((lib.get_original, o.id), (lib.get_version, v.id),
                          (lib.get_job, job.id)):
        with pytest.raises(NotFoundError):
            getter(ident)
    assert lib.get_analysis(o.id) is None
    assert lib.list_originals()[0] == [keep]
    # the same bytes can be added again afterwards
    assert lib.add_original(tmp_path / "a.wav")[1]


def test_jobs_state_and_progress(lib, tmp_path):
    o, _ = lib.add_original(tone(tmp_path / "a.wav"))
    job = lib.create_job("analyse", original_id=o.id, params={"parts": "all"})
    assert (job.state, job.progress, job.started_at, job.params) == ("queued", 0.0, None,
                                                                      {"parts": "all"})
    job = lib.update_job(job.id, state="running", stage="rhythm", progress=0.25)
    assert job.state == "running" and job.started_at and not job.finished
    job = lib.update_job(job.id, progress=7.0)
    assert job.progress == 1.0  # clamped
    job = lib.update_job(job.id, state="failed", message="could not decode", error_code="x.y")
    assert job.finished and job.finished_at and job.error_code == "x.y"
    with pytest.raises(ParameterError):
        lib.update_job(job.id, state="exploded")
    with pytest.raises(NotFoundError):
        lib.update_job(12345, progress=0.5)
    assert [j.id for j in lib.list_jobs(kind="analyse", state="failed")] == [job.id]
    assert lib.latest_job(original_id=o.id).id == job.id


def test_schema_is_versioned_and_newer_libraries_are_refused(tmp_path):
    path = tmp_path / "lib.sqlite3"
    Library(path).close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = db.execute("SELECT version FROM schema_migrations").fetchall()
        assert [r[0] for r in rows] == list(range(1, SCHEMA_VERSION + 1))
    Library(path).close()  # re-opening applies nothing twice
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM schema_migrations").fetchone()[0] == SCHEMA_VERSION
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(LibraryError, match="newer reissue"):
        Library(path)
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(LibraryError, match="not a reissue library"):
        Library(junk)


def test_two_handles_see_each_others_writes(tmp_path):
    """Render workers open their own handle on the same file (WAL mode)."""
    path = tmp_path / "lib.sqlite3"
    with Library(path) as a, Library(path) as b:
        o, _ = a.add_original(tone(tmp_path / "a.wav"))
        job = a.create_job("render", original_id=o.id)
        b.update_job(job.id, state="running", stage="mix", progress=0.5)
        assert a.get_job(job.id).stage == "mix"
        assert json.loads(json.dumps(a.get_job(job.id).to_dict()))["progress"] == 0.5


def test_default_location_follows_xdg(tmp_path, monkeypatch):
    from reissue.library import default_library_path

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_library_path() == tmp_path / "xdg" / "reissue" / "library.sqlite3"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_library_path() == tmp_path / "home" / ".local/share/reissue/library.sqlite3"
    (tmp_path / "folder-lib").mkdir()
    with Library(tmp_path / "folder-lib") as lib:  # a folder means <folder>/library.sqlite3
        assert lib.path == (tmp_path / "folder-lib" / "library.sqlite3").resolve()
        assert lib.files_dir.name == "library.files"


# --------------------------------------------------------------------------- the job runner

def _wait(lib, job_id, timeout=60.0):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = lib.get_job(job_id)
        if job.finished:
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {lib.get_job(job_id).state}")


def test_runner_fails_jobs_clearly_and_resumes_interrupted_ones(lib, tmp_path):
    from reissue.jobs import JobRunner, run_job

    o, _ = lib.add_original(tone(tmp_path / "a.wav"))
    odd = lib.create_job("teleport", original_id=o.id)
    assert run_job(str(lib.path), odd.id) == "failed"
    job = lib.get_job(odd.id)
    assert job.error_code == "job.kind" and "teleport" in job.message
    # a render whose version vanished fails with the library's not-found code
    v, _ = lib.create_version(o.id, style="lofi", intensity=0.5, seed=1)
    render = lib.create_job("render", original_id=o.id, version_id=v.id)
    lib._db.execute("PRAGMA foreign_keys = OFF")  # the version goes, its job stays (a race)
    lib._db.execute("DELETE FROM versions WHERE id = ?", (v.id,))
    lib._db.execute("PRAGMA foreign_keys = ON")
    assert run_job(str(lib.path), render.id) == "failed"
    assert lib.get_job(render.id).error_code == "version.not_found"
    assert run_job(str(lib.path), 4242) == "gone"
    # a job left running by a stopped server is queued again and run by the pool
    stale = lib.create_job("analyse", original_id=o.id)
    lib.update_job(stale.id, state="running", stage="halfway")
    ignored = lib.create_job("batch-item", original_id=o.id)  # other tools' kinds are theirs
    runner = JobRunner(lib.path, workers=1)
    try:
        assert runner.resume(lib) == [stale.id]
        done = _wait(lib, stale.id, timeout=300)
        assert done.state == "done", done.message
        assert lib.get_analysis(o.id)["duration_seconds"] == pytest.approx(1.0)
        assert lib.get_job(ignored.id).state == "queued"
    finally:
        runner.shutdown(wait=True)
    with pytest.raises(ParameterError):
        JobRunner(lib.path, workers=0)
