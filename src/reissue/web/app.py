"""The web server: a JSON API over the library and the job runner, and the A/B player page.

Conventions
-----------
* ``create_app(library_path, workers=1, max_upload_mb=200)`` builds the FastAPI app; ``reissue
  serve`` runs it with uvicorn on 127.0.0.1 by default. The API is documented by the generated
  OpenAPI at ``/openapi.json`` (browsable at ``/docs``).
* Thin layer: every operation is a call into :mod:`reissue.library` or :mod:`reissue.jobs`;
  renders and analyses run in the worker pool, never on a request thread.
* Errors are JSON ``{"detail": "<one line: what, and what to do>", "code": "<stable code>"}``
  with the status a client can act on: 404 unknown id, 409 needs confirmation, 413 upload over
  the limit, 415 not audio, 422 invalid parameters (unknown style, intensity out of range).
* Uploads are streamed to ``incoming/`` under a random name while hashed and counted; an upload
  over the limit is cut off at the limit. The uploaded file name is display text only.
* Audio is served with HTTP Range support (206 partial content; browsers seek with it).
* When bound to a loopback address the server only answers requests whose Host is a loopback
  name, so a web page elsewhere cannot reach the library through DNS rebinding.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from .. import __version__
from ..errors import AudioFileError, ReissueError
from ..jobs import JobRunner, download_name
from ..library import (
    ConfirmationRequired,
    Library,
    NotFoundError,
    Original,
    Version,
    sanitize_filename,
)

__all__ = ["STATIC_DIR", "create_app"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
_MULTIPART_SLACK = 64 * 1024  # headers and boundaries around the file in a multipart body
_AUDIO_TYPES = {"wav": "audio/wav", "flac": "audio/flac", "ogg": "audio/ogg", "mp3": "audio/mpeg",
                "aiff": "audio/aiff"}


class ApiError(Exception):
    def __init__(self, status: int, code: str, detail: str) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail = status, code, detail


def _status_for(error: ReissueError) -> int:
    code = error.code
    if isinstance(error, NotFoundError) or code.endswith("not_found"):
        return 404
    if isinstance(error, ConfirmationRequired):
        return 409
    if code.startswith("audio."):
        return 415
    if code.startswith(("style.", "parameter.")):
        return 422
    return 500


# --------------------------------------------------------------------------- API models

class TrackOut(BaseModel):
    id: int
    sha256: str
    filename: str
    title: str
    format: str
    size_bytes: int
    duration_seconds: float
    sample_rate: int
    channels: int
    added_at: str
    versions: int = 0
    tempo_bpm: float | None = None
    key: str | None = None
    audio_url: str


class JobOut(BaseModel):
    id: int
    kind: str
    original_id: int | None
    version_id: int | None
    state: str = Field(description="queued, running, done or failed")
    stage: str
    progress: float = Field(description="0 … 1")
    message: str
    error_code: str | None
    created_at: str
    started_at: str | None
    finished_at: str | None
    updated_at: str
    events_url: str


class VersionOut(BaseModel):
    id: int
    track_id: int
    style: str
    intensity: float
    seed: int
    reference_track_id: int | None
    stems: bool
    software_version: str
    status: str
    error: str | None
    created_at: str
    finished_at: str | None
    cpu_seconds: float | None
    energy_joules: float | None
    identity: float | None = None
    modernity: float | None = None
    job: JobOut | None = None
    urls: dict[str, Any] = Field(default_factory=dict)


class VersionDetail(VersionOut):
    report: dict[str, Any] | None = None
    time_map: list[list[float]] | None = Field(
        None, description="[[original_seconds, new_seconds], …], monotonic; interpolate linearly")
    sound: dict[str, Any] | None = Field(None, description="The result's sound analysis")
    style_target: dict[str, Any] | None = None


class TrackDetail(TrackOut):
    analysis: dict[str, Any] | None = Field(
        None, description="`reissue analyze --json` of the original (null until analysed)")
    analysis_job: JobOut | None = None
    version_list: list[VersionOut] = Field(default_factory=list)


class TrackList(BaseModel):
    items: list[TrackOut]
    total: int


class UploadOut(TrackDetail):
    created: bool


class VersionRequest(BaseModel):
    style: str = Field("auto", description="A style name from /api/styles, or auto",
                       max_length=64)
    intensity: float = Field(0.7, ge=0.0, le=1.0, description="0 = pure remaster … 1 = full "
                                                              "re-imagining")
    seed: int = Field(1, ge=0, le=2**31 - 1, description="Fixes every random choice")
    reference_track_id: int | None = Field(
        None, description="A track whose spectral balance the master aims at")
    stems: bool = Field(False, description="Also write stems (FLAC)")


class StyleOut(BaseModel):
    name: str
    description: str
    tempo: dict[str, Any]
    layers: dict[str, Any]
    master: dict[str, Any]


class CreatedVersion(BaseModel):
    version: VersionOut
    job: JobOut | None
    created: bool


# --------------------------------------------------------------------------- the app

def create_app(library_path: str | os.PathLike | None = None, *, workers: int = 1,
               max_upload_mb: float = 200.0, host: str = "127.0.0.1") -> FastAPI:
    """The reissue web app over the library at ``library_path`` (default location if None)."""
    library = Library(library_path)
    max_upload_bytes = int(max_upload_mb * 1024 * 1024)
    state: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        runner = JobRunner(library.path, workers=workers)
        state["runner"] = runner
        runner.resume(library)
        try:
            yield
        finally:
            runner.shutdown(wait=False)
            library.close()

    app = FastAPI(
        title="reissue", version=__version__, lifespan=lifespan,
        summary="Library of originals and their modern re-productions, with an A/B player.",
        description="Upload a track, let it be analysed, render versions in a style, follow "
                    "the render, then stream, compare and download. Errors are JSON "
                    "`{detail, code}`.")
    app.state.library = library
    app.state.max_upload_bytes = max_upload_bytes

    if host in ("127.0.0.1", "localhost", "::1"):
        allowed = {"127.0.0.1", "localhost", "[::1]", "testserver"}

        @app.middleware("http")
        async def loopback_only(request: Request, call_next):
            name = (request.headers.get("host") or "").rsplit(":", 1)[0] \
                if not (request.headers.get("host") or "").startswith("[") \
                else (request.headers.get("host") or "").split("]")[0] + "]"
            if name not in allowed:
                return JSONResponse({"detail": "this server only answers requests addressed to "
                                               "localhost", "code": "host.refused"}, 421)
            return await call_next(request)

    # ----------------------------------------------------------------- errors

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError):
        return JSONResponse({"detail": exc.detail, "code": exc.code}, exc.status)

    @app.exception_handler(ReissueError)
    async def reissue_error(request: Request, exc: ReissueError):
        return JSONResponse({"detail": exc.message, "code": exc.code}, _status_for(exc))

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError):
        parts = []
        for e in exc.errors():
            where = ".".join(str(x) for x in e.get("loc", ()) if x not in ("body", "query",
                                                                           "path"))
            got = f" (got {e['input']!r})" if "input" in e and not isinstance(
                e["input"], (dict, list)) else ""
            parts.append(f"{where or 'request'}: {e.get('msg', 'invalid')}{got}")
        return JSONResponse({"detail": "; ".join(parts), "code": "request.invalid",
                             "errors": json.loads(json.dumps(exc.errors(), default=str))}, 422)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException):
        return JSONResponse({"detail": str(exc.detail), "code": f"http.{exc.status_code}"},
                            exc.status_code, headers=getattr(exc, "headers", None))

    # ----------------------------------------------------------------- helpers

    def job_out(job) -> dict | None:
        if job is None:
            return None
        return {**job.to_dict(), "events_url": f"/api/jobs/{job.id}/events"}

    def track_out(o: Original, summary: dict | None = None) -> dict:
        summary = summary or library.summaries([o.id]).get(o.id, {})
        return {**o.to_dict(), "versions": summary.get("versions", 0),
                "tempo_bpm": summary.get("tempo_bpm"), "key": summary.get("key"),
                "audio_url": f"/api/tracks/{o.id}/audio"}

    def version_urls(v: Version, title: str) -> dict:
        if v.status != "done":
            return {}
        urls = {"audio": f"/api/versions/{v.id}/audio", "report": f"/api/versions/{v.id}/report"}
        if v.files.get("midi"):
            urls["midi"] = f"/api/versions/{v.id}/midi"
        if v.files.get("stems"):
            urls["stems"] = {name: f"/api/versions/{v.id}/stems/{name}"
                             for name in sorted(v.files["stems"])}
        return urls

    def version_out(v: Version, *, full: bool = False, title: str | None = None) -> dict:
        title = title or library.get_original(v.original_id).title
        report = v.report or {}
        out = {"id": v.id, "track_id": v.original_id, "style": v.style,
               "intensity": v.intensity, "seed": v.seed, "reference_track_id": v.reference_id,
               "stems": bool(v.options.get("stems")), "software_version": v.software_version,
               "status": v.status, "error": v.error, "created_at": v.created_at,
               "finished_at": v.finished_at, "cpu_seconds": v.cpu_seconds,
               "energy_joules": v.energy_joules,
               "identity": (report.get("identity") or {}).get("score"),
               "modernity": (report.get("modernity") or {}).get("score"),
               "job": job_out(library.latest_job(version_id=v.id)),
               "urls": version_urls(v, title)}
        if full:
            out.update(report=v.report, time_map=report.get("time_map"), sound=v.sound,
                       style_target=_style_target(report.get("style") or v.style))
        return out

    def track_detail(o: Original) -> dict:
        versions = library.list_versions(o.id)
        return {**track_out(o), "analysis": library.get_analysis(o.id),
                "analysis_job": job_out(library.latest_job(original_id=o.id, kind="analyse")),
                "version_list": [version_out(v, title=o.title) for v in reversed(versions)]}

    def ensure_analysis(o: Original) -> None:
        if library.get_analysis(o.id) is not None:
            return
        job = library.latest_job(original_id=o.id, kind="analyse")
        if job is None or job.state == "failed" or (job.state == "done"):
            job = library.create_job("analyse", original_id=o.id)
        if "runner" in state:
            state["runner"].submit(job.id)

    # ----------------------------------------------------------------- API

    @app.get("/api/health", tags=["meta"])
    def health() -> dict:
        runner = state.get("runner")
        return {"name": "reissue", "version": __version__, "workers": workers,
                "active_jobs": runner.active if runner else 0,
                "max_upload_bytes": max_upload_bytes}

    @app.get("/api/styles", response_model=list[StyleOut], tags=["styles"])
    def styles() -> list[dict]:
        """Every style with its description, tempo policy, layers and master target."""
        from ..styles import list_styles

        auto = {"name": "auto", "description": "Picks a style from the analysis (tempo, mood, "
                "meter, era) and says why.", "tempo": {}, "layers": {}, "master": {}}
        return [auto] + [{"name": s.name, "description": s.description, "tempo": s.tempo,
                          "layers": s.layers, "master": s.master} for s in list_styles()]

    @app.get("/api/tracks", response_model=TrackList, tags=["tracks"])
    def list_tracks(q: str | None = Query(None, max_length=200,
                                             description="Search title and file name"),
                    limit: int = Query(100, ge=1, le=1000),
                    offset: int = Query(0, ge=0)) -> dict:
        items, total = library.list_originals(q, limit=limit, offset=offset)
        summaries = library.summaries([o.id for o in items])
        return {"items": [track_out(o, summaries.get(o.id)) for o in items], "total": total}

    upload_doc = {"requestBody": {"required": True, "content": {"multipart/form-data": {
        "schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary",
                     "description": "WAV, FLAC, OGG, MP3 or AIFF"},
            "title": {"type": "string", "description": "Display title (default: file name)"}}}}}},
        "responses": {"200": {"description": "Already in the library: the existing track"},
                      "413": {"description": "Larger than the server's upload limit"},
                      "415": {"description": "Not an audio file reissue reads"}}}

    @app.post("/api/tracks", status_code=201, response_model=UploadOut, tags=["tracks"],
              openapi_extra=upload_doc)
    async def upload(request: Request) -> Response:
        """Upload a track (multipart field `file`). A duplicate returns the stored track (200);
        a new one is stored (201) and analysed in the background."""
        received = await _receive_upload(request, library.files_dir / "incoming",
                                         max_upload_bytes)
        path, filename, title = received
        try:
            original, created = await anyio.to_thread.run_sync(
                lambda: library.add_original(path, filename=filename, title=title, move=True))
        except AudioFileError as err:  # name the user's file, not the server's temporary one
            text = f"{sanitize_filename(filename)}: {err.problem}"
            raise ApiError(415, err.code, text + (f" — {err.hint}" if err.hint else "")) from err
        finally:
            path.unlink(missing_ok=True)
        await anyio.to_thread.run_sync(ensure_analysis, original)
        body = {**await anyio.to_thread.run_sync(track_detail, original), "created": created}
        return JSONResponse(body, status_code=201 if created else 200,
                            headers={"Location": f"/api/tracks/{original.id}"})

    @app.get("/api/tracks/{track_id}", response_model=TrackDetail, tags=["tracks"])
    def get_track(track_id: int) -> dict:
        """A track with its analysis (once done) and its versions, newest first."""
        original = library.get_original(track_id)
        ensure_analysis(original)
        return track_detail(original)

    @app.get("/api/tracks/{track_id}/audio", tags=["tracks"],
             responses={200: {"content": {"audio/*": {}}}, 206: {"description": "A byte range"}})
    def track_audio(track_id: int, download: bool = False) -> FileResponse:
        """The original's audio (browser-playable copy for AIFF); supports HTTP Range."""
        original = library.get_original(track_id)
        if download:
            path = library.original_path(original)
            return FileResponse(path, media_type=_AUDIO_TYPES[original.format],
                                filename=original.filename)
        path = library.playback_path(original)
        fmt = path.suffix[1:]
        return FileResponse(path, media_type=_AUDIO_TYPES.get(fmt, "application/octet-stream"),
                            headers={"Cache-Control": "private, max-age=3600"})

    @app.delete("/api/tracks/{track_id}", status_code=204, tags=["tracks"],
                responses={409: {"description": "Needs confirm=true (lists what would go)"}})
    def delete_track(track_id: int, confirm: bool = Query(
            False, description="Required: deleting a track deletes its versions")) -> Response:
        library.delete_original(track_id, confirm=confirm)
        return Response(status_code=204)

    @app.post("/api/tracks/{track_id}/versions", status_code=202, response_model=CreatedVersion,
              tags=["versions"])
    def create_version(track_id: int, body: VersionRequest) -> JSONResponse:
        """Render a new version in the background; follow `job.events_url`. The same request
        again returns the existing version (renders are deterministic)."""
        from ..styles import get_style

        original = library.get_original(track_id)
        if body.style != "auto":
            get_style(body.style)  # unknown style → 422 with the list of styles
        if body.reference_track_id is not None:
            try:
                library.get_original(body.reference_track_id)
            except NotFoundError as err:
                raise ApiError(422, "reference.not_found", f"reference_track_id="
                               f"{body.reference_track_id}: no such track") from err
        version, created = library.create_version(
            original.id, style=body.style, intensity=body.intensity, seed=body.seed,
            reference_id=body.reference_track_id, options={"stems": body.stems})
        job = library.latest_job(version_id=version.id)
        if created or job is None:
            job = library.create_job("render", original_id=original.id, version_id=version.id,
                                     params=body.model_dump())
        if not job.finished and "runner" in state:
            state["runner"].submit(job.id)
        return JSONResponse({"version": version_out(library.get_version(version.id)),
                             "job": job_out(library.get_job(job.id)), "created": created},
                            status_code=202 if created else 200,
                            headers={"Location": f"/api/versions/{version.id}"})

    @app.get("/api/versions/{version_id}", response_model=VersionDetail, tags=["versions"])
    def get_version(version_id: int) -> dict:
        """A version with its report, time map, the result's sound and the style's target."""
        return version_out(library.get_version(version_id), full=True)

    def version_file(version_id: int, role: str, *, download: bool, ext: str,
                     part: str | None = None, media_type: str) -> FileResponse:
        version = library.get_version(version_id)
        path = library.version_path(version, role)
        title = library.get_original(version.original_id).title
        name = download_name(title, version.style, ext, part)
        if download:
            return FileResponse(path, media_type=media_type, filename=name)
        return FileResponse(path, media_type=media_type, filename=name,
                            content_disposition_type="inline",
                            headers={"Cache-Control": "private, max-age=3600"})

    @app.get("/api/versions/{version_id}/audio", tags=["versions"],
             responses={200: {"content": {"audio/flac": {}}}, 206: {"description": "A range"}})
    def version_audio(version_id: int, download: bool = False) -> FileResponse:
        """The new version's audio (FLAC); supports HTTP Range."""
        return version_file(version_id, "audio", download=download, ext="flac",
                            media_type="audio/flac")

    @app.get("/api/versions/{version_id}/report", tags=["versions"])
    def version_report(version_id: int, download: bool = True) -> FileResponse:
        return version_file(version_id, "report", download=download, ext="json",
                            media_type="application/json")

    @app.get("/api/versions/{version_id}/midi", tags=["versions"])
    def version_midi(version_id: int) -> FileResponse:
        return version_file(version_id, "midi", download=True, ext="mid",
                            media_type="audio/midi")

    @app.get("/api/versions/{version_id}/stems/{stem}", tags=["versions"])
    def version_stem(version_id: int, stem: str, download: bool = True) -> FileResponse:
        return version_file(version_id, f"stems/{stem}", download=download, ext="flac",
                            part=sanitize_filename(stem), media_type="audio/flac")

    @app.delete("/api/versions/{version_id}", status_code=204, tags=["versions"])
    def delete_version(version_id: int) -> Response:
        """Delete a version and its files; the original is never touched."""
        library.delete_version(version_id)
        return Response(status_code=204)

    @app.get("/api/jobs/{job_id}", response_model=JobOut, tags=["jobs"])
    def get_job(job_id: int) -> dict:
        return job_out(library.get_job(job_id))

    @app.get("/api/jobs/{job_id}/events", tags=["jobs"],
             responses={200: {"content": {"text/event-stream": {}},
                              "description": "Server-sent events: `progress` with the job as "
                                             "JSON on every change, then `done` or `failed`"}})
    async def job_events(job_id: int, request: Request) -> StreamingResponse:
        """Follow a job with server-sent events until it finishes."""
        job = await anyio.to_thread.run_sync(library.get_job, job_id)

        async def events():
            last = None
            idle = 0.0
            current = job
            while True:
                if current.updated_at != last:
                    last = current.updated_at
                    kind = current.state if current.finished else "progress"
                    yield f"event: {kind}\ndata: {json.dumps(job_out(current))}\n\n"
                    idle = 0.0
                    if current.finished:
                        return
                elif idle >= 15.0:
                    yield ": keep-alive\n\n"
                    idle = 0.0
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)
                idle += 0.25
                try:
                    current = await anyio.to_thread.run_sync(library.get_job, job_id)
                except NotFoundError:
                    yield f"event: failed\ndata: {json.dumps({'id': job_id, 'state': 'failed', 'message': 'deleted'})}\n\n"
                    return

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    # ----------------------------------------------------------------- the page

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _style_target(name: str) -> dict | None:
    from ..styles import get_style

    try:
        style = get_style(name)
    except ReissueError:
        return None
    return {"name": style.name, "description": style.description,
            "loudness_lufs": style.master.get("loudness_lufs"),
            "ceiling_dbtp": style.master.get("ceiling_dbtp"),
            "curve_db": style.master.get("curve_db"), "width": style.master.get("width")}


