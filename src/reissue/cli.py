"""The ``reissue`` command line: a thin layer over the Python API.

Conventions
-----------
* Results go to stdout (tables, or JSON Lines with ``--json``); progress and errors go to stderr.
* Expected failures (:class:`~reissue.errors.ReissueError`) print one line — what, which file, what
  to do — and set a non-zero exit code; no traceback unless ``REISSUE_DEBUG=1``.
* With several files, a bad one is reported and the rest go on; the exit code is 1 if any failed.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from . import __version__
from .errors import ReissueError

app = typer.Typer(
    name="reissue",
    help="Analyse a song and render a modern re-production that keeps its identity.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

EXIT_FAILED = 1


def _version(value: bool) -> None:
    if value:
        out.print(f"reissue {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[Optional[bool], typer.Option(
        "--version", callback=_version, is_eager=True, help="Show the version and exit.")] = None,
) -> None:
    """Analyse a song and render a modern re-production that keeps its identity."""


def report_error(error: ReissueError) -> None:
    """Print an expected error as one line on stderr."""
    err.print(f"[bold red]error:[/] {escape(error.message)}", markup=True, highlight=False)


def friendly(command):
    """Turn an expected error escaping a command into one line on stderr and exit code 1."""

    @functools.wraps(command)
    def wrapper(*args, **kwargs):
        try:
            return command(*args, **kwargs)
        except ReissueError as error:
            if os.environ.get("REISSUE_DEBUG"):
                raise
            report_error(error)
            raise typer.Exit(EXIT_FAILED) from None

    return wrapper


def _fmt(value: float, unit: str = "", digits: int = 1) -> str:
    return f"{value:.{digits}f}{unit}"


def _analysis_table(analysis) -> Table:
    s = analysis.sound
    table = Table(title=f"{analysis.file}", title_justify="left", show_header=True,
                  header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [("duration", f"{analysis.duration_seconds:.2f} s · {analysis.sample_rate} Hz · "
                         f"{analysis.channels} ch")]
    if analysis.rhythm is not None:
        r = analysis.rhythm
        rows += [("tempo", f"{r.tempo_bpm:.1f} BPM · {r.meter} · {len(r.beats_seconds)} beats "
                           f"(confidence {r.confidence:.2f})")]
    if analysis.tonal is not None:
        t = analysis.tonal
        keys = " → ".join(k for _, _, k in t.section_keys) if len(t.section_keys) > 1 else t.key
        chords = " ".join(lbl for _, _, lbl in t.chords[:8])
        rows += [("key", f"{keys} (confidence {t.key_confidence:.2f}, tuning "
                         f"{t.tuning_cents:+.0f} ct)"),
                 ("chords", chords + (" …" if len(t.chords) > 8 else ""))]
    if analysis.melody is not None:
        rows += [("melody", f"{len(analysis.melody.notes)} notes")]
    if analysis.form is not None:
        rows += [("form", " ".join(sec.label for sec in analysis.form.sections))]
    if analysis.mood is not None:
        m = analysis.mood
        rows += [("mood", f"valence {m.valence:+.2f} · arousal {m.arousal:+.2f} ({m.quadrant})")]
    if analysis.era is not None:
        rows += [("sounds like", f"{analysis.era.decade}s (confidence "
                                 f"{analysis.era.confidence:.2f})")]
    rows += [
        ("integrated loudness", _fmt(s.integrated_lufs, " LUFS")),
        ("true peak", _fmt(s.true_peak_dbtp, " dBTP", 2)),
        ("loudness range", _fmt(s.loudness_range_lu, " LU")),
        ("crest factor", _fmt(s.crest_db, " dB")),
        ("peak-to-loudness", _fmt(s.plr_db, " dB")),
        ("spectral tilt", _fmt(s.spectral_tilt_db_per_octave, " dB/oct", 2)),
        ("bandwidth", f"{s.bandwidth_hz / 1000:.1f} kHz"),
        ("stereo width (S/M)", _fmt(s.stereo_width, "", 3)),
        ("L/R correlation", _fmt(s.lr_correlation, "", 3)),
        ("noise floor", _fmt(s.noise_floor_dbfs, " dBFS")),
        ("clipped samples", str(s.clipped_samples)),
    ]
    for name, value in rows:
        table.add_row(name, escape(value))
    return table


def _jams_target(jams: Path, source: Path, many: bool) -> Path:
    if many or jams.is_dir():
        jams.mkdir(parents=True, exist_ok=True)
        return jams / f"{source.stem}.jams"
    return jams


@app.command()
@friendly
def analyze(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3, AIFF).",
                                                show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
    jams: Annotated[Optional[Path], typer.Option(
        "--jams", help="Write beats, key, chords, melody and sections as JAMS (a file for one "
                       "input, a folder for several).")] = None,
    only: Annotated[Optional[str], typer.Option(
        "--only", help="Comma-separated parts: sound (always), rhythm, tonal, melody, form, "
                       "mood, era. Default: all.")] = None,
) -> None:
    """Analyse each file: sound, rhythm, key and chords, melody, form, mood and era."""
    from .analysis import PARTS, analyze_path
    from .annotations import save_jams

    parts = PARTS if only is None else tuple(p.strip() for p in only.split(",") if p.strip())
    failed = 0
    for path in files:
        try:
            result = analyze_path(path, parts=parts)
            if jams is not None:
                save_jams(result, _jams_target(jams, path, len(files) > 1))
        except ReissueError as error:
            if error.code == "parameter.invalid":
                raise
            failed += 1
            report_error(error)
            if as_json:
                out.print(json.dumps({"file": str(path), "error": {
                    "code": error.code, "message": error.message}}), markup=False)
            continue
        if as_json:
            out.print(json.dumps(result.to_dict(), allow_nan=False), markup=False)
        else:
            out.print(_analysis_table(result))
    if failed:
        raise typer.Exit(EXIT_FAILED)


STAGES = ("decode", "analyse", "plan", "reference", "restore", "separate", "stretch", "layers",
          "mix", "master", "save", "score")


def _progress_callback(quiet: bool, label: str):
    """A rich progress bar on stderr advancing through the refresh stages; (callback, close)."""
    if quiet:
        return None, (lambda: None)
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.fields[stage]}"),
                   TimeElapsedColumn(), console=err, transient=True)
    task = bar.add_task(label, total=len(STAGES), stage="")
    bar.start()

    def step(name: str) -> None:
        done = STAGES.index(name) if name in STAGES else 0
        bar.update(task, completed=done, stage=name)

    def close() -> None:
        bar.update(task, completed=len(STAGES))
        bar.stop()

    return step, close


@app.command()
@friendly
def refresh(
    file: Annotated[Path, typer.Argument(help="The original song (never modified).",
                                         show_default=False)],
    style: Annotated[str, typer.Option("--style", "-s", help="A style from `reissue styles`, or "
                                                              "auto.")] = "auto",
    intensity: Annotated[float, typer.Option("--intensity", "-i", min=0.0, max=1.0,
                                             help="0 = pure remaster … 1 = full "
                                                  "re-imagining.")] = 0.7,
    seed: Annotated[int, typer.Option("--seed", help="Fixes every random choice.")] = 1,
    output: Annotated[Optional[Path], typer.Option("--out", "-o", help="Output file (default: "
                                                   "SONG.reissue-STYLE.EXT beside the input).")
                      ] = None,
    reference: Annotated[Optional[Path], typer.Option(
        "--reference", help="Match this track's spectral balance instead of the style's.")] = None,
    stems: Annotated[Optional[Path], typer.Option("--stems", help="Write stems into this "
                                                  "folder.")] = None,
    midi: Annotated[Optional[Path], typer.Option("--midi", help="Write the new parts as "
                                                 "MIDI.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace existing outputs.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Render a new version of FILE with modern production that keeps its identity."""
    from .refresh import refresh as run_refresh

    step, close = _progress_callback(quiet, f"refreshing {file.name}")
    try:
        result = run_refresh(file, style=style, intensity=intensity, seed=seed, out=output,
                             reference=reference, stems=stems, midi=midi, overwrite=force,
                             progress=step)
    finally:
        close()
    r = result.report
    out.print(f"wrote {result.output}")
    out.print(f"  style {r['style']} ({r['style_reason']}), intensity {r['intensity']:.2f}, "
              f"seed {r['seed']}")
    out.print(f"  identity {r['identity']['score']:.2f} · modernity {r['modernity']['score']:.2f} "
              f"(original {r['modernity']['original_score']:.2f}) · "
              f"{r['result']['integrated_lufs']:.1f} LUFS · {r['result']['true_peak_dbtp']:.1f} "
              f"dBTP · {r['cost']['cpu_seconds_total']:.1f} CPU-s")
    out.print(f"  report {result.report_path}")


