"""Exceptions raised by reissue.

Conventions
-----------
Every error the user can cause derives from :class:`ReissueError`. Its message says what was given,
what was expected and what to do, in one line; the CLI prints exactly that line (no traceback) and
the web server maps :attr:`ReissueError.code` to an HTTP status. Causes are chained with
``raise ... from err`` so a developer still sees them with ``--debug``.
"""

from __future__ import annotations

from pathlib import Path


class ReissueError(Exception):
    """Root of every error reissue raises on purpose.

    Parameters
    ----------
    message : str
        One line: what happened, and what to do about it.
    code : str
        A stable machine-readable code (``"audio.unreadable"``), used by the CLI and the web API.
    """

    code = "reissue.error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class ParameterError(ReissueError, ValueError):
    """A parameter is out of its allowed range or of the wrong kind."""

    code = "parameter.invalid"


class AudioFileError(ReissueError):
    """An audio file cannot be read or written; carries the offending path.

    The message starts with the path so a user with many files sees which one failed.
    """

    code = "audio.unreadable"

    def __init__(self, path: str | Path, problem: str, hint: str = "", *, code: str | None = None):
        self.path = Path(path)
        self.problem = problem
        self.hint = hint
        text = f"{self.path}: {problem}"
        if hint:
            text += f" — {hint}"
        super().__init__(text, code=code)
