"""The web library and A/B player: ``reissue serve`` (see :mod:`reissue.web.app`)."""

from __future__ import annotations

__all__ = ["create_app"]


def create_app(*args, **kwargs):
    """Build the FastAPI app; see :func:`reissue.web.app.create_app`."""
    from .app import create_app as _create_app

    return _create_app(*args, **kwargs)
