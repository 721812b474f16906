"""Render and analysis jobs: a bounded process pool that works through the library's jobs table.

Conventions
-----------
* A job is a row in the library (:meth:`reissue.library.Library.create_job`); the pool is given
  only its id. The worker process opens its own :class:`~reissue.library.Library` on the same
  file and writes state, stage and progress there (``refresh``'s ``progress`` callback), so the
  server — or any other reader — follows a job by reading the table; nothing is shared in memory.
* Workers are separate processes (``spawn``, never ``fork`` of a threaded server), one by default.
  Each is limited to one BLAS/OpenMP/numba thread unless the environment says otherwise, so
  ``workers`` is the number of cores renders may use and the server stays responsive.
* A job that raises :class:`~reissue.errors.ReissueError` fails with its code and one-line
  message; anything else fails as ``internal.error`` with the exception's text. A worker that
  dies (killed, out of memory) fails its job as ``worker.died``; the pool is rebuilt.
* Jobs left ``queued`` or ``running`` by a server that stopped are resumed by
  :meth:`JobRunner.resume` (renders are deterministic, so re-running one is safe).

Kinds handled here: ``analyse`` (an original's full analysis, cached per software version) and
``render`` (one version through :func:`reissue.refresh.refresh`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

__all__ = ["KINDS", "RENDER_STAGES", "JobRunner", "run_job", "stage_progress"]

#: Refresh stages in order, with the share of a render's CPU time done when each starts, measured
#: on the demo song in a warm worker (lofi, intensity 1: 9.3 CPU-s, of which the time stretch
#: 6.3 s). A fresh worker's first job adds ≈ 4.4 s to the analysis (imports, loading compiled
#: numba code) and ≈ 30 s more where numba's cache is still empty. ``measure`` is the library's
#: own sound pass over the result.
RENDER_STAGES = (("decode", 0.0), ("analyse", 0.005), ("plan", 0.05), ("reference", 0.05),
                 ("restore", 0.05), ("separate", 0.08), ("stretch", 0.11), ("layers", 0.77),
                 ("mix", 0.82), ("master", 0.86), ("save", 0.91), ("score", 0.93),
                 ("measure", 0.96))
_STAGE_START = dict(RENDER_STAGES)
KINDS = ("analyse", "render")
_THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS")


def stage_progress(stage: str) -> float:
    """Fraction of a render done when ``stage`` starts (unknown stages keep the last value)."""
    return _STAGE_START.get(stage, -1.0)


def _fail(library, job_id: int, code: str, message: str) -> None:
    job = library.update_job(job_id, state="failed", error_code=code, message=message)
    if job.version_id is not None:  # (a deleted version takes its job with it, by cascade)
        library.set_version_status(job.version_id, "failed", error=message)


def run_job(library_path: str, job_id: int) -> str:
    """Run one job in this process (the pool's entry point); returns its final state."""
    from .errors import ReissueError
    from .library import Library, NotFoundError

    with Library(library_path) as library:
        try:
            job = library.get_job(job_id)
        except NotFoundError:
            return "gone"  # deleted before it started
        if job.finished:
            return job.state
        try:
            if job.kind == "analyse":
                _analyse(library, job)
            elif job.kind == "render":
                _render(library, job)
            else:
                raise ReissueError(f"job {job.id} has kind {job.kind!r}, which this runner does "
                                   f"not handle ({', '.join(KINDS)})", code="job.kind")
        except NotFoundError as err:  # the track or version was deleted while it ran
            try:
                _fail(library, job_id, err.code, err.message)
            except NotFoundError:
                return "gone"
        except ReissueError as err:
            _fail(library, job_id, err.code, err.message)
        except Exception as err:  # noqa: BLE001 — a job must never take the worker down silently
            _fail(library, job_id, "internal.error", f"{type(err).__name__}: {err}")
        return library.get_job(job_id).state


def _analyse(library, job) -> None:
    from .analysis import analyze_path

    original = library.get_original(job.original_id)
    if library.get_analysis(original.id) is None:
        library.update_job(job.id, state="running", stage="analyse", progress=0.05,
                           message="analysing rhythm, harmony, melody, form and sound")
        result = analyze_path(library.original_path(original))
        data = result.to_dict()
        data["file"] = original.filename
        library.put_analysis(original.id, data)
    library.update_job(job.id, state="done", stage="done", progress=1.0, message="analysed")


def _render(library, job) -> None:
    from .analysis import analyze_path
    from .library import _remove_tree
    from .refresh import refresh, write_json

    version = library.get_version(job.version_id)
    original = library.get_original(version.original_id)
    reference = (library.original_path(version.reference_id)
                 if version.reference_id is not None else None)
    library.update_job(job.id, state="running", stage="decode", progress=0.0,
                       message="starting")
    library.set_version_status(version.id, "running")
    staging = library.staging_dir(version.id)
    try:
        out = staging / "audio.flac"
        stems = staging / "stems" if version.options.get("stems") else None
        midi = staging / "audio.mid"

        def progress(stage: str) -> None:
            share = stage_progress(stage)
            library.update_job(job.id, stage=stage, message=stage,
                               progress=share if share >= 0 else None)

        result = refresh(library.original_path(original), style=version.style,
                         intensity=version.intensity, seed=version.seed, out=out,
                         reference=reference, stems=stems, midi=midi, overwrite=True,
                         progress=progress)
        progress("measure")
        sound = analyze_path(out, parts=()).sound.to_dict()
        files = {"audio": out.name, "report": result.report_path.name}
        if result.midi is not None and Path(result.midi).exists():
            files["midi"] = Path(result.midi).name
        if result.stems:
            files["stems"] = {name: f"stems/{Path(p).name}" for name, p in result.stems.items()}
        report = dict(result.report)
        # paths in the report pointed into the staging folder: name the library's things instead
        report["input"] = original.filename
        report["output"] = download_name(original.title, version.style, "flac")
        report["files"] = {k: v for k, v in files.items() if k != "report"}
        report["library"] = {"track_id": original.id, "version_id": version.id,
                             "sha256": original.sha256}
        if reference is not None:
            report["reference"] = library.get_original(version.reference_id).filename
        write_json(report, result.report_path)
        library.finish_version(version.id, staging, files=files, report=report, sound=sound)
    except BaseException:
        _remove_tree(staging)
        raise
    library.update_job(job.id, state="done", stage="done", progress=1.0, message="rendered")


def download_name(title: str, style: str, ext: str, part: str | None = None) -> str:
    """``<title>.reissue-<style>[.<part>].<ext>``, safe for a Content-Disposition header."""
    from .library import sanitize_filename

    middle = f".{part}" if part else ""
    return sanitize_filename(f"{title}.reissue-{style}{middle}.{ext}")


class JobRunner:
    """A bounded pool of worker processes running library jobs.

    Parameters
    ----------
    library_path : path-like
        The library's SQLite file.
    workers : int
        Processes rendering at once (≥ 1).
    """

    def __init__(self, library_path: str | os.PathLike, *, workers: int = 1) -> None:
        from .errors import ParameterError

        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers={workers!r} must be a positive integer")
        self.library_path = str(library_path)
        self.workers = workers
        self._lock = threading.Lock()
        self._pending: dict[int, Future] = {}
        for name in _THREAD_VARS:  # inherited by the spawned workers
            os.environ.setdefault(name, "1")
        self._pool = self._new_pool()
        self._closed = False

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.workers,
                                   mp_context=multiprocessing.get_context("spawn"))

    def submit(self, job_id: int) -> None:
        """Queue a job (its row must exist); a job already queued here is not queued twice."""
        with self._lock:
            if self._closed:
                return
            if job_id in self._pending and not self._pending[job_id].done():
                return
            try:
                future = self._pool.submit(run_job, self.library_path, int(job_id))
            except BrokenProcessPool:
                self._pool = self._new_pool()
                future = self._pool.submit(run_job, self.library_path, int(job_id))
            self._pending[job_id] = future
        future.add_done_callback(lambda f, j=int(job_id): self._finished(j, f))

    def _finished(self, job_id: int, future: Future) -> None:
        with self._lock:
            self._pending.pop(job_id, None)
        if future.cancelled():
            return
        error = future.exception()
        if error is None or (self._closed and isinstance(error, BrokenProcessPool)):
            return  # done, or stopped by shutdown(): resumed on the next start
        from .library import Library, NotFoundError

        if isinstance(error, BrokenProcessPool):
            code = "worker.died"
            message = "the render process stopped unexpectedly (out of memory or killed); try again"
        else:
            code, message = "internal.error", f"{type(error).__name__}: {error}"
        try:
            with Library(self.library_path) as library:
                _fail(library, job_id, code, message)
        except NotFoundError:
            pass
        if isinstance(error, BrokenProcessPool):
            with self._lock:
                if not self._closed:
                    self._pool = self._new_pool()

    def resume(self, library) -> list[int]:
        """Queue every unfinished ``analyse``/``render`` job again; returns their ids."""
        jobs = [j for state in ("running", "queued") for j in library.list_jobs(state=state)
                if j.kind in KINDS]
        ids = sorted(j.id for j in jobs)
        for job in jobs:
            if job.state == "running":
                library.update_job(job.id, state="queued", message="resumed")
        for job_id in ids:
            self.submit(job_id)
        return ids

    @property
    def active(self) -> int:
        with self._lock:
            return sum(1 for f in self._pending.values() if not f.done())

    def shutdown(self, *, wait: bool = False) -> None:
        """Stop taking jobs. With ``wait`` running jobs finish first; without, the worker
        processes are terminated and their jobs stay ``running`` until :meth:`resume`."""
        with self._lock:
            self._closed = True
            pool = self._pool
        if not wait:
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                if process.is_alive():
                    process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