@app.command()
@friendly
def styles() -> None:
    """List the styles (built-in and your own) with one line each."""
    from .styles import list_styles, user_styles_dir

    table = Table(show_header=True, header_style="bold", box=None)
    table.add_column("style")
    table.add_column("what it does")
    table.add_row("auto", "Picks a style from the analysis (tempo, mood, meter, era) and says why.")
    for s in list_styles():
        table.add_row(s.name, escape(s.description))
    out.print(table)
    out.print(f"Add your own: {user_styles_dir()}/NAME.toml (see the built-in ones).",
              markup=False)


DEMO_STYLES = ("modern-pop", "trap", "lofi")


@app.command()
@friendly
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the demo files.")] =
    Path("demo-out"),
    intensity: Annotated[float, typer.Option("--intensity", min=0.0, max=1.0)] = 0.7,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """The main job on the built-in demo song: render it, refresh it in three contrasting styles
    and print what each did."""
    from .demo import write_demo
    from .refresh import refresh as run_refresh

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo-song.wav"
    err.print(f"rendering the demo song (an old-record pastiche with known truth) to {path}")
    write_demo(path)
    _warm_up(path, quiet)
    table = Table(title="reissue demo: one song, three styles", show_header=True,
                  header_style="bold", box=box.SIMPLE_HEAD)
    for col in ("style", "identity", "modernity", "(original)", "LUFS", "dBTP", "CPU s"):
        table.add_column(col, justify="left" if col == "style" else "right")
    for name in DEMO_STYLES:
        step, close = _progress_callback(quiet, f"{name}")
        try:
            result = run_refresh(path, style=name, intensity=intensity, seed=1, overwrite=True,
                                 midi=out_dir / f"demo-song.reissue-{name}.mid", progress=step)
        finally:
            close()
        r = result.report
        table.add_row(name, f"{r['identity']['score']:.2f}", f"{r['modernity']['score']:.2f}",
                      f"{r['modernity']['original_score']:.2f}",
                      f"{r['result']['integrated_lufs']:.1f}",
                      f"{r['result']['true_peak_dbtp']:.1f}",
                      f"{r['cost']['cpu_seconds_total']:.1f}")
    out.print(table)
    out.print(f"original: {path}; versions: {out_dir}/demo-song.reissue-STYLE.wav, each with its "
              "report (.json) and MIDI (.mid)", markup=False)


