"""reissue batch: discovery, de-duplication, the local engine, limits, kill-and-resume.

Scheduling, resume and limit tests run a cheap real job (:mod:`tests.batch_jobs`: decode +
sound analysis + an atomic write) so they stay fast; the tests marked ``refresh`` run the real
:func:`reissue.refresh.refresh` on short generated songs.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from reissue.batch import (
    LOCK_NAME,
    STAGING_NAME,
    SUMMARY_NAME,
    BatchError,
    discover,
    plan_batch,
    run_batch,
)
from reissue.engine import JobSpec, LocalEngine, execute
from reissue.library import Library

from .batch_jobs import measure_job

JOB = "tests.batch_jobs:measure_job"
ROOT = Path(__file__).resolve().parents[1]


def tone(path: Path, freq: float, *, seconds: float = 0.5, rate: int = 22050,
         channels: int = 2) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * rate)) / rate
    y = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    sf.write(str(path), np.stack([y] * channels, axis=1), rate)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def catalogue(root: Path, n: int, *, prefix: str = "t") -> list[Path]:
    """``n`` distinct short songs in two nested folders."""
    return [tone(root / ("a" if i % 2 else "b/c") / f"{prefix}{i:03d}.wav", 200.0 + 7.0 * i)
            for i in range(n)]


def hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): sha(p) for p in sorted(root.rglob("*"))
            if p.is_file()}


def leftovers(out: Path) -> list[Path]:
    """Partial files or staging folders (none may remain after a run)."""
    return [p for p in out.rglob("*") if ".part" in p.name or p.name.startswith(".tmp")
            or p.name == STAGING_NAME]


# --------------------------------------------------------------------------- discovery & plan

def test_discover_recursive_any_format_skips_hidden_and_output(tmp_path):
    src = tmp_path / "src"
    tone(src / "x.wav", 300)
    tone(src / "deep" / "er" / "y.WAV", 310)
    sf.write(str(src / "z.flac"), np.zeros((100, 1), np.float32) + 0.1, 8000)
    sf.write(str(src / "o.ogg"), np.zeros((4000, 1), np.float32) + 0.1, 8000)
    (src / "notes.txt").write_text("not audio")
    tone(src / ".hidden" / "h.wav", 320)
    tone(src / ".dot.wav", 330)
    tone(src / "out" / "old.wav", 340)
    found = [p.as_posix() for p in discover(src, exclude=(src / "out",))]
    assert found == ["deep/er/y.WAV", "o.ogg", "x.wav", "z.flac"]


def test_plan_deduplicates_by_content_and_disambiguates_names(tmp_path):
    src = tmp_path / "src"
    a = tone(src / "album1" / "song.wav", 440)
    (src / "album2").mkdir()
    (src / "album2" / "same song.wav").write_bytes(a.read_bytes())
    tone(src / "album1" / "other.wav", 550)
    sf.write(str(src / "album1" / "other.flac"), np.zeros((800, 1), np.float32) + 0.2, 8000)
    plan = plan_batch(src, tmp_path / "out", fmt="flac")
    assert plan.files == 4 and len(plan.items) == 3
    by_source = {it.source: it for it in plan.items}
    song = by_source["album1/song.wav"]
    assert song.sha256 == sha(a) and song.output == "album1/song.flac"
    assert song.duplicates == (("album2/same song.wav", "album2/same song.flac"),)
    assert song.duration_seconds == pytest.approx(0.5, abs=1e-6)
    # two sources that would both become album1/other.flac keep their suffixes
    assert by_source["album1/other.wav"].output == "album1/other.wav.flac"
    assert by_source["album1/other.flac"].output == "album1/other.flac.flac"


def test_refuses_output_folder_equal_to_source(tmp_path):
    src = tmp_path / "src"
    tone(src / "x.wav", 300)
    with pytest.raises(BatchError, match="output folder is the source"):
        run_batch(src, src, library=tmp_path / "lib.sqlite3", job=measure_job)


# --------------------------------------------------------------------------- the engine

def test_execute_records_result_cost_and_errors(tmp_path):
    src = tone(tmp_path / "s.wav", 300)
    args = {"source": str(src), "output": str(tmp_path / "o.flac"),
            "staging": str(tmp_path / "stage"), "sha256": sha(src),
            "settings": {"style": "auto"}}
    stages = []
    ok = execute(measure_job, args, memory_mb=2048, progress=stages.append)
    assert ok.ok and ok.error_code is None and ok.result["audio_seconds"] == pytest.approx(0.5)
    assert stages == ["decode", "analyse"] and ok.cpu_seconds > 0
    assert ok.peak_rss_mb is not None and ok.peak_rss_mb >= ok.rss_after_mb * 0.5
    bad = execute(measure_job, {**args, "source": str(tmp_path / "missing.wav")})
    assert not bad.ok and bad.error_code == "audio.missing" and "missing.wav" in bad.error


def test_memory_limit_raises_memory_error_in_the_job_and_is_lifted_after(tmp_path):
    import resource

    before = resource.getrlimit(resource.RLIMIT_AS)

    def hog(args, progress):
        return {"n": int(np.ones(1 << 30, np.uint8).sum())}  # 1 GiB

    out = execute(hog, {}, memory_mb=256)
    assert not out.ok and out.error_code == "limit.memory" and "256 MB" in out.error
    assert resource.getrlimit(resource.RLIMIT_AS) == before
    assert execute(hog, {}, memory_mb=None).ok


def test_local_engine_isolates_crash_hang_and_memory_hog(tmp_path):
    src = tmp_path / "src"
    good = catalogue(src, 4)
    for name in ("crash.wav", "hang.wav", "hog.wav"):
        tone(src / name, 500)
    jobs = [JobSpec(p.name, {"source": str(p), "output": str(tmp_path / "out" / (p.stem + ".flac")),
                             "staging": str(tmp_path / "st" / p.stem), "sha256": sha(p),
                             "settings": {"style": "x"}}, timeout_seconds=20.0)
            for p in [src / "crash.wav", src / "hang.wav", src / "hog.wav", *good]]
    jobs[1] = JobSpec(jobs[1].key, jobs[1].args, timeout_seconds=3.0)
    events: dict[str, list] = {}

    def on_event(kind, key, payload):
        events.setdefault(key, []).append((kind, payload))

    LocalEngine(2, memory_mb=1024).run(measure_job, jobs, on_event)
    done = {key: [p for k, p in ev if k == "done"] for key, ev in events.items()}
    assert all(len(v) == 1 for v in done.values()) and len(done) == len(jobs)
    codes = {key: v[0].error_code for key, v in done.items()}
    assert codes["crash.wav"] == "worker.died" and "SIGKILL" in done["crash.wav"][0].error
    assert codes["hang.wav"] == "limit.time"
    assert codes["hog.wav"] == "limit.memory"
    assert all(codes[p.name] is None for p in good)
    assert all((tmp_path / "out" / (p.stem + ".flac")).is_file() for p in good)


# --------------------------------------------------------------------------- batches

def test_batch_mirrors_dedups_reports_and_isolates_a_corrupt_file(tmp_path):
    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    songs = catalogue(src, 5)
    (src / "b" / "copy").mkdir(parents=True)
    (src / "b" / "copy" / "dup.wav").write_bytes(songs[0].read_bytes())
    (src / "a" / "broken.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" * 10)
    before = hashes(src)
    summary = run_batch(src, out, workers=2, library=lib, job=measure_job)
    assert hashes(src) == before  # originals untouched
    t = summary.tracks
    assert (t["files"], t["distinct"], t["duplicates"]) == (7, 6, 1)
    assert (t["done"], t["failed"], t["skipped"], t["pending"]) == (5, 1, 0, 0)
    assert [f["source"] for f in summary.failures] == ["a/broken.wav"]
    assert summary.failures[0]["error_code"].startswith("audio.")
    assert "broken.wav" in summary.failures[0]["error"]
    for p in songs:
        rel = p.relative_to(src).with_suffix(".flac")
        report = json.loads((out / (str(rel) + ".json")).read_text())
        assert report["batch"]["source_sha256"] == sha(p)
        assert report["batch"]["output_sha256"] == sha(out / rel)
        assert sf.info(str(out / rel)).frames == sf.info(str(p)).frames
    dup = out / "b" / "copy" / "dup.flac"
    first = out / songs[0].relative_to(src).with_suffix(".flac")
    assert dup.is_file() and os.path.samefile(dup, first)
    assert not leftovers(out)
    on_disk = json.loads((out / SUMMARY_NAME).read_text())
    assert on_disk["tracks"] == t and on_disk["failures"] == summary.failures
    assert summary.audio_seconds == pytest.approx(2.5, abs=1e-3)
    assert summary.cpu_hours > 0 and summary.real_time_factor_per_core > 0
    assert summary.energy["wh"] > 0 and summary.energy["method"]
    assert summary.energy["wh_per_audio_hour"] == pytest.approx(
        summary.energy["wh"] / summary.audio_hours, rel=1e-2)
    with Library(lib) as library:
        batch = library.get_batch(str(out.resolve()))
        items = library.batch_items(batch["id"])
    assert batch["state"] == "failed" and batch["summary"]["tracks"] == t
    states = {it["source"]: (it["state"], it["attempts"]) for it in items}
    assert states["a/broken.wav"] == ("failed", 1)
    assert all(states[p.relative_to(src).as_posix()] == ("done", 1) for p in songs)
    assert all(it["cost"]["cpu_seconds"] > 0 for it in items)

    # the same command again: nothing is redone, the failure is remembered
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    again = run_batch(src, out, workers=2, library=lib, job=measure_job)
    assert (again.tracks["done"], again.tracks["skipped"], again.tracks["failed"]) == (0, 5, 0)
    assert again.tracks["failed_total"] == 1 and not again.ok
    assert again.failures[0]["earlier_run"]
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == mtimes
    # a new track in the catalogue is picked up; other settings into the same folder are refused
    tone(src / "a" / "new.wav", 999)
    third = run_batch(src, out, library=lib, job=measure_job, workers=1)
    assert (third.tracks["done"], third.tracks["skipped"]) == (1, 5)
    with pytest.raises(BatchError, match="other settings.*seed 1 → 2"):
        run_batch(src, out, seed=2, library=lib, job=measure_job)


def test_resume_requires_a_recorded_batch_and_reuses_its_settings(tmp_path):
    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    catalogue(src, 2)
    with pytest.raises(BatchError, match="no batch recorded"):
        run_batch(None, out, resume=True, library=lib, job=measure_job)
    run_batch(src, out, style="lofi", seed=7, fmt="wav", library=lib, job=measure_job,
              workers=1)
    again = run_batch(None, out, resume=True, library=lib, job=measure_job, workers=1)
    assert again.settings == {"style": "lofi", "intensity": 0.7, "seed": 7, "format": "wav"}
    assert again.tracks["skipped"] == 2 and again.source_dir == str(src.resolve())


def test_recovers_an_output_finished_before_the_database_knew(tmp_path):
    """Killed between the rename into place and the database update: not rendered again."""
    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    catalogue(src, 3)
    run_batch(src, out, library=lib, job=measure_job, workers=1)
    with Library(lib) as library:
        batch_id = library.get_batch(str(out.resolve()))["id"]
        for it in library.batch_items(batch_id):
            library.update_batch_item(it["id"], state="running")
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")}
    again = run_batch(src, out, library=lib, job=measure_job, workers=1)
    assert again.tracks["recovered"] == 3 and again.tracks["done"] == 0
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.flac")} == mtimes
    # a damaged output is not trusted
    victim = next(out.rglob("*.flac"))
    victim.write_bytes(victim.read_bytes()[:-10])
    with Library(lib) as library:
        it = next(i for i in library.batch_items(batch_id)
                  if out / i["output"] == victim)
        library.update_batch_item(it["id"], state="running")
    third = run_batch(src, out, library=lib, job=measure_job, workers=1)
    assert third.tracks["done"] == 1 and third.tracks["recovered"] == 0


def _start_cli_batch(src, out, lib, *extra, sleep="0.6", workers="2", job=JOB):
    """The CLI batch as a user starts it from a terminal: its own process group, and Ctrl-C
    (SIGINT) at its default disposition. A child inherits an *ignored* SIGINT, and Python then
    installs no KeyboardInterrupt handler: a batch started that way keeps running after Ctrl-C,
    which is what two clean-clone CI runs saw in the Ctrl-C test (the disposition the pytest
    process passes on is not the test's to assume)."""
    env = {**os.environ, "REISSUE_TEST_JOB_SLEEP": sleep,
           "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    return subprocess.Popen(
        [sys.executable, "-m", "reissue.cli", "batch", str(src), "--out-dir", str(out),
         "--library", str(lib), "--workers", workers, "--quiet",
         *(["--job", job] if job else []), *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _items(lib, out):
    with Library(lib) as library:
        batch = library.get_batch(str(out.resolve()))
        return library.batch_items(batch["id"]) if batch else []


def _worker_pids(parent: int) -> list[int]:
    try:
        text = Path(f"/proc/{parent}/task/{parent}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


@pytest.fixture(scope="module")
def songs(tmp_path_factory):
    """Seven distinct 5-second songs cut from the demo song (drums, bass, chords, melody)."""
    from reissue.demo import render_demo

    x = render_demo(sample_rate=22050)
    root = tmp_path_factory.mktemp("songs")
    paths = []
    for i in range(7):
        start = int((3.0 + 6.5 * i) * 22050)
        piece = x[:, start:start + 5 * 22050]
        path = root / ("pop" if i % 2 else "rock/70s") / f"song{i}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(str(path), piece.T, 22050, subtype="PCM_16")
        paths.append(path)
    return root, paths


def test_refresh_batch_sigkilled_partway_then_resumed_does_every_track_once(songs, tmp_path):
    """The real refresh on 2 workers; SIGKILL the driver after two tracks; run again."""
    root, paths = songs
    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    for p in paths:
        target = src / p.relative_to(root)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(p.read_bytes())
    (src / "pop" / "zz-corrupt.mp3").write_bytes(b"\xff\xfb" + bytes(range(256)) * 4)
    before = hashes(src)
    proc = _start_cli_batch(src, out, lib, "--style", "modern-pop", job=None)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if sum(it["state"] == "done" for it in _items(lib, out)) >= 2:
            break
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.05)
    workers = _worker_pids(proc.pid)
    assert workers, "the batch should be running its workers"
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    for pid in workers:  # workers die with their driver (PR_SET_PDEATHSIG)
        for _ in range(100):
            if not Path(f"/proc/{pid}").exists() or \
                    Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                break
            time.sleep(0.05)
        else:
            pytest.fail(f"worker {pid} outlived the killed batch")
    first = {it["source"]: it for it in _items(lib, out)}
    done_first = {s for s, it in first.items() if it["state"] == "done"}
    assert 2 <= len(done_first) < 7, "the kill should land partway"
    for p in out.rglob("*.flac"):  # whatever has its final name is complete
        assert sf.info(str(p)).frames > 0
    finished = {s: (out / it["output"]).stat().st_mtime_ns for s, it in first.items()
                if s in done_first}

    proc = _start_cli_batch(src, out, lib, "--style", "modern-pop", job=None)
    stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 1, stderr.decode()  # the corrupt file failed, the rest did not
    items = {it["source"]: it for it in _items(lib, out)}
    assert len(items) == 8
    bad = items.pop("pop/zz-corrupt.mp3")
    assert bad["state"] == "failed" and bad["error_code"].startswith("audio.")
    assert "zz-corrupt.mp3" in stdout.decode()
    assert all(it["state"] == "done" for it in items.values())
    for s in done_first:  # finished tracks were not rendered again
        assert items[s]["attempts"] == 1
        assert (out / items[s]["output"]).stat().st_mtime_ns == finished[s]
    for s, it in items.items():
        output = out / it["output"]
        report = json.loads(output.with_name(output.name + ".json").read_text())
        assert report["batch"]["output_sha256"] == sha(output) == it["output_sha256"]
        assert report["style"] == "modern-pop" and report["input"] == str(src / s)
        assert sf.info(str(output)).duration == pytest.approx(5.0, abs=0.05)
        umask = os.umask(0)
        os.umask(umask)
        assert output.stat().st_mode & 0o777 == 0o666 & ~umask  # not the temp file's 0600
    assert not leftovers(out)
    assert hashes(src) == before
    summary = json.loads((out / SUMMARY_NAME).read_text())
    # a track whose output and report were complete when the kill landed, but not yet
    # recorded, is recovered from disk rather than rendered again (likelier now that a refresh
    # is faster): it counts as skipped
    recovered = summary["tracks"]["recovered"]
    assert recovered <= len(workers)  # at most one in flight per worker
    assert summary["tracks"]["skipped"] == len(done_first) + recovered
    assert summary["tracks"]["done"] + summary["tracks"]["skipped"] == 7
    assert summary["cpu_hours"] > 0 and summary["energy"]["wh_per_audio_hour"] > 0


def test_a_second_run_on_the_same_folder_is_refused_and_ctrl_c_stops_cleanly(tmp_path):
    # each track takes 30 s, so the batch is still running when the second run and Ctrl-C come
    # even on a loaded machine (Ctrl-C ends it at once; the test does not wait for the sleeps).
    # With 10 s a track, a CI run beside two busy processes once saw all four tracks finish
    # before the signal came (exit code 0)
    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    catalogue(src, 4)
    proc = _start_cli_batch(src, out, lib, sleep="30", workers="1")
    try:
        deadline = time.monotonic() + 60
        while not (out / LOCK_NAME).exists() or not _items(lib, out):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.1)
        with pytest.raises(BatchError, match="another reissue batch"):
            run_batch(src, out, library=lib, job=measure_job)
    finally:
        running = proc.poll() is None
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C: the whole process group, workers too
        _, stderr = proc.communicate(timeout=60)
    assert running, "the batch ended before Ctrl-C came"
    assert proc.returncode == 130, stderr.decode()
    assert not leftovers(out)
    states = [it["state"] for it in _items(lib, out)]
    assert "running" not in states and "pending" in states


def test_cli_batch_json_summary_and_exit_codes(tmp_path):
    from typer.testing import CliRunner

    from reissue.cli import app

    src, out, lib = tmp_path / "src", tmp_path / "out", tmp_path / "lib.sqlite3"
    catalogue(src, 3)
    runner = CliRunner()
    args = ["batch", str(src), "--out-dir", str(out), "--library", str(lib), "--workers", "1",
            "--job", JOB]
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["tracks"]["done"] == 3 and data["engine"]["engine"] == "local"
    (src / "bad.flac").write_bytes(b"fLaC not really")
    result = runner.invoke(app, [*args, "--quiet"])
    assert result.exit_code == 1
    assert "1 failed" in result.stdout and "bad.flac: [audio." in result.stdout
    result = runner.invoke(app, ["batch", str(src), "--out-dir", str(out), "--engine", "spark"])
    assert result.exit_code == 1 and "local or ray" in result.output
