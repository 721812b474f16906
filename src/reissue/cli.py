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


def _sound_table(analysis) -> Table:
    s = analysis.sound
    table = Table(title=f"{analysis.file}", title_justify="left", show_header=True,
                  header_style="bold")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("duration", f"{analysis.duration_seconds:.2f} s · {analysis.sample_rate} Hz · "
                     f"{analysis.channels} ch"),
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
        table.add_row(name, value)
    return table


@app.command()
@friendly
def analyze(
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV, FLAC, OGG, MP3, AIFF).",
                                                show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object per file.")] = False,
) -> None:
    """Measure loudness, peaks, spectrum, stereo image and noise of each file."""
    from .analysis import analyze as run_analysis
    from .io import load

    failed = 0
    for path in files:
        try:
            audio = load(path)
            result = run_analysis(audio)
        except ReissueError as error:
            failed += 1
            report_error(error)
            if as_json:
                out.print(json.dumps({"file": str(path), "error": {
                    "code": error.code, "message": error.message}}), markup=False)
            continue
        if as_json:
            out.print(json.dumps(result.to_dict(), allow_nan=False), markup=False)
        else:
            out.print(_sound_table(result))
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
@friendly
def demo(
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Where to write the demo files.")] =
    Path("demo-out"),
) -> None:
    """Render the built-in demo song (an "old record" with known truth) and analyse it."""
    from .analysis import analyze as run_analysis
    from .demo import write_demo
    from .io import load

    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "demo-song.wav"
    err.print(f"rendering the demo song to {path} …")
    write_demo(path)
    out.print(_sound_table(run_analysis(load(path))))
    out.print(f"wrote {path}")


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
