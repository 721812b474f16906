"""The library: originals stored once by content, analyses cached, versions with provenance, jobs.

Conventions
-----------
* One SQLite file (default ``$XDG_DATA_HOME/reissue/library.sqlite3``, else
  ``~/.local/share/reissue/library.sqlite3``) and one sibling folder for files,
  ``<name>.files/`` (``library.files/`` beside ``library.sqlite3``):

  ``originals/<sha[:2]>/<sha256>.<ext>``
      Each original exactly once, named by the SHA-256 of its bytes, mode 0444. The suffix comes
      from the *detected* container (libsndfile), never from the uploaded name: a user's file
      name is kept in the database as text only and never reaches the file system.
  ``playback/<sha256>.flac``
      A browser-playable copy, made only for containers browsers do not decode (AIFF).
  ``versions/<id>/``
      One folder per rendered version (audio, report, MIDI, stems), written under
      ``versions/.tmp-<id>-*`` and renamed into place when complete, so a crash never leaves a
      half-written version under its final name.
  ``incoming/``
      Uploads being received (removed once stored or refused).
* Every write is atomic: files are written to a temporary name in the destination folder and
  renamed; database changes happen in transactions. The database runs in WAL mode, so render
  workers (other processes) update jobs while the server reads.
* Deleting a version removes its row and folder and never touches the original. Deleting an
  original requires ``confirm=True`` (the web page asks the user) and removes its versions,
  analyses and jobs with it.
* Times are ISO 8601 UTC strings with milliseconds; JSON columns hold plain JSON text.

Schema and migrations
---------------------
The schema version is SQLite's ``PRAGMA user_version``; :data:`MIGRATIONS` is an append-only list
of ``(version, description, sql)``, applied in order inside one transaction each, and recorded in
the ``schema_migrations`` table. To change the schema, append a migration (never edit an applied
one) and bump nothing else; a library written by a newer reissue (higher ``user_version``) is
refused rather than guessed at. Schema version 1:

``originals``
    ``id``, ``sha256`` (unique), ``filename`` (sanitised display name), ``title``, ``format``
    (``wav``/``flac``/``ogg``/``mp3``/``aiff``), ``blob`` (path relative to the files folder),
    ``size_bytes``, ``duration_seconds``, ``sample_rate``, ``channels``, ``added_at``.
``analyses``
    Cache of :meth:`reissue.analysis.Analysis.to_dict` per ``(original_id, software_version)``:
    ``data`` JSON, ``created_at``.
``versions``
    ``original_id``, ``style``, ``intensity``, ``seed``, ``reference_id`` (an original, or
    NULL), ``options`` JSON (``{"stems": bool}``), ``software_version``, ``status``
    (``queued``/``running``/``done``/``failed``), ``folder``, ``files`` JSON (names inside the
    folder: ``audio``, ``report``, ``midi``, ``stems`` {name: file}), ``report`` JSON (the
    refresh report), ``sound`` JSON (the result's sound analysis, for the page's curves),
    ``cpu_seconds``, ``energy_joules``, ``error``, ``created_at``, ``finished_at``.
    A version is identified by its provenance: asking again for the same original, style,
    intensity, seed, reference, options and software version returns the existing one (renders
    are deterministic), unless it failed.
``jobs``
    ``kind`` (``analyse``, ``render``; other tools add their own kinds), ``original_id``,
    ``version_id``, ``params`` JSON, ``state`` (``queued``/``running``/``done``/``failed``),
    ``stage``, ``progress`` in [0, 1], ``message``, ``error_code``, ``created_at``,
    ``started_at``, ``finished_at``, ``updated_at``.

Schema version 2 adds the state of ``reissue batch`` runs (:mod:`reissue.batch`); they read
originals where they lie and write into the user's output folder, so they add no originals:

``batches``
    ``out_dir`` (absolute, unique: one batch per output folder), ``source_dir``, ``settings``
    JSON (style, intensity, seed, format), ``state`` (``running``/``done``/``failed``/
    ``interrupted``), ``summary`` JSON (the last run's summary), ``created_at``, ``updated_at``.
``batch_items``
    One per distinct content (``sha256``, unique within a batch): ``source`` (relative path of
    the first copy), ``duplicates`` JSON (other relative paths with the same bytes), ``output``
    (relative path under ``out_dir``), ``size_bytes``, ``duration_seconds``, ``state``
    (``pending``/``running``/``done``/``failed``), ``attempts``, ``error_code``, ``error``,
    ``cost`` JSON, ``output_sha256``, ``software_version``, ``started_at``, ``finished_at``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import sqlite3
import stat
import tempfile
import threading
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .errors import AudioFileError, ParameterError, ReissueError

__all__ = [
    "BROWSER_FORMATS",
    "JOB_STATES",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "ConfirmationRequired",
    "Job",
    "Library",
    "LibraryError",
    "NotFoundError",
    "Original",
    "Version",
    "default_library_path",
    "detect_format",
    "sanitize_filename",
]

#: Containers browsers decode natively; others get a FLAC playback copy.
BROWSER_FORMATS = ("wav", "flac", "ogg", "mp3")
#: libsndfile container name -> our suffix.
_FORMATS = {"WAV": "wav", "WAVEX": "wav", "RF64": "wav", "FLAC": "flac", "OGG": "ogg",
            "MP3": "mp3", "AIFF": "aiff"}
JOB_STATES = ("queued", "running", "done", "failed")
_HASH_BLOCK = 1 << 20


class LibraryError(ReissueError):
    """The library cannot do what was asked (its message says why and what to do)."""

    code = "library.error"


class NotFoundError(LibraryError):
    """No track, version or job with that id."""

    code = "library.not_found"


class ConfirmationRequired(LibraryError):
    """A destructive operation needs ``confirm=True``."""

    code = "library.confirm"


MIGRATIONS: tuple[tuple[int, str, str], ...] = (
    (1, "originals, analyses, versions, jobs", """