def _warm_up(path: Path, quiet: bool) -> None:
    """Refresh the first 12 s of ``path`` once, so the table's CPU column is the refresh alone:
    on a machine's first run the compiled DSP kernels (numba) are built here, once, and cached
    on disk; that one-time cost is printed on its own line."""
    import tempfile
    import time

    from .io import Audio, load, save
    from .refresh import refresh as run_refresh

    t0 = time.process_time()
    with tempfile.TemporaryDirectory(prefix="reissue-warm-") as tmp:
        audio = load(path)
        clip = save(Audio(audio.samples[:, : 12 * audio.sample_rate], audio.sample_rate),
                    Path(tmp) / "clip.wav")
        run_refresh(clip, style=DEMO_STYLES[0], intensity=0.7, seed=1, out=Path(tmp) / "o.wav")
    spent = time.process_time() - t0
    if spent > 3.0 and not quiet:
        err.print(f"first run here: compiled the DSP kernels in {spent:.0f} CPU-s (once; cached "
                  "on disk for the next runs)")


@app.command()
@friendly
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (loopback by "
                                                     "default: only this machine).")] =
    "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8000,
    library: Annotated[Optional[Path], typer.Option(
        "--library", help="Library file (default: $XDG_DATA_HOME/reissue/library.sqlite3).")
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, max=64, help="Renders at "
                                                                          "once.")] = 1,
    max_upload_mb: Annotated[float, typer.Option("--max-upload-mb", min=0.001, help="Largest "
                                                 "upload accepted, in MB.")] = 200.0,
    add: Annotated[Optional[list[Path]], typer.Option(
        "--add", help="Add these audio files to the library before serving.")] = None,
    demo_song: Annotated[bool, typer.Option(
        "--demo", help="Add the built-in demo song and render it (modern-pop, intensity 0.7) in "
                       "the background; the page opens on it.")] = False,
    open_browser: Annotated[bool, typer.Option("--open", help="Open the page in a "
                                                              "browser.")] = False,
) -> None:
    """Serve the web library with the A/B player (http://HOST:PORT/)."""
    import uvicorn

    from .library import Library
    from .web import create_app

    page = "/"
    if add or demo_song:
        with Library(library) as lib:
            for path in add or ():
                original, created = lib.add_original(path)
                err.print(f"{'added' if created else 'already in the library'}: "
                          f"{escape(original.title)} (track {original.id})")
            if demo_song:
                page = _queue_demo(lib)
    web_app = create_app(library, workers=workers, max_upload_mb=max_upload_mb, host=host)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{port}{page}"
    err.print(f"reissue {__version__}: library {web_app.state.library.path}")
    err.print(f"open {url}  (Ctrl-C stops)")
    if open_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
                         or sys.platform in ("darwin", "win32")):
        import threading
        import webbrowser

        threading.Timer(1.0, webbrowser.open, args=(url,)).start()
    # open event streams (job progress) must not hold a shutdown for the length of a render
    uvicorn.run(web_app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=3)


