"""Shared fixtures: generated signals whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261125)


@pytest.fixture(scope="session")
def demo_wav(tmp_path_factory) -> "Path":  # noqa: F821
    from reissue.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("demo") / "demo-song.wav")
