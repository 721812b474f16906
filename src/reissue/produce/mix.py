"""Mixing: gain staging of new layers against the original, and sidechain ducking to the kick.

Conventions
-----------
* Audio is ``float32 [shape=(channels, frames)]``; a mono layer ``(1, n)`` mixed into a stereo
  original goes to both channels (centre). Layers have the original's number of frames (they
  are rendered on the same time line).
* Layer gains are given in dB *relative to the original*: ``0`` puts a layer at the original's
  integrated loudness (BS.1770), ``-6`` 6 LU under it. Loudness is measured with
  :func:`reissue.produce.master.integrated_lufs_fast` (the same measure as
  :func:`reissue.analysis.sound.integrated_loudness`, one compiled pass).
* Headroom: the summed mix is scaled so its sample peak sits ``headroom_db`` under full scale,
  a known working level for the master (whose compressors set their thresholds from the signal,
  so only the ratio between layers is musical; the absolute level is bookkeeping).
* Kick times are seconds from the start of the rendered time line, as the arranger placed them;
  ducking needs no detection, so it can start *before* each kick.

Design notes
------------
Sidechain ducking (METHODS.md §8: dip 3–8 dB, 6–12 for pumping; 1–5 ms attack; release over an
eighth to a quarter note) is written as a gain envelope computed from the known kick times rather
than a compressor keyed on the kick's audio: the dip is exact (the set depth, reached at the kick
sample, not a level-dependent amount after the detector's lag), it is deterministic and it costs
one template copy per kick. Each kick's dip is a raised-cosine attack ending at the kick, an
optional hold, and a release ``−depth·(1 − u)^curve`` over ``u ∈ [0, 1]`` (``curve`` 1 is linear
in dB; > 1 recovers quickly at first, < 1 stays down and then opens — the "pumping" shape).
Overlapping dips take the deeper value, so the depth never stacks beyond the setting.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from ..errors import ParameterError
from .master import _check, integrated_lufs_fast

__all__ = ["db_to_gain", "gain_to_db", "Gain", "SidechainDucker", "MixReport",
           "loudness_match_db", "mix_layers"]

_FLOOR_DB = -150.0


def db_to_gain(db: float) -> float:
    """Linear amplitude factor of ``db`` decibels."""
    return float(10.0 ** (float(db) / 20.0))


def gain_to_db(gain: float) -> float:
    """Decibels of a linear amplitude factor (−150 dB for 0)."""
    g = abs(float(gain))
    return float(20.0 * math.log10(g)) if g > 0 else _FLOOR_DB


def _check_audio(samples: np.ndarray, sample_rate: int, name: str = "audio") -> np.ndarray:
    from ..io import check_audio

    return check_audio(samples, sample_rate, name=name)


class Gain:
    """A fixed gain stage.

    Parameters
    ----------
    gain_db : float
        −150 … +60 dB.

    Examples
    --------
    >>> Gain(-6.0).process(np.ones((1, 2), np.float32), 44100).round(3)
    array([[0.501, 0.501]], dtype=float32)
    """

    def __init__(self, gain_db: float):
        self.gain_db = _check("gain_db", gain_db, -150, 60, owner="Gain")

    def __repr__(self) -> str:
        return f"Gain(gain_db={self.gain_db})"

    def process(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        x = _check_audio(samples, sample_rate)
        return x * np.float32(db_to_gain(self.gain_db))


class SidechainDucker:
    """Gain dips keyed on known kick times.

    Parameters
    ----------
    kick_times_seconds : sequence of float
        Kick onsets (s, ≥ 0, finite; any order, duplicates ignored).
    depth_db : float
        Depth of the dip, 0.5 … 24 dB (3–8 for glue, 6–12 for audible pumping).
    attack_ms : float
        Time to reach full depth, 0 … 50 ms; the dip starts this long *before* each kick so
        the kick lands on the ducked signal.
    hold_ms : float
        Time at full depth after the kick, 0 … 500 ms.
    release_seconds : float
        Time to recover fully, 0.005 … 4 s (an eighth to a quarter note is usual; see
        :meth:`for_tempo`).
    curve : float
        Release shape exponent, 0.1 … 10 (1 = linear in dB).

    Examples
    --------
    >>> d = SidechainDucker.for_tempo([0.0, 0.5], 120.0, depth_db=6.0)
    >>> d  # doctest: +ELLIPSIS
    SidechainDucker(kicks=2, depth_db=6.0, attack_ms=2.0, hold_ms=0.0, release_seconds=0.25, ...)
    >>> env = d.envelope(44100, 44100)
    >>> round(float(20 * np.log10(env[0])), 2), round(float(env[int(0.3 * 44100)]), 3)
    (-6.0, 1.0)
    """

    def __init__(self, kick_times_seconds: Sequence[float], *, depth_db: float = 6.0,
                 attack_ms: float = 2.0, hold_ms: float = 0.0, release_seconds: float = 0.15,
                 curve: float = 1.0):
        own = "SidechainDucker"
        kicks = np.asarray(kick_times_seconds, dtype=np.float64).ravel()
        if kicks.size and (not np.isfinite(kicks).all() or kicks.min() < 0):
            raise ParameterError(f"{own}: kick_times_seconds must be finite and ≥ 0 (seconds "
                                 f"from the start), got min {kicks.min()!r}")
        self.kick_times_seconds = tuple(float(t) for t in np.unique(kicks))
        self.depth_db = _check("depth_db", depth_db, 0.5, 24, owner=own)
        self.attack_ms = _check("attack_ms", attack_ms, 0, 50, owner=own)
        self.hold_ms = _check("hold_ms", hold_ms, 0, 500, owner=own)
        self.release_seconds = _check("release_seconds", release_seconds, 0.005, 4, owner=own)
        self.curve = _check("curve", curve, 0.1, 10, owner=own)

    @classmethod
    def for_tempo(cls, kick_times_seconds: Sequence[float], tempo_bpm: float, *,
                  release_beats: float = 0.5, **kwargs) -> "SidechainDucker":
        """Ducker whose release lasts ``release_beats`` beats at ``tempo_bpm`` (0.5 = an eighth
        note in 4/4, 1 = a quarter)."""
        tempo = _check("tempo_bpm", tempo_bpm, 20, 400, owner="SidechainDucker.for_tempo")
        beats = _check("release_beats", release_beats, 0.05, 8, owner="SidechainDucker.for_tempo")
        return cls(kick_times_seconds, release_seconds=beats * 60.0 / tempo, **kwargs)

    def __repr__(self) -> str:
        return (f"SidechainDucker(kicks={len(self.kick_times_seconds)}, "
                f"depth_db={self.depth_db}, attack_ms={self.attack_ms}, "
                f"hold_ms={self.hold_ms}, release_seconds={self.release_seconds}, "
                f"curve={self.curve})")

    def template_db(self, sample_rate: int) -> tuple[np.ndarray, int]:
        """One kick's dip in dB (attack, hold, release) and the index of the kick sample in it."""
        a = int(round(self.attack_ms / 1000.0 * sample_rate))
        h = int(round(self.hold_ms / 1000.0 * sample_rate))
        r = max(1, int(round(self.release_seconds * sample_rate)))
        attack = 0.5 - 0.5 * np.cos(np.pi * (np.arange(a) + 1.0) / (a + 1.0)) if a else \
            np.zeros(0)
        u = np.arange(1, r + 1) / r
        release = (1.0 - u) ** self.curve
        shape = np.concatenate([attack, [1.0], np.ones(h), release])
        return -self.depth_db * shape, a

    def envelope(self, frames: int, sample_rate: int) -> np.ndarray:
        """Linear gain per sample (float32, ``frames``): 1 away from kicks, ``−depth_db`` at
        each kick sample."""
        if not (isinstance(frames, (int, np.integer)) and frames >= 0):
            raise ParameterError(f"frames={frames!r} must be a non-negative integer")
        env = np.zeros(int(frames))
        tpl, lead = self.template_db(sample_rate)
        for t in self.kick_times_seconds:
            k = int(round(t * sample_rate))
            start = k - lead
            lo, hi = max(start, 0), min(start + tpl.size, frames)
            if lo >= hi:
                continue
            np.minimum(env[lo:hi], tpl[lo - start: hi - start], out=env[lo:hi])
        return (10.0 ** (env / 20.0)).astype(np.float32)

    def process(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """Duck ``float32 (channels, n)``; returns the same shape."""
        x = _check_audio(samples, sample_rate)
        return x * self.envelope(x.shape[1], sample_rate)[None, :]


def loudness_match_db(layer: np.ndarray, reference: np.ndarray, sample_rate: int, *,
                      relative_db: float = 0.0) -> float:
    """Gain (dB) that puts ``layer``'s integrated loudness ``relative_db`` above
    ``reference``'s (0 dB if either is silent: there is nothing to match)."""
    ref = integrated_lufs_fast(_check_audio(reference, sample_rate, "reference"), sample_rate)
    lay = integrated_lufs_fast(_check_audio(layer, sample_rate, "layer"), sample_rate)
    if ref <= -70.0 or lay <= -70.0:
        return 0.0
    return float(ref + relative_db - lay)


@dataclass(frozen=True)
class MixReport:
    """What :func:`mix_layers` did.

    Attributes
    ----------
    gains_db : mapping of str to float
        Gain applied to each layer (``"original"`` included), before the headroom scaling.
    layer_lufs : mapping of str to float
        Each layer's integrated loudness as given.
    relative_db : mapping of str to float
        The requested loudness of each layer relative to the original.
    staging_db : float
        The common gain that set the headroom.
    mix_peak_dbfs : float
        Sample peak of the returned mix.
    ducked : tuple of str
        Layers the ducker was applied to.
    """

    gains_db: Mapping[str, float]
    layer_lufs: Mapping[str, float]
    relative_db: Mapping[str, float]
    staging_db: float
    mix_peak_dbfs: float
    ducked: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict:
        r = lambda m: {k: round(float(v), 3) for k, v in m.items()}  # noqa: E731
        return {"gains_db": r(self.gains_db), "layer_lufs": r(self.layer_lufs),
                "relative_db": r(self.relative_db), "staging_db": round(self.staging_db, 3),
                "mix_peak_dbfs": round(self.mix_peak_dbfs, 3), "ducked": list(self.ducked)}


def mix_layers(original: np.ndarray, layers: Mapping[str, np.ndarray], sample_rate: int, *,
               relative_db: Mapping[str, float] | None = None, original_db: float = 0.0,
               ducker: SidechainDucker | None = None, duck: Sequence[str] = (),
               headroom_db: float | None = 6.0) -> tuple[np.ndarray, MixReport]:
    """Sum the original and new layers at loudness-relative gains, ducking chosen ones.

    Parameters
    ----------
    original : np.ndarray [shape=(channels, n)]
        The (restored, stretched) original: the reference level.
    layers : mapping of str to np.ndarray [shape=(1 or channels, n)]
        New stems by name (``"drums"``, ``"bass"``, ``"pad"`` …); ``"original"`` is reserved.
    relative_db : mapping of str to float, optional
        Loudness of each layer relative to the original (dB, −60 … +20); missing layers get 0.
    original_db : float
        Gain on the original itself (−60 … +20 dB), e.g. −3 to make room for new drums.
    ducker : SidechainDucker, optional
    duck : sequence of str
        Names to duck (layer names or ``"original"``); requires ``ducker``.
    headroom_db : float or None
        Scale the mix so its sample peak is this far under 0 dBFS (0 … 40); None leaves the
        level alone.

    Returns
    -------
    mix : np.ndarray [shape=(channels, n), dtype=float32]
    report : MixReport
    """
    x = _check_audio(original, sample_rate, "original")
    channels, n = x.shape
    relative = dict(relative_db or {})
    unknown = sorted(set(relative) - set(layers))
    if unknown:
        raise ParameterError(f"relative_db names {unknown} that are not layers "
                             f"({sorted(layers)})")
    if "original" in layers:
        raise ParameterError("'original' is reserved for the original track; rename the layer")
    duck = tuple(duck)
    bad = sorted(set(duck) - set(layers) - {"original"})
    if bad:
        raise ParameterError(f"duck names {bad}; expected layer names or 'original'")
    if duck and ducker is None:
        raise ParameterError(f"duck={list(duck)} needs a ducker (SidechainDucker)")
    orig_db = _check("original_db", original_db, -60, 20, owner="mix_layers")
    ref_lufs = integrated_lufs_fast(x, sample_rate)
    envelope = ducker.envelope(n, sample_rate) if duck else None
    mix = x * np.float32(db_to_gain(orig_db))
    if "original" in duck:
        mix *= envelope
    gains = {"original": orig_db}
    lufs = {"original": ref_lufs}
    for name, layer in layers.items():
        y = _check_audio(layer, sample_rate, f"layer {name!r}")
        if y.shape[1] != n:
            raise ParameterError(f"layer {name!r} has {y.shape[1]} frames; the original has {n} "
                                 "(render layers on the original's time line)")
        if y.shape[0] not in (1, channels):
            raise ParameterError(f"layer {name!r} has {y.shape[0]} channels; expected 1 or "
                                 f"{channels}")
        rel = _check(f"relative_db[{name!r}]", relative.get(name, 0.0), -60, 20,
                     owner="mix_layers")
        relative[name] = rel
        lufs[name] = integrated_lufs_fast(y, sample_rate)
        if ref_lufs <= -70.0 or lufs[name] <= -70.0:
            gains[name] = 0.0
        else:
            gains[name] = ref_lufs + rel - lufs[name]
        part = y * np.float32(db_to_gain(gains[name]))
        if name in duck:
            part = part * envelope
        mix += part  # broadcasts a mono layer to every channel
    staging = 0.0
    peak = float(np.abs(mix).max())
    if headroom_db is not None:
        room = _check("headroom_db", headroom_db, 0, 40, owner="mix_layers")
        if peak > 0:
            staging = -room - gain_to_db(peak)
            mix *= np.float32(db_to_gain(staging))
            peak = float(np.abs(mix).max())
    report = MixReport(MappingProxyType(gains), MappingProxyType(lufs),
                       MappingProxyType(relative), float(staging), gain_to_db(peak), duck)
    return mix.astype(np.float32, copy=False), report