def _queue_demo(lib) -> str:
    """Add the demo song to the library and queue its render; returns the page's path."""
    import tempfile

    from .demo import write_demo

    err.print("writing the demo song into the library …")
    with tempfile.TemporaryDirectory(dir=lib.files_dir / "incoming") as folder:
        song = write_demo(Path(folder) / "reissue demo song.wav")
        original, _ = lib.add_original(song, title="reissue demo song")
    version, created = lib.create_version(original.id, style="modern-pop", intensity=0.7, seed=1,
                                          options={"stems": True})
    if created or lib.latest_job(version_id=version.id) is None:
        lib.create_job("render", original_id=original.id, version_id=version.id,
                       params={"style": "modern-pop", "intensity": 0.7, "seed": 1, "stems": True})
    if lib.get_analysis(original.id) is None and not any(
            not j.finished for j in lib.list_jobs(original_id=original.id, kind="analyse")):
        lib.create_job("analyse", original_id=original.id)
    state = "ready" if version.status == "done" else "rendering in the background"
    err.print(f"demo song: track {original.id}, version {version.id} (modern-pop, {state})")
    return f"/#/track/{original.id}/version/{version.id}"


def _batch_progress(quiet: bool):
    """A rich progress bar on stderr: tracks, audio hours, ETA; returns (callback, close)."""
    if quiet:
        return None, (lambda: None)
    from rich.progress import (BarColumn, Progress, TextColumn, TimeElapsedColumn,
                               TimeRemainingColumn)

    bar = Progress(TextColumn("{task.description}"), BarColumn(),
                   TextColumn("{task.fields[tracks]}"), TextColumn("{task.fields[hours]}"),
                   TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                   TextColumn("{task.fields[now]}"), console=err, transient=False)
    task = None

    def update(state) -> None:
        nonlocal task
        total = state.audio_seconds_total or float(state.tracks_total) or 1.0
        done = state.audio_seconds_done if state.audio_seconds_total else \
            float(state.done + state.failed)
        fields = dict(
            tracks=f"{state.done + state.failed}/{state.tracks_total} tracks"
                   + (f" ({state.failed} failed)" if state.failed else ""),
            hours=f"{state.audio_seconds_done / 3600:.2f}/{state.audio_seconds_total / 3600:.2f}"
                  f" h audio",
            now=escape(" · ".join(f"{Path(src).name}: {stage}"
                                  for src, stage in list(state.running.values())[:3])))
        if task is None:
            bar.start()
            task = bar.add_task("batch", total=total, **fields)
        bar.update(task, completed=min(done, total), **fields)

    def close() -> None:
        if task is not None:
            bar.stop()

    return update, close


def _load_job(spec: str):
    import importlib

    module, _, name = spec.partition(":")
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError) as error:
        raise ReissueError(f"--job {spec!r}: cannot import it ({error}); give module:function",
                           code="parameter.invalid") from error