CREATE TABLE originals (
    id INTEGER PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
    filename TEXT NOT NULL,
    title TEXT NOT NULL,
    format TEXT NOT NULL,
    blob TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    duration_seconds REAL NOT NULL,
    sample_rate INTEGER NOT NULL,
    channels INTEGER NOT NULL,
    added_at TEXT NOT NULL
);
CREATE INDEX originals_title ON originals (title COLLATE NOCASE);
CREATE TABLE analyses (
    id INTEGER PRIMARY KEY,
    original_id INTEGER NOT NULL REFERENCES originals (id) ON DELETE CASCADE,
    software_version TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (original_id, software_version)
);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    original_id INTEGER NOT NULL REFERENCES originals (id) ON DELETE CASCADE,
    style TEXT NOT NULL,
    intensity REAL NOT NULL CHECK (intensity BETWEEN 0 AND 1),
    seed INTEGER NOT NULL,
    reference_id INTEGER REFERENCES originals (id) ON DELETE SET NULL,
    options TEXT NOT NULL DEFAULT '{}',
    software_version TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'queued'
        CHECK (status IN ('queued', 'running', 'done', 'failed')),
    folder TEXT,
    files TEXT NOT NULL DEFAULT '{}',
    report TEXT,
    sound TEXT,
    cpu_seconds REAL,
    energy_joules REAL,
    error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT
);
CREATE INDEX versions_original ON versions (original_id);
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    original_id INTEGER REFERENCES originals (id) ON DELETE CASCADE,
    version_id INTEGER REFERENCES versions (id) ON DELETE CASCADE,
    params TEXT NOT NULL DEFAULT '{}',
    state TEXT NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed')),
    stage TEXT NOT NULL DEFAULT '',
    progress REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    message TEXT NOT NULL DEFAULT '',
    error_code TEXT,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_state ON jobs (state, kind);
CREATE INDEX jobs_version ON jobs (version_id);
CREATE INDEX jobs_original ON jobs (original_id);
"""),
    (2, "batches and batch items (reissue batch)", """
