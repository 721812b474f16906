"""Refresh a whole catalogue: discovery, de-duplication, a resumable plan of work, a summary.

Conventions
-----------
* ``run_batch(SRC, OUT, style=..., intensity=..., seed=...)`` finds every audio file under ``SRC``
  (recursively; hidden files and folders, and ``OUT`` if it lies inside ``SRC``, are skipped),
  hashes each (SHA-256 of its bytes) and renders each distinct content once, to the mirrored path
  under ``OUT`` with the chosen format's suffix (``SRC/a/b.wav`` → ``OUT/a/b.flac``) and its
  report beside it (``OUT/a/b.flac.json``). Copies with the same bytes elsewhere in ``SRC`` get
  their mirrored output as a hard link (a copy across file systems) of the one render. When two
  sources would land on one name (``b.wav`` and ``b.mp3``), both keep their suffix
  (``b.wav.flac``). Originals are only ever opened for reading.
* State lives in the library (SQLite, :mod:`reissue.library`, tables ``batches`` and
  ``batch_items``): one batch per output folder, one item per distinct content, with its state
  (``pending``/``running``/``done``/``failed``), attempts, error and cost. Only the driver writes
  there — workers (local processes or Ray tasks on other machines) touch nothing but the paths
  they are given — so the database never sits on shared storage.
* Resumable: re-running the same command, or ``--resume`` (which reuses the recorded settings),
  skips done items and redoes the unfinished ones; an item left ``running`` by a killed run is
  redone. Failed items are kept as failed unless ``retry_failed``. Each render goes into a private
  staging folder under ``OUT/.reissue-staging`` and is renamed into place when complete, audio
  first and then its report; an item whose output and report are already in place and match
  (the report records the source's and the output's SHA-256) is marked done without rendering
  again, so a run killed between the rename and the database update does not render twice. A
  lock file (``OUT/.reissue-batch.lock``) keeps two runs from writing one folder.
* Failure isolation: a file that cannot be decoded, or a job that hits its time or memory limit,
  or whose worker dies, fails that item only (code and one-line reason recorded); the batch goes
  on. The exit status of ``reissue batch`` is 1 if any item failed.
* Order: longest tracks first (longest-processing-time-first), so the last minutes of a batch are
  not one long track on one core while the others idle.
* The summary (returned, stored in the library and written to ``OUT/reissue-batch-summary.json``)
  counts tracks done/failed/skipped, audio hours, CPU hours (the workers' CPU time per job plus
  the driver's), wall time, the real-time factor per core (audio seconds per CPU second),
  throughput, peak memory per job, and an energy estimate in Wh per hour of audio with its method
  (RAPL package counters when readable, otherwise CPU-seconds × W/core + GB × s × W/GB as in
  :mod:`reissue.cost`).

Measured (2-core VM, Python 3.12, ``benchmarks/batch.py``)
-----------------------------------------------------------
* 20 tracks × 3 min (wesnoth-music recordings looped and varied, 44.1 kHz stereo FLAC),
  modern-pop, intensity 0.7, each run pinned to as many cores as workers: 1 worker 30.0× real
  time, 2 workers 53.9× — scaling efficiency 90 %; 1.88 CPU-s per audio minute (1.97 with two
  workers sharing caches and memory bandwidth); peak ≈ 0.77 GB per 3-minute track; ≈ 0.33 Wh per
  audio hour (estimate method above).
* Memory over a long batch: 200 tracks of 6 s on 2 workers — a worker's resident size after a
  track 251 MB over its first tenth of tracks, 269 MB over its last (≈ 100 tracks each, peak
  300 MB); an earlier run's per-track series rose 237 → 249 MB over the first 5 tracks and
  flattened (+1 MB over the last 25): caches warming, not a leak (the engine calls
  ``malloc_trim`` after each job, so the figure is what the worker holds).
* Long inputs: ``refresh`` renders recordings over 5 minutes in fixed segments
  (:mod:`reissue.produce.blocks`), so a 60-minute stereo 44.1 kHz input peaks at ≈ 1.0 GB
  (112 CPU-s); the default per-track memory limit (80 % of RAM shared among the workers) is a
  guard against pathological files, not a limit a normal track meets.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import AudioFileError, ParameterError, ReissueError
from .library import sha256_file

__all__ = ["BatchError", "BatchProgress", "BatchSummary", "PlannedItem", "Plan", "discover",
           "plan_batch", "refresh_job", "run_batch", "SUMMARY_NAME", "STAGING_NAME",
           "default_time_limit", "default_memory_limit_mb"]

SUMMARY_NAME = "reissue-batch-summary.json"
STAGING_NAME = ".reissue-staging"
LOCK_NAME = ".reissue-batch.lock"


class BatchError(ReissueError):
    """A batch cannot start as asked (its message says why and what to do)."""

    code = "batch.error"


# --------------------------------------------------------------------------- discovery & plan

def _audio_suffixes() -> tuple[str, ...]:
    from .io import SUPPORTED_READ

    return SUPPORTED_READ


def discover(source_dir: str | os.PathLike, *, exclude: tuple[Path, ...] = ()) -> list[Path]:
    """Audio files under ``source_dir`` (by suffix, case-insensitive), relative and sorted.

    Hidden files and folders (a leading dot) and the folders in ``exclude`` are skipped;
    symbolic links to files are followed, links to folders are not (no cycles).
    """
    root = Path(source_dir)
    suffixes = _audio_suffixes()
    excluded = {p.resolve() for p in exclude}
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".")
                         and (here / d).resolve() not in excluded)
        for name in files:
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                found.append((here / name).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


@dataclass(frozen=True)
class PlannedItem:
    """One distinct content: where its first copy is, its other copies, and its output."""

    sha256: str
    source: str
    duplicates: tuple[tuple[str, str], ...]  # (relative source, relative output)
    output: str
    size_bytes: int
    duration_seconds: float | None


@dataclass(frozen=True)
class Plan:
    items: tuple[PlannedItem, ...]
    files: int
    unreadable: tuple[dict, ...]  # {"source", "error_code", "error"} for files that cannot be read


def _output_names(sources: list[Path], fmt: str) -> dict[Path, Path]:
    """Mirrored output paths; sources that would share a name keep their suffix in it."""
    first: dict[Path, list[Path]] = {}
    for rel in sources:
        first.setdefault(rel.with_suffix("." + fmt), []).append(rel)
    out: dict[Path, Path] = {}
    for target, rels in first.items():
        for rel in rels:
            out[rel] = target if len(rels) == 1 else rel.with_name(rel.name + "." + fmt)
    return out


def _duration(path: Path) -> float | None:
    import soundfile as sf

    try:
        info = sf.info(str(path))
        return float(info.frames) / info.samplerate if info.samplerate > 0 else None
    except Exception:  # noqa: BLE001 — undecodable files fail later, in their own job, with a reason
        return None


def plan_batch(source_dir: str | os.PathLike, out_dir: str | os.PathLike, *, fmt: str = "flac"
               ) -> Plan:
    """Discover, hash and de-duplicate ``source_dir``; name each output under ``out_dir``."""
    source_dir, out_dir = Path(source_dir).resolve(), Path(out_dir).resolve()
    rels = discover(source_dir, exclude=(out_dir,))
    names = _output_names(rels, fmt)
    groups: dict[str, list[Path]] = {}
    sizes: dict[str, int] = {}
    unreadable = []
    for rel in rels:
        try:
            digest = sha256_file(source_dir / rel)
            size = (source_dir / rel).stat().st_size
        except OSError as err:
            unreadable.append({"source": rel.as_posix(), "error_code": "audio.unreadable",
                               "error": f"{rel.as_posix()}: cannot be read "
                                        f"({err.strerror or err}) — check its permissions"})
            continue
        groups.setdefault(digest, []).append(rel)
        sizes[digest] = size
    sources = {(source_dir / r).resolve() for r in rels}
    items = []
    for digest, copies in groups.items():
        primary = copies[0]
        out = names[primary]
        if (out_dir / out).resolve() in sources:
            raise BatchError(f"{out_dir / out}: the output would replace an original; choose an "
                             f"--out-dir outside the source folder", code="batch.overlap")
        items.append(PlannedItem(
            sha256=digest, source=primary.as_posix(),
            duplicates=tuple((c.as_posix(), names[c].as_posix()) for c in copies[1:]),
            output=out.as_posix(), size_bytes=sizes[digest],
            duration_seconds=_duration(source_dir / primary)))
    return Plan(tuple(items), len(rels), tuple(unreadable))


# --------------------------------------------------------------------------- the job

def refresh_job(args: dict, progress: Callable[[str], None]) -> dict:
    """Refresh one track for a batch (runs in a worker; see :mod:`reissue.engine`).

    ``args``: ``source``, ``output``, ``staging`` (absolute paths), ``sha256`` of the source,
    ``settings`` {style, intensity, seed, format}. Renders into ``staging``, records the source's
    and the output's SHA-256 in the report, then renames the audio and the report into place.
    """
    from .refresh import refresh, write_json

    source, output, staging = Path(args["source"]), Path(args["output"]), Path(args["staging"])
    settings = args["settings"]
    digest = sha256_file(source)
    if digest != args["sha256"]:
        raise AudioFileError(source, "changed since the batch was planned",
                             "run the batch again to pick up the new content",
                             code="batch.source_changed")
    staging.mkdir(parents=True, exist_ok=True)
    try:
        tmp = staging / output.name
        result = refresh(source, style=settings["style"], intensity=settings["intensity"],
                         seed=settings["seed"], out=tmp, overwrite=True, progress=progress)
        report = dict(result.report)
        out_sha = sha256_file(tmp)
        report["output"] = str(output)
        report["files"] = {**(report.get("files") or {}), "audio": str(output)}
        report["batch"] = {"source_sha256": digest, "output_sha256": out_sha,
                           "settings": settings}
        output.parent.mkdir(parents=True, exist_ok=True)
        mode = _file_mode()  # temporary files are created 0600; outputs follow the umask
        os.chmod(tmp, mode)
        os.replace(tmp, output)
        write_json(report, _report_path(output))
        os.chmod(_report_path(output), mode)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output_sha256": out_sha, "style": report.get("style"),
            "audio_seconds": (report.get("original") or {}).get("duration_seconds"),
            "identity": (report.get("identity") or {}).get("score"),
            "modernity": (report.get("modernity") or {}).get("score"),
            "report_cost": report.get("cost")}


def _file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the current umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _report_path(output: Path) -> Path:
    return output.with_name(output.name + ".json")


def _already_done(output: Path, sha256: str, settings: dict) -> str | None:
    """The output's SHA-256 when ``output`` and its report are in place and match, else None."""
    report_path = _report_path(output)
    if not (output.is_file() and report_path.is_file()):
        return None
    try:
        batch = json.loads(report_path.read_text(encoding="utf-8")).get("batch") or {}
    except (OSError, ValueError, AttributeError):
        return None
    if batch.get("source_sha256") != sha256 or batch.get("settings") != settings:
        return None
    try:
        out_sha = sha256_file(output)
    except OSError:
        return None
    return out_sha if out_sha == batch.get("output_sha256") else None