@app.command()
@friendly
def batch(
    src_dir: Annotated[Path | None, typer.Argument(
        help="The catalogue: every audio file under it, recursively (never modified). "
             "Optional with --resume.", show_default=False)] = None,
    out_dir: Annotated[Path, typer.Option("--out-dir", "-o", help="Where the versions go, in "
                                          "the same folder structure.", show_default=False)] =
    ...,
    style: Annotated[str | None, typer.Option("--style", "-s", help="A style from `reissue "
                                              "styles`, or auto.  [default: auto]",
                                              show_default=False)] = None,
    intensity: Annotated[float | None, typer.Option(
        "--intensity", "-i", min=0.0, max=1.0, help="0 = pure remaster … 1 = full "
        "re-imagining.  [default: 0.7]", show_default=False)] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="Fixes every random choice.  "
                                             "[default: 1]", show_default=False)] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", "-w", min=1, help="Tracks at once (default: the cores, or the Ray "
        "cluster's CPUs).", show_default=False)] = None,
    engine: Annotated[str, typer.Option("--engine", help="local (a process pool) or ray.")] =
    "local",
    address: Annotated[str | None, typer.Option(
        "--address", help="Ray cluster: ray://HOST:10001, HOST:6379 or auto (default: start "
        "a local Ray instance).", show_default=False)] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Output format: flac, wav, "
                                            "aiff, ogg or mp3.  [default: flac]",
                                            show_default=False)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the batch recorded for "
                                         "--out-dir, with its settings.")] = False,
    retry_failed: Annotated[bool, typer.Option("--retry-failed", help="Also redo tracks that "
                                               "failed before.")] = False,
    time_limit: Annotated[float | None, typer.Option(
        "--time-limit", min=1.0, help="Seconds one track may take (default: 600 + 20 × its "
        "duration).", show_default=False)] = None,
    memory_limit_mb: Annotated[float | None, typer.Option(
        "--memory-limit-mb", min=0.0, help="Memory one track may use above its worker's own; "
        "0 = no limit (default: 80% of RAM / workers).", show_default=False)] = None,
    library: Annotated[Path | None, typer.Option(
        "--library", help="Library file that records progress (default: "
        "$XDG_DATA_HOME/reissue/library.sqlite3).", show_default=False)] = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] =
    False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    job: Annotated[str | None, typer.Option("--job", hidden=True)] = None,
) -> None:
    """Refresh every track under SRC_DIR into --out-dir: resumable, on all cores or on Ray.

    Re-running the same command (or --resume) skips finished tracks and redoes unfinished
    ones. The summary is also written to OUT_DIR/reissue-batch-summary.json; the exit code is 1
    if any track failed, 130 if interrupted.
    """
    from .batch import refresh_job, run_batch

    if engine not in ("local", "ray"):
        raise ReissueError(f"--engine {engine!r} must be local or ray", code="parameter.invalid")
    import signal

    def stop(signum, frame):  # SIGTERM (kill, a scheduler) ends the batch like Ctrl-C
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    update, close = _batch_progress(quiet or json_out)
    try:
        summary = run_batch(src_dir, out_dir, style=style, intensity=intensity, seed=seed,
                            fmt=fmt, workers=workers, engine=engine, address=address,
                            resume=resume, retry_failed=retry_failed, library=library,
                            time_limit_seconds=time_limit,
                            memory_limit_mb="auto" if memory_limit_mb is None else
                            (memory_limit_mb or None),
                            job=_load_job(job) if job else refresh_job, on_progress=update)
    finally:
        close()
        signal.signal(signal.SIGTERM, previous)
    if json_out:
        out.print_json(data=summary.to_dict())
    else:
        _print_batch_summary(summary)
    if summary.interrupted:
        err.print("interrupted: run the same command (or --resume) to finish")
        raise typer.Exit(130)
    if summary.failures:
        raise typer.Exit(EXIT_FAILED)


def _print_batch_summary(s) -> None:
    t = s.tracks
    out.print(f"batch {escape(s.source_dir)} → {escape(s.out_dir)} "
              f"({s.settings['style']}, intensity {s.settings['intensity']:.2f}, seed "
              f"{s.settings['seed']}, {s.settings['format']}; {s.engine.get('engine')} engine, "
              f"{s.engine.get('workers')} workers)")
    out.print(f"  tracks: {t['done']} done, {t['failed']} failed, {t['skipped']} skipped "
              f"(done before), {t['duplicates']} duplicate files linked, {t['pending']} left")
    rtf = (f"{s.real_time_factor_per_core:.2f}× real time per core"
           if s.real_time_factor_per_core else "-")
    wh = s.energy.get("wh_per_audio_hour")
    out.print(f"  audio {s.audio_hours:.3f} h · CPU {s.cpu_hours:.3f} h · wall "
              f"{s.wall_seconds:.0f} s · {rtf} · energy {s.energy['wh']:.2f} Wh"
              + (f" ({wh:.1f} Wh per audio hour)" if wh else ""))
    out.print(f"  energy method: {s.energy['method']}", markup=False)
    for f in s.failures:
        out.print(escape(f"  failed: {f['source']}: [{f['error_code']}] {f['error'] or ''}"
                         + (" (earlier run)" if f.get("earlier_run") else "")))
    out.print(f"  summary {escape(s.summary_path)}")


def run() -> None:
    """Console-script entry point: expected errors become one line and an exit code."""
    try:
        app()
    except ReissueError as error:
        if os.environ.get("REISSUE_DEBUG"):
            raise
        report_error(error)
        sys.exit(EXIT_FAILED)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":  # pragma: no cover
    run()
