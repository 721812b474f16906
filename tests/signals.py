"""Generated test signals with known truth."""

from __future__ import annotations

import numpy as np


def click_track(sample_rate: int, seconds: float, click_times: list[float], *,
                channels: int = 2, amplitude: float = 0.8) -> np.ndarray:
    """Silence with short 1 kHz-ish clicks (5 ms, Hann-shaped noise-free burst) at given times."""
    n = int(round(seconds * sample_rate))
    x = np.zeros((channels, n), np.float32)
    width = max(8, int(0.005 * sample_rate))
    t = np.arange(width) / sample_rate
    burst = (amplitude * np.hanning(width) * np.sin(2 * np.pi * 2000 * t)).astype(np.float32)
    for c in click_times:
        i = int(round(c * sample_rate))
        x[:, i:i + width] += burst[: n - i]
    return x


def onset_seconds(x: np.ndarray, sample_rate: int, threshold: float = 0.05) -> float:
    """Time of the first sample whose magnitude exceeds ``threshold`` (first channel)."""
    return float(np.argmax(np.abs(x[0]) > threshold)) / sample_rate