def _link_or_copy(src: Path, dst: Path) -> None:
    """Put ``src``'s bytes at ``dst`` atomically: a hard link, or a copy across devices."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists() and os.path.samefile(src, dst):
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".part", dir=dst.parent)
    os.close(fd)
    os.unlink(tmp)
    try:
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --------------------------------------------------------------------------- summary

@dataclass
class BatchProgress:
    """What the driver knows while a batch runs (given to the ``on_progress`` callback)."""

    tracks_total: int = 0
    audio_seconds_total: float = 0.0
    done: int = 0
    failed: int = 0
    skipped: int = 0
    audio_seconds_done: float = 0.0
    running: dict = field(default_factory=dict)  # item id -> (source, stage)
    last: str = ""


@dataclass
class BatchSummary:
    """The outcome of one ``run_batch`` call (see the module notes); ``to_dict()`` is the JSON."""

    source_dir: str
    out_dir: str
    settings: dict
    engine: dict
    tracks: dict
    audio_seconds: float
    audio_hours: float
    audio_hours_total: float
    cpu_hours: float
    driver_cpu_seconds: float
    wall_seconds: float
    real_time_factor_per_core: float | None
    throughput_x_real_time: float | None
    memory: dict
    energy: dict
    load_average: dict
    failures: list[dict]
    interrupted: bool = False
    software_version: str = ""
    library: str = ""
    summary_path: str = ""

    @property
    def ok(self) -> bool:
        return not self.failures and not self.interrupted

    def to_dict(self) -> dict:
        return asdict(self)


def _energy(outcomes: list, driver_cpu: float, wall: float, rapl0: int | None,
            rapl1: int | None) -> dict:
    from .cost import WATTS_PER_CORE, WATTS_PER_GB

    cpu = sum(o.cpu_seconds for o in outcomes) + driver_cpu
    if rapl0 is not None and rapl1 is not None and rapl1 >= rapl0 and wall > 0:
        cores = os.cpu_count() or 1
        share = min(1.0, cpu / (wall * cores))
        joules = (rapl1 - rapl0) / 1e6 * share
        method = (f"RAPL package energy over the run × the batch's share of the machine's CPU "
                  f"time ({share:.2f})")
    else:
        gb_seconds = sum((o.peak_rss_mb or 0.0) / 1024.0 * o.wall_seconds for o in outcomes)
        joules = cpu * WATTS_PER_CORE + gb_seconds * WATTS_PER_GB
        method = (f"estimate: CPU-s × {WATTS_PER_CORE:g} W/core + peak GB × wall s × "
                  f"{WATTS_PER_GB:g} W/GB per track (no RAPL counters readable)")
    return {"joules": round(joules, 1), "wh": round(joules / 3600.0, 4), "method": method}


def _rapl() -> int | None:
    from .cost import _rapl_uj

    return _rapl_uj()


def _load() -> list[float] | None:
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except OSError:
        return None


def default_time_limit(duration_seconds: float | None) -> float:
    """Wall-clock limit for one track: 10 minutes plus 20 s per second of audio.

    A guard against hangs, generous enough for a loaded machine (a refresh costs ≈ 1–2 CPU-s per
    second of audio on one core).
    """
    return 600.0 + 20.0 * float(duration_seconds or 600.0)


def default_memory_limit_mb(workers: int) -> float:
    """80 % of this machine's physical memory shared among ``workers`` (at least 1 GB each).

    Measured: a refresh's peak grows ≈ 0.26 GB per minute of stereo 44.1 kHz audio (0.5 GB at
    1 min, 1.3 GB at 4 min, 2.8 GB at 10 min), so on a 24 GB machine with 2 workers a track of
    up to ≈ 35 minutes fits and a longer one fails cleanly (``limit.memory``) instead of pushing
    the machine into the OOM killer.
    """
    try:
        total_mb = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (ValueError, OSError, AttributeError):
        return 4096.0
    return max(1024.0, round(0.8 * total_mb / max(1, workers)))


# --------------------------------------------------------------------------- the driver

@contextlib.contextmanager
def _lock(out_dir: Path):
    path = out_dir / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise BatchError(f"{out_dir}: another reissue batch is writing into this folder; "
                             f"wait for it or stop it first", code="batch.locked") from err
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        os.close(fd)


def _settings(style, intensity, seed, fmt) -> dict:
    from .io import SUPPORTED_WRITE

    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) \
            or not 0.0 <= float(intensity) <= 1.0:
        raise ParameterError(f"intensity={intensity!r} must be between 0 and 1")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ParameterError(f"seed={seed!r} must be an integer")
    fmt = str(fmt).lower().lstrip(".")
    if "." + fmt not in SUPPORTED_WRITE or fmt == "aif":
        raise ParameterError(f"format={fmt!r} must be one of "
                             f"{', '.join(s[1:] for s in SUPPORTED_WRITE if s != '.aif')}")
    if style != "auto":
        from .styles import get_style

        get_style(style)  # an unknown style fails before any work
    return {"style": str(style), "intensity": float(intensity), "seed": int(seed), "format": fmt}


def run_batch(source_dir: str | os.PathLike | None, out_dir: str | os.PathLike, *,
              style: str | None = None, intensity: float | None = None, seed: int | None = None,
              fmt: str | None = None, workers: int | None = None, engine: str = "local",
              address: str | None = None, resume: bool = False, retry_failed: bool = False,
              library: str | os.PathLike | None = None, time_limit_seconds: float | None = None,
              memory_limit_mb: float | str | None = "auto",
              job: Callable[[dict, Callable[[str], None]], dict] = refresh_job,
              on_progress: Callable[[BatchProgress], None] | None = None) -> BatchSummary:
    """Refresh every track under ``source_dir`` into ``out_dir``; see the module notes.

    Parameters
    ----------
    source_dir : path-like or None
        The catalogue (read only). ``None`` only with ``resume`` (the recorded one is used).
    out_dir : path-like
        Where the mirrored versions go (created if missing).
    style, intensity, seed, fmt : optional
        The refresh settings and output format. ``None`` means the recorded value when the
        batch exists (or with ``resume``), else ``"auto"``, 0.7, 1 and ``"flac"``. A batch that
        exists with other settings is refused (use another ``out_dir``).
    workers : int, optional
        Jobs at once (default: the cores, or the Ray cluster's CPUs).
    engine : {"local", "ray"}
    address : str, optional
        Ray cluster address (``ray://host:10001``, ``auto``); none starts a local Ray instance.
    resume : bool
        Continue the batch recorded for ``out_dir`` (it must exist).
    retry_failed : bool
        Run items that failed in earlier runs again.
    library : path-like, optional
        The library file (default :func:`reissue.library.default_library_path`).
    time_limit_seconds : float, optional
        Wall-clock limit per track; default :func:`default_time_limit` of its duration.
    memory_limit_mb : float, "auto" or None
        Address space one track may add above its worker's; ``None`` for no limit; ``"auto"``
        is :func:`default_memory_limit_mb` for the local engine's worker count (for Ray, of this
        machine's memory and the tasks in flight).
    job : callable
        The job function (default :func:`refresh_job`); tests pass cheaper ones.
    on_progress : callable, optional
        Called with a :class:`BatchProgress` whenever a track starts, changes stage or ends.

    Returns
    -------
    BatchSummary
        With ``interrupted=True`` if Ctrl-C (``KeyboardInterrupt``) stopped it: running items
        are put back to pending, so the next run redoes them.
    """
    from . import __version__
    from .engine import JobSpec, make_engine
    from .library import Library

    wall0, cpu0 = time.perf_counter(), time.process_time()
    load0 = _load()
    out_dir = Path(out_dir).expanduser().resolve()
    lib = Library(library)
    try:
        recorded = lib.get_batch(str(out_dir))
        if resume and recorded is None:
            raise BatchError(f"{out_dir}: no batch recorded for this folder in {lib.path}; run "
                             f"`reissue batch SRC_DIR --out-dir {out_dir}` to start one",
                             code="batch.not_found")
        base = recorded["settings"] if recorded else {}
        settings = _settings(style if style is not None else base.get("style", "auto"),
                             intensity if intensity is not None else base.get("intensity", 0.7),
                             seed if seed is not None else base.get("seed", 1),
                             fmt if fmt is not None else base.get("format", "flac"))
        if source_dir is None:
            if recorded is None:
                raise BatchError("no source folder given (SRC_DIR)", code="batch.no_source")
            source_dir = recorded["source_dir"]
        source = Path(source_dir).expanduser().resolve()
        if not source.is_dir():
            raise BatchError(f"{source}: no such folder", code="batch.no_source")
        if source == out_dir:
            raise BatchError(f"{out_dir}: the output folder is the source folder; choose "
                             f"another --out-dir (originals are never overwritten)",
                             code="batch.overlap")
        if recorded is not None and recorded["settings"] != settings:
            diff = ", ".join(f"{k} {recorded['settings'].get(k)!r} → {v!r}"
                             for k, v in settings.items() if recorded["settings"].get(k) != v)
            raise BatchError(f"{out_dir}: holds a batch with other settings ({diff}); use "
                             f"another --out-dir, or --resume to continue it as it was",
                             code="batch.settings_differ")
        out_dir.mkdir(parents=True, exist_ok=True)
        with _lock(out_dir):
            if recorded is None:
                recorded = lib.create_batch(str(out_dir), str(source), settings)
            batch_id = recorded["id"]
            lib.update_batch(batch_id, state="running", source_dir=str(source))
            return _run(lib, batch_id, source, out_dir, settings, wall0=wall0, cpu0=cpu0,
                        load0=load0, workers=workers, engine=engine, address=address,
                        retry_failed=retry_failed, time_limit_seconds=time_limit_seconds,
                        memory_limit_mb=memory_limit_mb, job=job, on_progress=on_progress,
                        version=__version__, make_engine=make_engine, JobSpec=JobSpec)
    finally:
        lib.close()


def _run(lib, batch_id, source, out_dir, settings, *, wall0, cpu0, load0, workers, engine,
         address, retry_failed, time_limit_seconds, memory_limit_mb, job, on_progress, version,
         make_engine, JobSpec) -> BatchSummary:
    staging_root = out_dir / STAGING_NAME
    shutil.rmtree(staging_root, ignore_errors=True)  # leftovers of a killed run (we hold the lock)
    plan = plan_batch(source, out_dir, fmt=settings["format"])
    lib.upsert_batch_items(batch_id, [
        {"sha256": it.sha256, "source": it.source, "duplicates": [list(d) for d in it.duplicates],
         "output": it.output, "size_bytes": it.size_bytes,
         "duration_seconds": it.duration_seconds} for it in plan.items])
    lib.requeue_batch_items(batch_id, states=("running", "failed") if retry_failed
                            else ("running",))
    current = {it.sha256 for it in plan.items}
    items = {it["id"]: it for it in lib.batch_items(batch_id) if it["sha256"] in current}

    skipped = recovered = 0
    todo = []
    for it in items.values():
        if it["state"] == "pending":
            out_sha = _already_done(out_dir / it["output"], it["sha256"], settings)
            if out_sha is not None:
                lib.update_batch_item(it["id"], state="done", output_sha256=out_sha,
                                      error=None, error_code=None)
                it["state"] = "done"
                recovered += 1
        if it["state"] == "done":
            skipped += 1
            _link_duplicates(out_dir, it)
        elif it["state"] == "pending":
            todo.append(it)
    todo.sort(key=lambda it: (it["duration_seconds"] is not None,
                              -(it["duration_seconds"] or 0.0), it["source"]))

    state = BatchProgress(tracks_total=len(todo), skipped=skipped,
                          audio_seconds_total=sum(it["duration_seconds"] or 0.0 for it in todo))
    notify = on_progress or (lambda s: None)
    outcomes: dict[int, object] = {}
    failures: list[dict] = [dict(u) for u in plan.unreadable]
    audio_done = 0.0
    rapl0 = _rapl()

    def on_event(kind: str, key: int, payload) -> None:
        nonlocal audio_done
        it = items[key]
        if kind == "start":
            lib.update_batch_item(key, state="running", error=None, error_code=None)
            state.running[key] = (it["source"], "starting")
        elif kind == "stage":
            state.running[key] = (it["source"], payload)
        elif kind == "done":
            outcome = payload
            outcomes[key] = outcome
            state.running.pop(key, None)
            cost = {"cpu_seconds": round(outcome.cpu_seconds, 3),
                    "wall_seconds": round(outcome.wall_seconds, 3),
                    "peak_rss_mb": outcome.peak_rss_mb, "rss_after_mb": outcome.rss_after_mb,
                    "worker": outcome.worker}
            if outcome.ok:
                result = outcome.result or {}
                seconds = result.get("audio_seconds") or it["duration_seconds"] or 0.0
                cost["report"] = result.get("report_cost")
                lib.update_batch_item(key, state="done", cost=cost,
                                      output_sha256=result.get("output_sha256"),
                                      software_version=version,
                                      duration_seconds=seconds or it["duration_seconds"])
                _link_duplicates(out_dir, it)
                state.done += 1
                audio_done += seconds
                state.audio_seconds_done += it["duration_seconds"] or seconds
                state.last = f"done {it['source']}"
            else:
                lib.update_batch_item(key, state="failed", cost=cost,
                                      error_code=outcome.error_code, error=outcome.error,
                                      software_version=version)
                failures.append({"source": it["source"], "error_code": outcome.error_code,
                                 "error": outcome.error})
                state.failed += 1
                state.audio_seconds_done += it["duration_seconds"] or 0.0
                state.last = f"failed {it['source']}: {outcome.error_code}"
        notify(state)

    jobs = [JobSpec(it["id"], {
        "source": str(source / it["source"]), "output": str(out_dir / it["output"]),
        "staging": str(staging_root / f"{it['id']}-{os.getpid()}"), "sha256": it["sha256"],
        "settings": settings},
        time_limit_seconds or default_time_limit(it["duration_seconds"])) for it in todo]
    interrupted = False
    if memory_limit_mb == "auto":
        from .engine import default_workers

        memory_limit_mb = default_memory_limit_mb(workers or default_workers())
    runner = make_engine(engine, workers=workers, address=address, memory_mb=memory_limit_mb,
                         temp_dir=out_dir / ".ray" if engine == "ray" else None)
    engine_info = {"engine": engine}
    notify(state)
    try:
        with runner:
            engine_info = runner.describe()
            if jobs:
                runner.run(job, jobs, on_event)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        lib.requeue_batch_items(batch_id, states=("running",))
        shutil.rmtree(staging_root, ignore_errors=True)
        if engine == "ray":
            shutil.rmtree(out_dir / ".ray", ignore_errors=True)

    wall = time.perf_counter() - wall0
    driver_cpu = time.process_time() - cpu0
    finished = list(outcomes.values())
    worker_cpu = sum(o.cpu_seconds for o in finished)
    all_items = lib.batch_items(batch_id)
    in_plan = [it for it in all_items if it["sha256"] in current]
    energy = _energy(finished, driver_cpu, wall, rapl0, _rapl())
    hours = audio_done / 3600.0
    energy["wh_per_audio_hour"] = round(energy["wh"] / hours, 3) if hours > 0 else None
    peaks = [o.peak_rss_mb for o in finished if o.peak_rss_mb is not None]
    after = [o.rss_after_mb for o in finished if o.rss_after_mb is not None]
    summary = BatchSummary(
        source_dir=str(source), out_dir=str(out_dir), settings=settings, engine=engine_info,
        tracks={"files": plan.files, "distinct": len(plan.items),
                "duplicates": plan.files - len(plan.items) - len(plan.unreadable),
                "done": state.done, "failed": state.failed + len(plan.unreadable),
                "skipped": skipped, "recovered": recovered,
                "pending": sum(1 for it in in_plan if it["state"] == "pending"),
                "done_total": sum(1 for it in in_plan if it["state"] == "done"),
                "failed_total": sum(1 for it in in_plan if it["state"] == "failed")
                + len(plan.unreadable)},
        audio_seconds=round(audio_done, 3), audio_hours=round(hours, 6),
        audio_hours_total=round(sum(it["duration_seconds"] or 0.0 for it in in_plan) / 3600, 6),
        cpu_hours=round((worker_cpu + driver_cpu) / 3600.0, 6),
        driver_cpu_seconds=round(driver_cpu, 3), wall_seconds=round(wall, 3),
        real_time_factor_per_core=round(audio_done / worker_cpu, 3) if worker_cpu > 0 else None,
        throughput_x_real_time=round(audio_done / wall, 3) if wall > 0 and audio_done else None,
        memory={"peak_rss_mb_max": round(max(peaks), 1) if peaks else None,
                "rss_after_mb_first": round(after[0], 1) if after else None,
                "rss_after_mb_last": round(after[-1], 1) if after else None},
        energy=energy, load_average={"start": load0, "end": _load()},
        failures=failures + [{"source": it["source"], "error_code": it["error_code"],
                              "error": it["error"], "earlier_run": True}
                             for it in in_plan if it["state"] == "failed"
                             and it["id"] not in outcomes],
        interrupted=interrupted, software_version=version, library=str(lib.path))
    summary_path = out_dir / SUMMARY_NAME
    summary.summary_path = str(summary_path)
    from .refresh import write_json

    write_json(summary.to_dict(), summary_path)
    lib.update_batch(batch_id, summary=summary.to_dict(),
                     state="interrupted" if interrupted else
                     "failed" if summary.tracks["failed_total"] else "done")
    return summary


def _link_duplicates(out_dir: Path, item: dict) -> None:
    output = out_dir / item["output"]
    if not output.is_file():
        return
    for _, dup_out in item["duplicates"]:
        target = out_dir / dup_out
        _link_or_copy(output, target)
        report = _report_path(output)
        if report.is_file():
            _link_or_copy(report, _report_path(target))