async def _receive_upload(request: Request, folder: Path, limit: int
                          ) -> tuple[Path, str, str | None]:
    """Stream a multipart upload's ``file`` field to ``folder``; (path, filename, title)."""
    from python_multipart.multipart import MultipartParser, parse_options_header

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise ApiError(413, "upload.too_large", f"the upload is {int(declared) / 1e6:.1f} MB; "
                       f"this server accepts files up to {limit / 1e6:.1f} MB (--max-upload-mb)")
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    if content_type != b"multipart/form-data" or b"boundary" not in options:
        raise ApiError(415, "upload.not_multipart", "send the audio as multipart/form-data with "
                       "the file in a field named 'file'")
    fd, tmp = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    out = os.fdopen(fd, "wb")
    path = Path(tmp)
    part: dict[str, Any] = {}
    fields: dict[str, bytearray] = {}
    result: dict[str, Any] = {"size": 0, "filename": None, "file_parts": 0}
    header_field = bytearray()
    header_value = bytearray()

    def on_part_begin():
        part.clear()
        part["headers"] = {}
        header_field.clear()
        header_value.clear()

    def on_header_field(data, start, end):
        header_field.extend(data[start:end])

    def on_header_value(data, start, end):
        header_value.extend(data[start:end])

    def on_header_end():
        part["headers"][bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished():
        _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
        part["name"] = disp.get(b"name", b"").decode("utf-8", "replace")
        part["is_file"] = part["name"] == "file"
        if part["is_file"]:
            result["file_parts"] += 1
            result["filename"] = disp.get(b"filename", b"").decode("utf-8", "replace")

    def on_part_data(data, start, end):
        if part.get("is_file") and result["file_parts"] == 1:
            result["size"] += end - start
            if result["size"] > limit:
                raise _TooLarge()
            out.write(data[start:end])
        elif part.get("name") in ("title",):
            buf = fields.setdefault(part["name"], bytearray())
            if len(buf) + end - start > 4096:
                raise ApiError(422, "upload.field_too_long", "the title is too long")
            buf.extend(data[start:end])

    parser = MultipartParser(options[b"boundary"], {
        "on_part_begin": on_part_begin, "on_header_field": on_header_field,
        "on_header_value": on_header_value, "on_header_end": on_header_end,
        "on_headers_finished": on_headers_finished, "on_part_data": on_part_data})
    try:
        try:
            async for chunk in request.stream():
                parser.write(chunk)
            parser.finalize()
        finally:
            out.close()
    except _TooLarge:
        path.unlink(missing_ok=True)
        raise ApiError(413, "upload.too_large", f"the file is larger than this server's upload "
                       f"limit of {limit / 1e6:.1f} MB (--max-upload-mb)") from None
    except ApiError:
        path.unlink(missing_ok=True)
        raise
    except Exception as err:  # malformed multipart
        path.unlink(missing_ok=True)
        raise ApiError(400, "upload.malformed", f"the upload could not be parsed ({err}); send "
                       "multipart/form-data with the file in a field named 'file'") from err
    if result["file_parts"] == 0:
        path.unlink(missing_ok=True)
        raise ApiError(422, "upload.no_file", "no field named 'file' in the upload")
    if result["size"] == 0:
        path.unlink(missing_ok=True)
        raise ApiError(415, "audio.empty", "the uploaded file is empty (0 bytes)")
    title = fields["title"].decode("utf-8", "replace").strip() if "title" in fields else None
    return path, result["filename"] or "upload", title or None


class _TooLarge(Exception):
    pass
