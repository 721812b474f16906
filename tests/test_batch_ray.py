"""reissue batch on Ray: a real local Ray instance (2 CPUs), the same jobs as the local engine.

Ray is the optional extra ``reissue[ray]``; the project's set-up (``make setup``) installs it, so
this test fails rather than skips when it is missing. One Ray instance serves the whole module
(starting one costs ≈ 4–12 s here) and is shut down at the end.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import ray

from reissue.batch import SUMMARY_NAME, refresh_job, run_batch
from reissue.engine import JobSpec, RayEngine

from .batch_jobs import measure_job
from .test_batch import catalogue, hashes, leftovers, sha, tone


@pytest.fixture(scope="module")
def ray_engine(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    old_home = os.environ.get("HOME")
    os.environ["HOME"] = str(home)  # Ray must not write into the user's home
    try:
        with RayEngine(workers=2, memory_mb=1024) as engine:
            temp = engine._temp
            assert temp is not None and len(str(temp)) <= 40 and temp.is_dir()
            assert ray.cluster_resources()["CPU"] == 2
            yield engine
        assert not ray.is_initialized() and not temp.exists()
        assert list(home.iterdir()) == [], "Ray wrote into $HOME"
    finally:
        if old_home is None:
            os.environ.pop("HOME", None)
        else:
            os.environ["HOME"] = old_home


def test_ray_engine_isolates_hang_memory_hog_and_bad_file(ray_engine, tmp_path):
    src = tmp_path / "src"
    good = catalogue(src, 3)
    for name in ("hang.wav", "hog.wav"):
        tone(src / name, 500)
    (src / "bad.wav").write_bytes(b"RIFF....WAVE" * 20)
    jobs = [JobSpec(p.name, {"source": str(p), "output": str(tmp_path / "out" / (p.stem + ".flac")),
                             "staging": str(tmp_path / "st" / p.stem),
                             "sha256": sha(p), "settings": {"style": "x"}},
                    timeout_seconds=8.0 if p.name == "hang.wav" else 120.0)
            for p in [src / "hang.wav", src / "hog.wav", src / "bad.wav", *good]]
    done = {}
    ray_engine.run(measure_job, jobs, lambda kind, key, payload:
                   done.setdefault(key, payload) if kind == "done" else None)
    assert set(done) == {j.key for j in jobs}
    assert done["hang.wav"].error_code == "limit.time"
    assert done["hog.wav"].error_code == "limit.memory"
    assert done["bad.wav"].error_code.startswith("audio.")
    for p in good:
        assert done[p.name].ok and done[p.name].cpu_seconds > 0
        assert (tmp_path / "out" / (p.stem + ".flac")).is_file()
    # long-lived workers: the JIT and imports are paid once per Ray worker, not per job
    assert len({done[p.name].worker for p in good}) <= 2


def test_ray_batch_writes_the_same_bytes_as_the_local_engine(ray_engine, tmp_path):
    src, lib = tmp_path / "src", tmp_path / "lib.sqlite3"
    songs = [tone(src / "one" / f"s{i}.wav", 220.0 * (i + 1), seconds=6.0, rate=22050)
             for i in range(3)]
    (src / "one" / "broken.flac").write_bytes(b"fLaC" + bytes(300))
    before = hashes(src)
    local = run_batch(src, tmp_path / "local", workers=2, library=lib, job=refresh_job,
                      style="modern-pop", intensity=0.5)
    remote = run_batch(src, tmp_path / "ray", workers=2, engine="ray", library=lib,
                       job=refresh_job, style="modern-pop", intensity=0.5)
    assert hashes(src) == before
    for s in (local, remote):
        assert (s.tracks["done"], s.tracks["failed"]) == (3, 1), s.failures
        assert s.failures[0]["source"] == "one/broken.flac"
    assert remote.engine["engine"] == "ray" and remote.engine["workers"] == 2
    for p in songs:
        rel = p.relative_to(src).with_suffix(".flac")
        a, b = tmp_path / "local" / rel, tmp_path / "ray" / rel
        assert a.read_bytes() == b.read_bytes(), f"{rel}: Ray and local outputs differ"
        ra = json.loads(Path(str(a) + ".json").read_text())
        rb = json.loads(Path(str(b) + ".json").read_text())
        assert ra["batch"]["output_sha256"] == rb["batch"]["output_sha256"] == sha(a)
        assert ra["style"] == rb["style"] == "modern-pop"
    assert not leftovers(tmp_path / "ray")
    assert json.loads((tmp_path / "ray" / SUMMARY_NAME).read_text())["engine"]["engine"] == "ray"
