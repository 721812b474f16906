"""Run many jobs: a local pool of long-lived worker processes, or Ray tasks, behind one interface.

Conventions
-----------
* A *job function* is a module-level function ``fn(args: dict, progress) -> dict``: ``args`` is
  plain JSON-able data (paths, settings), ``progress(stage: str)`` reports the stage it starts,
  and the returned dict is plain data too. It must write its outputs atomically (temporary name,
  then rename): the engine may kill it at any moment. :func:`reissue.batch.refresh_job` is the one
  ``reissue batch`` runs; tests pass cheaper ones.
* Every job runs through :func:`execute` in a worker, which turns whatever happens into an
  :class:`Outcome` (never an exception): the job's result, or a stable ``error_code`` and a
  one-line ``error``, plus the job's CPU seconds, wall seconds and peak resident memory.
* Limits per job: ``timeout_seconds`` (wall clock, enforced by the driver, which kills the
  worker: ``limit.time``) and ``memory_mb`` (address space the job may add on top of the
  worker's own, set as the soft ``RLIMIT_AS`` for the length of the job, so an allocation past it
  raises ``MemoryError`` in the job: ``limit.memory``). A worker that dies (a crash, the kernel's
  OOM killer) fails only its own job (``worker.died``) and is replaced.
* :class:`LocalEngine` keeps ``workers`` processes (``spawn``) alive for the whole batch, so the
  ≈ 2 s of numba/librosa JIT compilation is paid once per worker, not per track. Workers ignore
  SIGINT (the driver decides what Ctrl-C means) and die with the driver (``PR_SET_PDEATHSIG``), so
  a killed batch never leaves renders running behind it.
* :class:`RayEngine` runs the same :func:`execute` as Ray tasks (``num_cpus=1``,
  ``max_retries=0``) on ``ray.init(address=...)``; Ray reuses its worker processes for tasks of
  the same function, so the JIT is again paid once per worker. The driver keeps at most one task
  per CPU in flight, so a task's age is close to its running time and the timeout means the same
  as locally; an overdue task is cancelled with ``force=True`` (its worker is killed).
* Events go to the driver's ``on_event(kind, key, payload)`` callback, always in the driver's
  main thread: ``("start", key, worker)``, ``("stage", key, stage)`` (local engine only) and
  ``("done", key, Outcome)``. Each job gets exactly one ``done``.
* Both engines limit BLAS/OpenMP/numba to one thread per worker (unless the environment already
  says otherwise): one worker is one core, and results do not depend on thread counts.
"""

from __future__ import annotations

import contextlib
import gc
import multiprocessing
import os
import resource
import shutil
import signal
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import wait as wait_any
from pathlib import Path
from typing import Any

from .errors import ParameterError, ReissueError

__all__ = ["JobSpec", "Outcome", "LocalEngine", "RayEngine", "execute", "make_engine",
           "THREAD_ENV", "default_workers"]

#: Environment that keeps every numerical library to one thread per worker.
THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "NUMBA_NUM_THREADS": "1", "VECLIB_MAXIMUM_THREADS": "1"}
_POLL_SECONDS = 0.25

JobFunction = Callable[[dict, Callable[[str], None]], dict]
EventCallback = Callable[[str, Any, Any], None]