CREATE TABLE batches (
    id INTEGER PRIMARY KEY,
    out_dir TEXT NOT NULL UNIQUE,
    source_dir TEXT NOT NULL,
    settings TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'running'
        CHECK (state IN ('running', 'done', 'failed', 'interrupted')),
    summary TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE batch_items (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL REFERENCES batches (id) ON DELETE CASCADE,
    sha256 TEXT NOT NULL CHECK (length(sha256) = 64),
    source TEXT NOT NULL,
    duplicates TEXT NOT NULL DEFAULT '[]',
    output TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    duration_seconds REAL,
    state TEXT NOT NULL DEFAULT 'pending'
        CHECK (state IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    error_code TEXT,
    error TEXT,
    cost TEXT,
    output_sha256 TEXT,
    software_version TEXT,
    started_at TEXT,
    finished_at TEXT,
    UNIQUE (batch_id, sha256)
);
CREATE INDEX batch_items_state ON batch_items (batch_id, state);
"""),
)
SCHEMA_VERSION = MIGRATIONS[-1][0]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_library_path() -> Path:
    """``$XDG_DATA_HOME/reissue/library.sqlite3`` (default ``~/.local/share/reissue/…``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "reissue" / "library.sqlite3"


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def sanitize_filename(name: str | None, *, default: str = "untitled", max_length: int = 120
                      ) -> str:
    """A display-safe file name: no folders, control or reserved characters, ≤ ``max_length``.

    Used for names shown to users and put in ``Content-Disposition``; the library never uses a
    user's name as a path.

    >>> sanitize_filename("../../etc/passwd")
    'passwd'
    >>> sanitize_filename("C:\\\\music\\\\My Song?.wav")
    'My Song_.wav'
    """
    name = unicodedata.normalize("NFC", str(name or ""))
    name = re.split(r"[/\\]", name)[-1]
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > max_length:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 8:
            name = stem[: max_length - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:max_length].rstrip(" .")
    return name or default


def detect_format(path: str | os.PathLike) -> dict:
    """Probe a file with libsndfile: ``{"format", "sample_rate", "channels", "duration_seconds"}``.

    Raises
    ------
    AudioFileError
        ``audio.unsupported`` when it is not an audio file in a supported container, or
        ``audio.empty`` when it has no frames.
    """
    import soundfile as sf

    path = Path(path)
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError) as err:
        raise AudioFileError(path, "is not an audio file reissue can read",
                             "upload WAV, FLAC, OGG, MP3 or AIFF", code="audio.unsupported"
                             ) from err
    fmt = _FORMATS.get(info.format)
    if fmt is None:
        raise AudioFileError(path, f"is a {info.format} file, which reissue does not read",
                             "upload WAV, FLAC, OGG, MP3 or AIFF", code="audio.unsupported")
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(path, "contains no audio frames", "use a file with sound in it",
                             code="audio.empty")
    return {"format": fmt, "sample_rate": int(info.samplerate), "channels": int(info.channels),
            "duration_seconds": float(info.frames) / float(info.samplerate)}


def sha256_file(path: str | os.PathLike) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------- records

@dataclass(frozen=True)
class Original:
    """A stored original (a "track" in the web API)."""

    id: int
    sha256: str
    filename: str
    title: str
    format: str
    blob: str
    size_bytes: int
    duration_seconds: float
    sample_rate: int
    channels: int
    added_at: str

    def to_dict(self) -> dict:
        d = asdict(self)
        del d["blob"]
        d["duration_seconds"] = round(self.duration_seconds, 3)
        return d


@dataclass(frozen=True)
class Version:
    """A rendered (or rendering) version of an original, with its provenance."""

    id: int
    original_id: int
    style: str
    intensity: float
    seed: int
    reference_id: int | None
    options: dict
    software_version: str
    status: str
    folder: str | None
    files: dict
    report: dict | None
    sound: dict | None
    cpu_seconds: float | None
    energy_joules: float | None
    error: str | None
    created_at: str
    finished_at: str | None

    def to_dict(self, *, full: bool = False) -> dict:
        d = asdict(self)
        if not full:
            for key in ("report", "sound"):
                d.pop(key)
        return d


@dataclass(frozen=True)
class Job:
    """Work for a worker: its kind, what it is about, state and progress."""

    id: int
    kind: str
    original_id: int | None
    version_id: int | None
    params: dict
    state: str
    stage: str
    progress: float
    message: str
    error_code: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str

    @property
    def finished(self) -> bool:
        return self.state in ("done", "failed")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["progress"] = round(self.progress, 4)
        return d


def _json(text: str | None, default: Any = None) -> Any:
    return json.loads(text) if text else default


def _original(row: sqlite3.Row) -> Original:
    return Original(**{k: row[k] for k in row.keys()})  # noqa: SIM118 (sqlite3.Row)


def _version(row: sqlite3.Row) -> Version:
    d = {k: row[k] for k in row.keys()}  # noqa: SIM118 (sqlite3.Row)
    d["options"] = _json(d["options"], {})
    d["files"] = _json(d["files"], {})
    d["report"] = _json(d["report"])
    d["sound"] = _json(d["sound"])
    return Version(**d)


def _job(row: sqlite3.Row) -> Job:
    d = {k: row[k] for k in row.keys()}  # noqa: SIM118 (sqlite3.Row)
    d["params"] = _json(d["params"], {})
    return Job(**d)


# --------------------------------------------------------------------------- the library

class Library:
    """A reissue library (see the module notes).

    Parameters
    ----------
    path : path-like, optional
        The SQLite file; a folder means ``<folder>/library.sqlite3``. Default:
        :func:`default_library_path`. Created (with its files folder) if missing.

    Notes
    -----
    One connection per instance, shared by threads under a lock; other processes (render workers)
    open their own :class:`Library` on the same path. Writes retry for up to 30 s while another
    process holds the write lock.
    """

    def __init__(self, path: str | os.PathLike | None = None) -> None:
        path = Path(path) if path is not None else default_library_path()
        if path.is_dir():
            path = path / "library.sqlite3"
        self.path = path.resolve()
        self.files_dir = self.path.with_name(self.path.stem + ".files")
        for sub in ("originals", "versions", "incoming", "playback"):
            (self.files_dir / sub).mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        try:
            self._db = sqlite3.connect(str(self.path), timeout=30.0, isolation_level=None,
                                       check_same_thread=False)
        except sqlite3.Error as err:
            raise LibraryError(f"{self.path}: cannot open the library ({err})",
                               code="library.unreadable") from err
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA foreign_keys = ON")
        self._db.execute("PRAGMA busy_timeout = 30000")
        try:
            self._db.execute("PRAGMA journal_mode = WAL")
        except sqlite3.DatabaseError as err:
            raise LibraryError(f"{self.path}: is not a reissue library (not SQLite: {err})",
                               code="library.unreadable") from err
        self._db.execute("PRAGMA synchronous = NORMAL")
        self._migrate()

    # ----------------------------------------------------------------- plumbing

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Library:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``: the write lock is taken up front)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                yield self._db
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    def _query(self, sql: str, args: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    @property
    def schema_version(self) -> int:
        return int(self._query("PRAGMA user_version")[0][0])

    def _migrate(self) -> None:
        with self._lock:
            current = self.schema_version
            if current > SCHEMA_VERSION:
                raise LibraryError(
                    f"{self.path}: written by a newer reissue (schema {current}, this version "
                    f"knows up to {SCHEMA_VERSION}) — upgrade reissue to open it",
                    code="library.too_new")
            with self._tx() as db:
                db.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER "
                           "PRIMARY KEY, description TEXT NOT NULL, applied_at TEXT NOT NULL)")
            for version, description, sql in MIGRATIONS:
                if version <= self.schema_version:
                    continue
                with self._tx() as db:
                    for statement in _statements(sql):
                        db.execute(statement)
                    db.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)",
                               (version, description, _now()))
                    db.execute(f"PRAGMA user_version = {int(version)}")

    def _abs(self, relative: str) -> Path:
        return self.files_dir / relative

    # ----------------------------------------------------------------- originals

    def add_original(self, source: str | os.PathLike, *, filename: str | None = None,
                     title: str | None = None, move: bool = False) -> tuple[Original, bool]:
        """Store an audio file once by content; returns ``(original, created)``.

        Parameters
        ----------
        source : path-like
            The file (read only, unless ``move``).
        filename : str, optional
            The user's name for it (sanitised; default: the source's name).
        title : str, optional
            Display title (default: the file name without its suffix).
        move : bool
            Move ``source`` into the library instead of copying (for uploads already received
            into ``incoming/``); it is removed when it duplicates a stored original.

        Raises
        ------
        AudioFileError
            Not a readable audio file (``audio.unsupported``, ``audio.empty``, ``audio.missing``).
        """
        source = Path(source)
        if not source.is_file():
            raise AudioFileError(source, "no such file", "check the path", code="audio.missing")
        digest = sha256_file(source)
        existing = self.find_original(digest)
        if existing is not None:
            if move:
                source.unlink(missing_ok=True)
            return existing, False
        info = detect_format(source)
        filename = sanitize_filename(filename if filename is not None else source.name)
        if title is None:
            title = filename.rsplit(".", 1)[0] if "." in filename[1:] else filename
        title = " ".join(sanitize_filename(title, default=filename).split())[:200]
        relative = f"originals/{digest[:2]}/{digest}.{info['format']}"
        target = self._abs(relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            fd, tmp = tempfile.mkstemp(prefix=f".{digest}.", suffix=".part", dir=target.parent)
            os.close(fd)
            try:
                if move:
                    shutil.move(str(source), tmp)
                else:
                    shutil.copyfile(source, tmp)
                os.chmod(tmp, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        elif move:
            source.unlink(missing_ok=True)
        size = target.stat().st_size
        try:
            with self._tx() as db:
                cur = db.execute(
                    "INSERT INTO originals (sha256, filename, title, format, blob, size_bytes, "
                    "duration_seconds, sample_rate, channels, added_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                    (digest, filename, title, info["format"], relative, size,
                     info["duration_seconds"], info["sample_rate"], info["channels"], _now()))
                new_id = cur.lastrowid
        except sqlite3.IntegrityError:  # another process stored the same bytes meanwhile
            return self.find_original(digest), False
        original = self.get_original(new_id)
        if original.format not in BROWSER_FORMATS:
            self._make_playback_copy(original)
        return original, True

    def _make_playback_copy(self, original: Original) -> Path:
        from .io import load, save

        target = self.files_dir / "playback" / f"{original.sha256}.flac"
        if not target.exists():
            save(load(self._abs(original.blob)), target)
        return target

    def find_original(self, sha256: str) -> Original | None:
        rows = self._query("SELECT * FROM originals WHERE sha256 = ?", (sha256,))
        return _original(rows[0]) if rows else None

    def get_original(self, original_id: int) -> Original:
        rows = self._query("SELECT * FROM originals WHERE id = ?", (int(original_id),))
        if not rows:
            raise NotFoundError(f"no track with id {original_id}", code="track.not_found")
        return _original(rows[0])

    def list_originals(self, query: str | None = None, *, limit: int = 100, offset: int = 0
                       ) -> tuple[list[Original], int]:
        """Originals, newest first; ``query`` matches title or file name (case-insensitive)."""
        where, args = "", ()
        if query:
            pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where = " WHERE title LIKE ? ESCAPE '\\' OR filename LIKE ? ESCAPE '\\'"
            args = (pattern, pattern)
        total = self._query(f"SELECT count(*) FROM originals{where}", args)[0][0]
        rows = self._query(f"SELECT * FROM originals{where} ORDER BY added_at DESC, id DESC "
                           "LIMIT ? OFFSET ?", args + (int(limit), int(offset)))
        return [_original(r) for r in rows], int(total)

    def summaries(self, original_ids) -> dict[int, dict]:
        """Per original: ``versions`` (count), ``tempo_bpm`` and ``key`` from the cached analysis
        of this software version — one query for a whole list page."""
        from . import __version__

        ids = [int(i) for i in original_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._query(
            f"SELECT o.id, (SELECT count(*) FROM versions v WHERE v.original_id = o.id), "
            f"json_extract(a.data, '$.rhythm.tempo_bpm'), json_extract(a.data, '$.tonal.key') "
            f"FROM originals o LEFT JOIN analyses a ON a.original_id = o.id AND "
            f"a.software_version = ? WHERE o.id IN ({marks})", (__version__, *ids))
        return {r[0]: {"versions": r[1], "tempo_bpm": r[2], "key": r[3]} for r in rows}

    def original_path(self, original: Original | int) -> Path:
        """The stored file (read only)."""
        if not isinstance(original, Original):
            original = self.get_original(original)
        return self._abs(original.blob)

    def playback_path(self, original: Original | int) -> Path:
        """A file a browser can decode: the original itself, or its FLAC copy."""
        if not isinstance(original, Original):
            original = self.get_original(original)
        if original.format in BROWSER_FORMATS:
            return self.original_path(original)
        return self._make_playback_copy(original)

    def delete_original(self, original_id: int, *, confirm: bool = False) -> list[int]:
        """Remove an original with its versions, analyses and jobs; returns the version ids.

        Raises
        ------
        ConfirmationRequired
            Unless ``confirm=True``: the message says how many versions would go with it.
        """
        original = self.get_original(original_id)
        versions = self.list_versions(original.id)
        if not confirm:
            raise ConfirmationRequired(
                f"deleting track {original.id} ({original.title!r}) also deletes its "
                f"{len(versions)} version(s); confirm to go ahead", code="library.confirm")
        for v in versions:
            self.delete_version(v.id)
        with self._tx() as db:
            db.execute("DELETE FROM originals WHERE id = ?", (original.id,))
            still_used = db.execute("SELECT 1 FROM originals WHERE sha256 = ?",
                                    (original.sha256,)).fetchone()
        if not still_used:
            blob = self._abs(original.blob)
            blob.unlink(missing_ok=True)
            (self.files_dir / "playback" / f"{original.sha256}.flac").unlink(missing_ok=True)
        return [v.id for v in versions]

    # ----------------------------------------------------------------- analyses

    def get_analysis(self, original_id: int, software_version: str | None = None
                     ) -> dict | None:
        """The cached analysis of an original for this (or the given) software version."""
        from . import __version__

        rows = self._query("SELECT data FROM analyses WHERE original_id = ? AND "
                           "software_version = ?", (int(original_id),
                                                    software_version or __version__))
        return json.loads(rows[0][0]) if rows else None

    def put_analysis(self, original_id: int, data: dict, software_version: str | None = None
                     ) -> None:
        """Cache an analysis (``Analysis.to_dict()``), replacing one of the same version."""
        from . import __version__

        text = json.dumps(data, allow_nan=False, separators=(",", ":"))
        with self._tx() as db:
            db.execute("INSERT INTO analyses (original_id, software_version, data, created_at) "
                       "VALUES (?, ?, ?, ?) ON CONFLICT (original_id, software_version) DO "
                       "UPDATE SET data = excluded.data, created_at = excluded.created_at",
                       (int(original_id), software_version or __version__, text, _now()))

    # ----------------------------------------------------------------- versions

    def create_version(self, original_id: int, *, style: str, intensity: float, seed: int,
                       reference_id: int | None = None, options: dict | None = None
                       ) -> tuple[Version, bool]:
        """Record a version to render (status ``queued``); returns ``(version, created)``.

        A version with the same provenance that is queued, running or done is returned instead
        (``created`` False); a failed one is left in place and a new one created.
        """
        from . import __version__

        if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) \
                or not 0.0 <= float(intensity) <= 1.0:
            raise ParameterError(f"intensity={intensity!r} must be between 0 and 1")
        self.get_original(original_id)
        if reference_id is not None:
            self.get_original(reference_id)
        opts = json.dumps(dict(sorted((options or {}).items())), separators=(",", ":"))
        with self._tx() as db:
            row = db.execute(
                "SELECT id FROM versions WHERE original_id = ? AND style = ? AND intensity = ? "
                "AND seed = ? AND reference_id IS ? AND options = ? AND software_version = ? "
                "AND status != 'failed' ORDER BY id DESC LIMIT 1",
                (int(original_id), style, float(intensity), int(seed), reference_id, opts,
                 __version__)).fetchone()
            if row is not None:
                existing = row[0]
            else:
                existing = None
                cur = db.execute(
                    "INSERT INTO versions (original_id, style, intensity, seed, reference_id, "
                    "options, software_version, created_at) VALUES (?,?,?,?,?,?,?,?)",
                    (int(original_id), style, float(intensity), int(seed), reference_id, opts,
                     __version__, _now()))
                new_id = cur.lastrowid
        if existing is not None:
            return self.get_version(existing), False
        return self.get_version(new_id), True

    def get_version(self, version_id: int) -> Version:
        rows = self._query("SELECT * FROM versions WHERE id = ?", (int(version_id),))
        if not rows:
            raise NotFoundError(f"no version with id {version_id}", code="version.not_found")
        return _version(rows[0])

    def list_versions(self, original_id: int | None = None) -> list[Version]:
        """Versions (of one original, or all), oldest first."""
        if original_id is None:
            rows = self._query("SELECT * FROM versions ORDER BY id")
        else:
            rows = self._query("SELECT * FROM versions WHERE original_id = ? ORDER BY id",
                               (int(original_id),))
        return [_version(r) for r in rows]

    def version_path(self, version: Version | int, name: str) -> Path:
        """A version's file by role: ``audio``, ``report``, ``midi`` or ``stems/<stem>``."""
        if not isinstance(version, Version):
            version = self.get_version(version)
        if version.status != "done" or not version.folder:
            raise NotFoundError(f"version {version.id} has no files yet (status "
                                f"{version.status})", code="version.not_ready")
        files = version.files
        if name.startswith("stems/"):
            relative = (files.get("stems") or {}).get(name[6:])
        else:
            relative = files.get(name) if isinstance(files.get(name), str) else None
        if not relative:
            raise NotFoundError(f"version {version.id} has no {name} file",
                                code="file.not_found")
        return self._abs(version.folder) / relative

    def staging_dir(self, version_id: int) -> Path:
        """A fresh, empty folder to render a version into (see :meth:`finish_version`)."""
        return Path(tempfile.mkdtemp(prefix=f".tmp-{int(version_id)}-",
                                     dir=self.files_dir / "versions"))

    def set_version_status(self, version_id: int, status: str, *, error: str | None = None
                           ) -> None:
        if status not in JOB_STATES:
            raise ParameterError(f"status={status!r} must be one of {JOB_STATES}")
        with self._tx() as db:
            db.execute("UPDATE versions SET status = ?, error = ?, finished_at = ? WHERE id = ?",
                       (status, error, _now() if status in ("done", "failed") else None,
                        int(version_id)))

    def finish_version(self, version_id: int, staging: str | os.PathLike, *, files: dict,
                       report: dict, sound: dict | None = None) -> Version:
        """Move a rendered staging folder into place and mark the version done.

        ``files`` names the files inside ``staging`` by role (``audio``, ``report``, ``midi``,
        ``stems`` {name: file}); ``report`` is the refresh report.
        """
        version = self.get_version(version_id)
        final = self.files_dir / "versions" / str(version.id)
        if final.exists():
            _remove_tree(final)
        os.replace(staging, final)
        cost = report.get("cost") or {}
        with self._tx() as db:
            db.execute(
                "UPDATE versions SET status = 'done', folder = ?, files = ?, report = ?, "
                "sound = ?, cpu_seconds = ?, energy_joules = ?, error = NULL, finished_at = ? "
                "WHERE id = ?",
                (f"versions/{version.id}", json.dumps(files), json.dumps(report, allow_nan=False),
                 json.dumps(sound, allow_nan=False) if sound is not None else None,
                 cost.get("cpu_seconds_total"), cost.get("energy_joules"), _now(), version.id))
        return self.get_version(version.id)

    def delete_version(self, version_id: int) -> None:
        """Remove a version's row, jobs and files. The original is never touched."""
        version = self.get_version(version_id)
        with self._tx() as db:
            db.execute("DELETE FROM versions WHERE id = ?", (version.id,))
        if version.folder:
            _remove_tree(self._abs(version.folder))
        for tmp in (self.files_dir / "versions").glob(f".tmp-{version.id}-*"):
            _remove_tree(tmp)

    # ----------------------------------------------------------------- jobs

    def create_job(self, kind: str, *, original_id: int | None = None,
                   version_id: int | None = None, params: dict | None = None) -> Job:
        if not kind or not isinstance(kind, str):
            raise ParameterError(f"kind={kind!r} must be a non-empty string")
        now = _now()
        with self._tx() as db:
            cur = db.execute(
                "INSERT INTO jobs (kind, original_id, version_id, params, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (kind, original_id, version_id, json.dumps(params or {}), now, now))
            new_id = cur.lastrowid
        return self.get_job(new_id)

    def get_job(self, job_id: int) -> Job:
        rows = self._query("SELECT * FROM jobs WHERE id = ?", (int(job_id),))
        if not rows:
            raise NotFoundError(f"no job with id {job_id}", code="job.not_found")
        return _job(rows[0])

    def list_jobs(self, *, state: str | None = None, kind: str | None = None,
                  original_id: int | None = None, version_id: int | None = None) -> list[Job]:
        clauses, args = [], []
        for column, value in (("state", state), ("kind", kind), ("original_id", original_id),
                              ("version_id", version_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                args.append(value)
        where = " WHERE " + " AND ".join(clauses) if clauses else ""
        return [_job(r) for r in self._query(f"SELECT * FROM jobs{where} ORDER BY id",
                                             tuple(args))]

    def update_job(self, job_id: int, *, state: str | None = None, stage: str | None = None,
                   progress: float | None = None, message: str | None = None,
                   error_code: str | None = None) -> Job:
        """Change a job's state/stage/progress/message; start and finish times follow the state."""
        sets, args = ["updated_at = ?"], [_now()]
        if state is not None:
            if state not in JOB_STATES:
                raise ParameterError(f"state={state!r} must be one of {JOB_STATES}")
            sets.append("state = ?")
            args.append(state)
            if state == "running":
                sets.append("started_at = coalesce(started_at, ?)")
                args.append(args[0])
            if state in ("done", "failed"):
                sets.append("finished_at = ?")
                args.append(args[0])
            if state == "queued":
                sets.append("started_at = NULL, finished_at = NULL")
        if stage is not None:
            sets.append("stage = ?")
            args.append(stage)
        if progress is not None:
            sets.append("progress = ?")
            args.append(min(1.0, max(0.0, float(progress))))
        if message is not None:
            sets.append("message = ?")
            args.append(message)
        if error_code is not None:
            sets.append("error_code = ?")
            args.append(error_code)
        with self._tx() as db:
            cur = db.execute(f"UPDATE jobs SET {', '.join(sets)} WHERE id = ?",
                             (*args, int(job_id)))
            if cur.rowcount == 0:
                raise NotFoundError(f"no job with id {job_id}", code="job.not_found")
        return self.get_job(job_id)

    def latest_job(self, *, original_id: int | None = None, version_id: int | None = None,
                   kind: str | None = None) -> Job | None:
        jobs = self.list_jobs(original_id=original_id, version_id=version_id, kind=kind)
        return jobs[-1] if jobs else None


    # ----------------------------------------------------------------- batches (reissue batch)

    _ITEM_FIELDS = ("source", "duplicates", "output", "size_bytes", "duration_seconds", "state",
                    "attempts", "error_code", "error", "cost", "output_sha256",
                    "software_version", "started_at", "finished_at")

    def get_batch(self, out_dir: str) -> dict | None:
        """The batch writing into ``out_dir`` (absolute path), as a dict, or None."""
        rows = self._query("SELECT * FROM batches WHERE out_dir = ?", (str(out_dir),))
        if not rows:
            return None
        d = dict(rows[0])
        d["settings"], d["summary"] = _json(d["settings"], {}), _json(d["summary"])
        return d

    def create_batch(self, out_dir: str, source_dir: str, settings: dict) -> dict:
        now = _now()
        with self._tx() as db:
            db.execute("INSERT INTO batches (out_dir, source_dir, settings, created_at, "
                       "updated_at) VALUES (?, ?, ?, ?, ?)",
                       (str(out_dir), str(source_dir), json.dumps(settings, sort_keys=True),
                        now, now))
        return self.get_batch(out_dir)

    def update_batch(self, batch_id: int, *, state: str | None = None,
                     summary: dict | None = None, source_dir: str | None = None) -> None:
        sets, args = ["updated_at = ?"], [_now()]
        for column, value in (("state", state), ("source_dir", source_dir),
                              ("summary", None if summary is None else
                               json.dumps(summary, allow_nan=False))):
            if value is not None:
                sets.append(f"{column} = ?")
                args.append(value)
        with self._tx() as db:
            db.execute(f"UPDATE batches SET {', '.join(sets)} WHERE id = ?",
                       (*args, int(batch_id)))

    def upsert_batch_items(self, batch_id: int, items: list[dict]) -> None:
        """Add items (``sha256``, ``source``, ``duplicates``, ``output``, ``size_bytes``,
        ``duration_seconds``); for a content already in the batch only its paths are updated,
        never its state — so re-planning a batch keeps its progress."""
        with self._tx() as db:
            for it in items:
                db.execute(
                    "INSERT INTO batch_items (batch_id, sha256, source, duplicates, output, "
                    "size_bytes, duration_seconds) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (batch_id, sha256) DO UPDATE SET source = excluded.source, "
                    "duplicates = excluded.duplicates, output = excluded.output",
                    (int(batch_id), it["sha256"], it["source"], json.dumps(it["duplicates"]),
                     it["output"], int(it["size_bytes"]), it.get("duration_seconds")))

    def batch_items(self, batch_id: int, *, state: str | None = None) -> list[dict]:
        """A batch's items as dicts (JSON columns decoded), in id order."""
        sql, args = "SELECT * FROM batch_items WHERE batch_id = ?", [int(batch_id)]
        if state is not None:
            sql += " AND state = ?"
            args.append(state)
        out = []
        for row in self._query(sql + " ORDER BY id", tuple(args)):
            d = dict(row)
            d["duplicates"], d["cost"] = _json(d["duplicates"], []), _json(d["cost"])
            out.append(d)
        return out

    def update_batch_item(self, item_id: int, **fields) -> None:
        """Set item columns; ``state="running"`` also counts an attempt and stamps the start."""
        unknown = set(fields) - set(self._ITEM_FIELDS)
        if unknown:
            raise ParameterError(f"unknown batch item field(s) {sorted(unknown)}")
        if fields.get("state") not in (None, "pending", "running", "done", "failed"):
            raise ParameterError(f"state={fields['state']!r} is not a batch item state")
        sets, args = [], []
        for column, value in fields.items():
            if column in ("duplicates", "cost") and value is not None:
                value = json.dumps(value, allow_nan=False)
            sets.append(f"{column} = ?")
            args.append(value)
        if fields.get("state") == "running":
            sets += ["attempts = attempts + 1", "started_at = ?", "finished_at = NULL"]
            args.append(_now())
        elif fields.get("state") in ("done", "failed") and "finished_at" not in fields:
            sets.append("finished_at = ?")
            args.append(_now())
        with self._tx() as db:
            db.execute(f"UPDATE batch_items SET {', '.join(sets)} WHERE id = ?",
                       (*args, int(item_id)))

    def requeue_batch_items(self, batch_id: int, *, states: tuple[str, ...] = ("running",)
                            ) -> int:
        """Put a batch's items in ``states`` back to ``pending``; returns how many."""
        marks = ",".join("?" * len(states))
        with self._tx() as db:
            cur = db.execute(f"UPDATE batch_items SET state = 'pending' WHERE batch_id = ? AND "
                             f"state IN ({marks})", (int(batch_id), *states))
            return cur.rowcount


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (no semicolons inside our literals)."""
    return [s.strip() for s in sql.split(";") if s.strip()]


def _remove_tree(path: Path) -> None:
    """Remove a folder tree, including read-only files in it."""
    if not path.exists():
        return

    def make_writable(func, p, _exc):
        os.chmod(p, stat.S_IWUSR | stat.S_IRUSR | stat.S_IXUSR)
        func(p)

    shutil.rmtree(path, onexc=make_writable)
