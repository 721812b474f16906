"""Sidechain ducking keyed on known kick times (no detector needed: the plan knows its kicks).

Conventions
-----------
* :func:`duck_envelope` returns a float32 gain curve (≤ 1) to multiply a layer with: a dip of
  ``depth_db`` at each kick, reached over ``attack_seconds`` (linear ramp) and recovering with a
  one-pole exponential of time constant ``release_seconds``; overlapping dips saturate at the full
  depth. METHODS.md §8: 3–8 dB for glue, 6–12 dB for audible pumping; 1–5 ms attack; release over
  1/8–1/4 note.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["duck_envelope"]


def duck_envelope(n: int, sample_rate: int, kick_seconds, *, depth_db: float,
                  release_seconds: float, attack_seconds: float = 0.002) -> np.ndarray:
    """Gain envelope (float32, ≤ 1) dipping ``depth_db`` at each kick and recovering exponentially.

    Examples
    --------
    >>> g = duck_envelope(44100, 44100, [0.5], depth_db=6.0, release_seconds=0.1)
    >>> round(float(20 * np.log10(g.min())), 1), float(g[0])
    (-6.0, 1.0)
    """
    import scipy.signal

    if depth_db <= 0 or not len(kick_seconds):
        return np.ones(n, np.float32)
    impulses = np.zeros(n, np.float64)
    idx = np.round(np.asarray(kick_seconds) * sample_rate).astype(int)
    idx = idx[(idx >= 0) & (idx < n)]
    impulses[idx] = 1.0
    a = math.exp(-1.0 / max(release_seconds * sample_rate, 1.0))
    env = scipy.signal.lfilter([1.0], [1.0, -a], impulses)
    attack = max(1, int(attack_seconds * sample_rate))
    if attack > 1:  # a short linear ramp into each dip instead of a step
        env = np.convolve(env, np.ones(attack) / attack)[:n]
    env = np.minimum(env, 1.0)
    return (10 ** (-depth_db * env / 20.0)).astype(np.float32)