def default_workers() -> int:
    """The cores this process may run on (``sched_getaffinity``), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class JobSpec:
    """One job: a key the driver knows it by, the job function's ``args`` and its time limit."""

    key: Any
    args: dict
    timeout_seconds: float | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of a job (see the module notes)."""

    ok: bool
    result: dict | None = None
    error_code: str | None = None
    error: str | None = None
    cpu_seconds: float = 0.0
    wall_seconds: float = 0.0
    peak_rss_mb: float | None = None
    rss_after_mb: float | None = None
    worker: str = ""
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


# --------------------------------------------------------------------------- in the worker

def _proc_status_mb(*keys: str) -> dict[str, float]:
    """Fields of ``/proc/self/status`` (kB) in MB; empty where /proc is not there."""
    out: dict[str, float] = {}
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                name, _, value = line.partition(":")
                if name in keys:
                    out[name] = int(value.split()[0]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return out


def _reset_peak_rss() -> bool:
    """Reset this process's peak RSS (``VmHWM``) so the next job's peak is its own (Linux ≥ 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
            f.write("5")
        return True
    except OSError:
        return False


@contextlib.contextmanager
def _address_space_budget(memory_mb: float | None) -> Iterator[None]:
    """Lower the soft RLIMIT_AS to (current address space + ``memory_mb``) for the block."""
    if not memory_mb:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = _proc_status_mb("VmSize").get("VmSize")
    if vm is None:
        yield
        return
    limit = int((vm + float(memory_mb)) * 1024 * 1024)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _trim_heap() -> None:
    """Give freed heap pages back to the OS (glibc ``malloc_trim``), so a long-lived worker's
    resident size reflects what it holds, not the high-water mark of its last track."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def execute(fn: JobFunction, args: dict, *, memory_mb: float | None = None,
            progress: Callable[[str], None] | None = None) -> Outcome:
    """Run one job in this process and describe what happened (never raises ``Exception``)."""
    step = progress or (lambda stage: None)
    worker = f"{os.uname().nodename}:{os.getpid()}"
    measured = _reset_peak_rss()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    result = code = message = None
    try:
        with _address_space_budget(memory_mb):
            result = fn(args, step)
    except MemoryError:
        code = "limit.memory"
        message = (f"needed more than the memory limit ({memory_mb:g} MB above the worker's own)"
                   if memory_mb else "ran out of memory")
    except ReissueError as err:
        code, message = err.code, err.message
    except Exception as err:  # noqa: BLE001 — one track's bug must not stop the batch
        code, message = "internal.error", f"{type(err).__name__}: {err}"
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    gc.collect()
    _trim_heap()
    status = _proc_status_mb("VmHWM", "VmRSS")
    return Outcome(ok=code is None, result=result if code is None else None, error_code=code,
                   error=message, cpu_seconds=cpu, wall_seconds=wall,
                   peak_rss_mb=status.get("VmHWM") if measured else None,
                   rss_after_mb=status.get("VmRSS"), worker=worker)


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (no-op elsewhere)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _worker_main(conn, fn: JobFunction, memory_mb: float | None, parent_pid: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    if os.getppid() != parent_pid:  # the driver died before prctl took effect
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, args = message

        def progress(stage: str, key=key) -> None:
            conn.send(("stage", key, str(stage)))

        outcome = execute(fn, args, memory_mb=memory_mb, progress=progress)
        try:
            conn.send(("done", key, outcome))
        except (BrokenPipeError, OSError):
            return


@contextlib.contextmanager
def _thread_env() -> Iterator[None]:
    """Set :data:`THREAD_ENV` (where not set) for processes started inside the block."""
    added = {k: v for k, v in THREAD_ENV.items() if k not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


# --------------------------------------------------------------------------- local engine

class _Worker:
    def __init__(self, ctx, fn: JobFunction, memory_mb: float | None, index: int) -> None:
        parent, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_worker_main, args=(child, fn, memory_mb, os.getpid()),
                                name=f"reissue-worker-{index}", daemon=True)
        with _thread_env():
            self.proc.start()
        child.close()
        self.conn = parent
        self.job: JobSpec | None = None
        self.started = 0.0

    @property
    def name(self) -> str:
        return f"{os.uname().nodename}:{self.proc.pid}"

    def assign(self, job: JobSpec) -> None:
        self.conn.send((job.key, job.args))
        self.job, self.started = job, time.perf_counter()

    def kill(self) -> None:
        if self.proc.is_alive():
            self.proc.kill()
        self.proc.join(5)
        self.conn.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.proc.join(2)
        self.kill()


class LocalEngine:
    """A pool of ``workers`` long-lived processes on this machine (see the module notes).

    Parameters
    ----------
    workers : int, optional
        Processes (one core each). Default: :func:`default_workers`.
    memory_mb : float, optional
        Address space one job may add above its worker's own; ``None`` for no limit.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, memory_mb: float | None = None) -> None:
        workers = default_workers() if workers is None else workers
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ParameterError(f"workers={workers!r} must be a positive integer")
        if memory_mb is not None and not memory_mb > 0:
            raise ParameterError(f"memory_mb={memory_mb!r} must be positive (or None)")
        self.workers = workers
        self.memory_mb = memory_mb
        self.address = None
        self._ctx = multiprocessing.get_context("spawn")

    def __enter__(self) -> LocalEngine:
        return self

    def __exit__(self, *exc) -> None:
        pass

    def describe(self) -> dict:
        return {"engine": self.name, "workers": self.workers, "memory_mb": self.memory_mb}

    def run(self, fn: JobFunction, jobs: Iterable[JobSpec], on_event: EventCallback) -> None:
        """Run every job, calling ``on_event`` as they start, change stage and finish.

        Returns when all are done. On ``KeyboardInterrupt`` (or any exception from
        ``on_event``) the workers are killed and the exception propagates; jobs that had not
        reported ``done`` simply did not finish.
        """
        queue = deque(jobs)
        pool = [_Worker(self._ctx, fn, self.memory_mb, i)
                for i in range(min(self.workers, len(queue)))]
        spawned = len(pool)
        try:
            while True:
                for w in pool:
                    if w.job is None and queue:
                        job = queue.popleft()
                        try:
                            w.assign(job)
                        except (BrokenPipeError, OSError):  # died while idle: fail nothing
                            queue.appendleft(job)
                            continue
                        on_event("start", job.key, w.name)
                busy = [w for w in pool if w.job is not None]
                if not busy:
                    if not queue:
                        return
                    pool = self._replace_dead(pool, fn)
                    continue
                waitables = [w.conn for w in busy] + [w.proc.sentinel for w in busy]
                wait_any(waitables, timeout=_POLL_SECONDS)
                for w in busy:
                    self._drain(w, on_event)
                now = time.perf_counter()
                for i, w in enumerate(pool):
                    if w.job is not None and not w.proc.is_alive():
                        self._drain(w, on_event)
                    if w.job is not None and not w.proc.is_alive():
                        code = w.proc.exitcode
                        how = (f"was killed by signal {signal.Signals(-code).name}"
                               if code is not None and code < 0 else f"exited with {code}")
                        outcome = Outcome(ok=False, error_code="worker.died",
                                          error=f"the worker process {how} (out of memory, or "
                                                f"a crash in native code)",
                                          wall_seconds=now - w.started, worker=w.name)
                        key, w.job = w.job.key, None
                        on_event("done", key, outcome)
                    elif w.job is not None and w.job.timeout_seconds is not None and \
                            now - w.started > w.job.timeout_seconds:
                        self._drain(w, on_event)  # it may have finished just now
                        if w.job is not None:
                            w.kill()
                            outcome = Outcome(
                                ok=False, error_code="limit.time",
                                error=f"took longer than its time limit "
                                      f"({w.job.timeout_seconds:.0f} s); the worker was stopped",
                                wall_seconds=now - w.started, worker=w.name)
                            key, w.job = w.job.key, None
                            on_event("done", key, outcome)
                    if w.job is None and not w.proc.is_alive():
                        w.kill()
                        if queue:
                            pool[i] = _Worker(self._ctx, fn, self.memory_mb, spawned)
                            spawned += 1
        finally:
            for w in pool:
                if w.job is None:
                    w.stop()
                else:
                    w.kill()

    def _replace_dead(self, pool: list[_Worker], fn: JobFunction) -> list[_Worker]:
        out = []
        for i, w in enumerate(pool):
            if w.proc.is_alive():
                out.append(w)
            else:
                w.kill()
                out.append(_Worker(self._ctx, fn, self.memory_mb, 1000 + i))
        return out

    @staticmethod
    def _drain(w: _Worker, on_event: EventCallback) -> None:
        """Handle every message a worker has sent so far."""
        try:
            while w.job is not None and w.conn.poll():
                kind, key, payload = w.conn.recv()
                if kind == "stage":
                    on_event("stage", key, payload)
                elif kind == "done" and w.job is not None and key == w.job.key:
                    w.job = None
                    on_event("done", key, payload)
        except (EOFError, OSError):
            pass  # the worker died; the caller sees it through is_alive()


# --------------------------------------------------------------------------- Ray engine

def _ray_task(fn: JobFunction, args: dict, memory_mb: float | None) -> Outcome:
    """What a Ray worker runs for one job."""
    return execute(fn, args, memory_mb=memory_mb)


def _short_temp_dir(preferred: Path | None) -> tuple[Path, bool]:
    """A folder for Ray's sessions whose socket paths stay below the 107-byte AF_UNIX limit.

    Ray puts sockets at ``<temp>/session_<date>_<time>_<pid>/sockets/plasma_store`` (≈ 70 bytes
    past ``<temp>``), so ``preferred`` is used only when it is at most 36 bytes long; otherwise a
    fresh folder under ``/tmp``. Returns ``(path, created_by_us)``.
    """
    if preferred is not None and len(os.fsencode(str(preferred))) <= 36:
        preferred.mkdir(parents=True, exist_ok=True)
        return preferred, False
    base = "/tmp" if os.path.isdir("/tmp") else None
    return Path(tempfile.mkdtemp(prefix="reissue-ray-", dir=base)), True


class RayEngine:
    """The same jobs as Ray tasks on a Ray cluster, or on a local Ray instance it starts.

    Parameters
    ----------
    address : str, optional
        ``ray://host:10001`` (Ray Client), ``host:6379``, or ``"auto"`` (the cluster this machine
        belongs to). ``None`` starts a private local instance with ``workers`` CPUs, its temporary
        folder at ``temp_dir`` (if short enough) or under ``/tmp`` — never in the user's home —
        and a fresh authentication token kept in the environment (Ray would otherwise write one
        to ``~/.ray``); it is shut down and its folder removed on exit.
    workers : int, optional
        Tasks in flight at once. Default: the cluster's CPUs.
    memory_mb : float, optional
        As for :class:`LocalEngine`, applied inside each Ray task.
    temp_dir : path-like, optional
        Preferred folder for a local instance's files.
    """

    name = "ray"

    def __init__(self, address: str | None = None, *, workers: int | None = None,
                 memory_mb: float | None = None, temp_dir: str | os.PathLike | None = None
                 ) -> None:
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ParameterError(f"workers={workers!r} must be a positive integer")
        self.address = address
        self.workers = workers
        self.memory_mb = memory_mb
        self._preferred_temp = Path(temp_dir) if temp_dir is not None else None
        self._temp: Path | None = None
        self._remove_temp = False
        self._ray = None
        self._started = False

    def __enter__(self) -> RayEngine:
        try:
            import ray
        except ImportError as err:
            raise ReissueError("the Ray engine needs Ray: pip install 'reissue[ray]'",
                               code="engine.ray_missing") from err
        self._ray = ray
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        if ray.is_initialized():
            pass  # the caller connected already: use that cluster as it is
        elif self.address is None:
            import secrets

            cpus = self.workers or default_workers()
            self._temp, self._remove_temp = _short_temp_dir(self._preferred_temp)
            # token auth without writing ~/.ray/auth_token; workers inherit the environment
            os.environ.setdefault("RAY_AUTH_TOKEN", secrets.token_hex(32))
            with _thread_env():
                ray.init(num_cpus=cpus, include_dashboard=False, _temp_dir=str(self._temp),
                         log_to_driver=False, configure_logging=False)
            self._started = True
        else:
            try:
                ray.init(address=self.address, log_to_driver=False, configure_logging=False,
                         runtime_env={"env_vars": {k: os.environ.get(k, v)
                                                   for k, v in THREAD_ENV.items()}})
            except (ConnectionError, RuntimeError, ValueError) as err:
                raise ReissueError(f"cannot connect to the Ray cluster at {self.address!r} "
                                   f"({err}); check the address and that the cluster runs the "
                                   f"same Ray and Python versions",
                                   code="engine.ray_connect") from err
            self._started = True
        if self.workers is None:
            self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        return self

    def __exit__(self, *exc) -> None:
        if self._ray is not None and self._started:
            self._ray.shutdown()
        if self._remove_temp and self._temp is not None:
            shutil.rmtree(self._temp, ignore_errors=True)
        self._started = False

    def describe(self) -> dict:
        d = {"engine": self.name, "workers": self.workers, "memory_mb": self.memory_mb,
             "address": self.address or "local instance"}
        if self._ray is not None and self._ray.is_initialized():
            d["ray_version"] = self._ray.__version__
            d["cluster_cpus"] = self._ray.cluster_resources().get("CPU")
        return d

    def run(self, fn: JobFunction, jobs: Iterable[JobSpec], on_event: EventCallback) -> None:
        """As :meth:`LocalEngine.run` (no ``stage`` events)."""
        if self._ray is None:
            raise ReissueError("RayEngine.run needs the engine entered (`with RayEngine() as e`)",
                               code="engine.not_started")
        ray = self._ray
        remote = ray.remote(num_cpus=1, max_retries=0)(_ray_task)
        queue = deque(jobs)
        inflight: dict[Any, tuple[JobSpec, float]] = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < self.workers:
                    job = queue.popleft()
                    ref = remote.remote(fn, job.args, self.memory_mb)
                    inflight[ref] = (job, time.perf_counter())
                    on_event("start", job.key, "ray")
                ready, _ = ray.wait(list(inflight), num_returns=len(inflight),
                                    timeout=_POLL_SECONDS)
                for ref in ready:
                    job, t0 = inflight.pop(ref)
                    on_event("done", job.key, self._outcome(ref, time.perf_counter() - t0))
                now = time.perf_counter()
                for ref, (job, t0) in list(inflight.items()):
                    if job.timeout_seconds is not None and now - t0 > job.timeout_seconds:
                        ray.cancel(ref, force=True)
                        del inflight[ref]
                        on_event("done", job.key, Outcome(
                            ok=False, error_code="limit.time",
                            error=f"took longer than its time limit ({job.timeout_seconds:.0f} "
                                  f"s); the task was cancelled", wall_seconds=now - t0,
                            worker="ray"))
        finally:
            for ref in inflight:
                with contextlib.suppress(Exception):
                    ray.cancel(ref, force=True)

    def _outcome(self, ref, wall: float) -> Outcome:
        ray = self._ray
        try:
            return ray.get(ref)
        except ray.exceptions.OutOfMemoryError as err:
            code, message = "limit.memory", f"Ray's memory monitor stopped the task ({err})"
        except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as err:
            code, message = "worker.died", f"the Ray worker died ({type(err).__name__})"
        except ray.exceptions.TaskCancelledError:
            code, message = "worker.cancelled", "the task was cancelled"
        except ray.exceptions.RayError as err:
            code, message = "worker.error", f"{type(err).__name__}: {str(err)[:300]}"
        return Outcome(ok=False, error_code=code, error=message, wall_seconds=wall, worker="ray")


def make_engine(name: str = "local", *, workers: int | None = None, address: str | None = None,
                memory_mb: float | None = None, temp_dir: str | os.PathLike | None = None):
    """``"local"`` → :class:`LocalEngine`, ``"ray"`` → :class:`RayEngine` (use as a context)."""
    if name == "local":
        if address is not None:
            raise ParameterError(f"address={address!r} only applies to the Ray engine "
                                 f"(--engine ray)")
        return LocalEngine(workers, memory_mb=memory_mb)
    if name == "ray":
        return RayEngine(address, workers=workers, memory_mb=memory_mb, temp_dir=temp_dir)
    raise ParameterError(f"engine={name!r} must be 'local' or 'ray'")
