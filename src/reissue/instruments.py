"""Synthesised instruments: note events in, mono audio out.

Conventions
-----------
* A :class:`Note` is ``(start_seconds, duration_seconds, midi_pitch, velocity)``; velocity in (0, 1].
* Every instrument has ``voice(note, sample_rate, rng) -> np.ndarray`` returning the note's mono
  float32 sound starting at the note's onset (including its release tail), and is rendered into a
  buffer by :func:`render`. Randomness (noise, humanisation) comes only from the ``rng`` passed in,
  so a seed fixes every sample.
* Pitches are exact: oscillators accumulate phase from the frequency, so a note at MIDI 69 is
  440.000 Hz whatever the sample rate.
* Recipes follow METHODS.md §12 (808-style kick with exponential pitch drop, snare = two damped
  sines + band-passed noise, hats from six detuned squares, detuned-saw pads, Karplus–Strong plucks).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import scipy.signal

__all__ = ["Note", "render", "instrument", "Kit", "INSTRUMENTS", "KITS", "midi_to_hz"]


@dataclass(frozen=True)
class Note:
    """One note event (seconds, MIDI pitch, velocity in (0, 1])."""

    start_seconds: float
    duration_seconds: float
    midi_pitch: float
    velocity: float = 0.8

    @property
    def end_seconds(self) -> float:
        return self.start_seconds + self.duration_seconds


def _butter(order: int, cutoff, *, btype: str = "low", fs: float, output: str = "sos"
            ) -> np.ndarray:
    """``scipy.signal.butter``, designed once per setting (the voices ask for the same few
    filters for every note: 22 designs cost 0.05 CPU-s per refresh). A copy is returned
    (scipy's sosfilt wants a writable array)."""
    return _butter_cached(order, tuple(cutoff) if isinstance(cutoff, (list, tuple)) else cutoff,
                          btype, fs, output).copy()


@functools.lru_cache(maxsize=64)
def _butter_cached(order: int, cutoff, btype: str, fs: float, output: str) -> np.ndarray:
    return scipy.signal.butter(order, cutoff, btype=btype, fs=fs, output=output)


def midi_to_hz(pitch: float | np.ndarray) -> float | np.ndarray:
    return 440.0 * 2.0 ** ((np.asarray(pitch) - 69.0) / 12.0)


def _t(n: int, sample_rate: int) -> np.ndarray:
    return np.arange(n, dtype=np.float64) / sample_rate


def _decay(tau_seconds: float, n: int, sample_rate: int) -> np.ndarray:
    """exp(−t/τ) for the first ``n`` samples, float32, cached per (τ, rate)."""
    key = ("decay", round(tau_seconds, 9), sample_rate)
    return _cached(key, n, lambda m: np.exp(-np.arange(m, dtype=np.float64)
                                            / max(tau_seconds * sample_rate, 1e-9))
                   .astype(np.float32))


def _adsr(n: int, sample_rate: int, hold_seconds: float, *, attack: float = 0.005,
          decay: float = 0.2, sustain: float = 0.6, release: float = 0.1) -> np.ndarray:
    """Linear attack, exponential decay to ``sustain``, exponential release (τ = release/4)
    after ``hold_seconds``; float32, built from cached exponentials (no transcendental per
    sample)."""
    env = np.empty(n, np.float32)
    na = min(n, int(round(max(attack, 0.0) * sample_rate)))
    env[:na] = np.arange(na, dtype=np.float32) / max(attack * sample_rate, 1e-6)
    nd = n - na
    if nd > 0:
        env[na:] = _decay(max(decay, 1e-6), nd, sample_rate)
        env[na:] *= np.float32(1.0 - sustain)
        env[na:] += np.float32(sustain)
    hold = int(np.ceil(hold_seconds * sample_rate - 1e-9))
    if 0 <= hold < n:
        level = env[hold]
        env[hold:] = level * _decay(max(release / 4.0, 1e-6), n - hold, sample_rate)
    return env


_TONES: dict[tuple, np.ndarray] = {}
_TONES_MAX = 512


def _cached(key: tuple, n: int, make) -> np.ndarray:
    """The first ``n`` samples of a deterministic tone, computed once per key (and regrown when a
    longer note needs more). A prefix of a longer rendering equals a shorter rendering, so the
    cache never changes a sample."""
    tone = _TONES.get(key)
    if tone is None or len(tone) < n:
        if len(_TONES) >= _TONES_MAX:
            _TONES.clear()
        tone = make(max(n, int(1.5 * n)))
        _TONES[key] = tone
    return tone[:n]


def _additive(freq: float, n: int, sample_rate: int, amps: list[float],
              decays: list[float] | None = None) -> np.ndarray:
    """Sum of harmonics ``amps[h-1]·sin(h·θ)`` (each optionally decaying), θ = 2π·freq·t.

    Two transcendental calls per note: the harmonics come from the Chebyshev recurrence
    sin((h+1)θ) = 2·cos θ·sin(hθ) − sin((h−1)θ). Cached per (frequency, recipe).
    """
    key = ("additive", freq, sample_rate, tuple(amps), tuple(decays or ()))
    return _cached(key, n, lambda m: _additive_raw(freq, m, sample_rate, amps, decays))


def _additive_raw(freq: float, n: int, sample_rate: int, amps: list[float],
                  decays: list[float] | None = None) -> np.ndarray:
    theta = (2.0 * np.pi * freq / sample_rate) * np.arange(n, dtype=np.float64)
    c2 = (2.0 * np.cos(theta)).astype(np.float32)
    s_prev = np.zeros(n, np.float32)
    s_cur = np.sin(theta).astype(np.float32)
    t = None if decays is None else _t(n, sample_rate).astype(np.float32)
    out = np.zeros(n, np.float32)
    for h, a in enumerate(amps, start=1):
        if h * freq >= 0.475 * sample_rate:
            break
        if a:
            out += (a * s_cur) if t is None else (a * s_cur * np.exp(-t / decays[h - 1]))
        s_prev, s_cur = s_cur, c2 * s_cur - s_prev
    return out


class EPiano:
    """Soft electric-piano-like tone: decaying sine partials with a bell-ish 2nd/3rd harmonic."""

    release = 0.25

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        tone = _additive(f, n, sample_rate, [1.0, 0.35, 0.12, 0.05], [2.5, 0.9, 0.4, 0.25])
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.004, decay=0.6, sustain=0.5,
                    release=self.release)
        return (0.5 * note.velocity * tone * env).astype(np.float32)


class Bass:
    """Round plucked bass: sine + soft 2nd/3rd harmonics, fast decay to a sustain."""

    release = 0.08

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        tone = _additive(f, n, sample_rate, [1.0, 0.45, 0.18, 0.06])
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.006, decay=0.25, sustain=0.55,
                    release=self.release)
        return (0.8 * note.velocity * tone * env).astype(np.float32)


class Lead:
    """Reed-like lead with a clear fundamental (harmonics 1/h), gentle attack, no vibrato."""

    release = 0.06

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        tone = _additive(f, n, sample_rate, [1.0, 0.5, 0.33, 0.25, 0.2, 0.12, 0.08, 0.05])
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.02, decay=0.3, sustain=0.8,
                    release=self.release)
        return (0.45 * note.velocity * tone * env).astype(np.float32)


class Pad:
    """Detuned-saw pad (5 voices, ±12 cents), low-passed, slow attack.

    ``seeded=True`` takes the saw phases from the pitch instead of ``rng`` so the tone can be
    cached (the production path); the default draws them from ``rng``.
    """

    release = 0.4

    def __init__(self, seeded: bool = False, cutoff_hz: float = 2500.0):
        self.seeded, self.cutoff = seeded, cutoff_hz

    def _raw(self, f: float, n: int, sample_rate: int, phases) -> np.ndarray:
        t = _t(n, sample_rate)
        out = np.zeros(n)
        for cents, phase in zip((-12.0, -5.0, 0.0, 5.0, 12.0), phases):
            fd = f * 2 ** (cents / 1200)
            out += 2.0 * ((fd * t + phase) % 1.0) - 1.0
        sos = _butter(2, min(self.cutoff, 0.45 * sample_rate), fs=sample_rate,
                                  output="sos")
        return scipy.signal.sosfilt(sos, out).astype(np.float32)

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        if self.seeded:
            phases = np.random.default_rng(int(round(note.midi_pitch * 100))).random(5)
            out = _cached(("pad", f, sample_rate, self.cutoff), n,
                          lambda m: self._raw(f, m, sample_rate, phases))
        else:
            out = self._raw(f, n, sample_rate, [rng.random() for _ in range(5)])
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.12, decay=0.5, sustain=0.8,
                    release=self.release)
        return (0.12 * note.velocity * out * env).astype(np.float32)


class Pluck:
    """Karplus–Strong plucked string (noise burst through a tuned, damped delay loop).

    ``seeded=True`` takes the burst from the pitch instead of ``rng`` so the string can be cached.
    """

    release = 0.05

    def __init__(self, seeded: bool = False):
        self.seeded = seeded

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        if self.seeded:
            burst = np.random.default_rng(int(round(note.midi_pitch * 100)))
            out = _cached(("pluck", f, sample_rate), n,
                          lambda m: self._string(f, m, sample_rate, burst))
        else:
            out = self._string(f, n, sample_rate, rng)
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.001, decay=10.0, sustain=1.0,
                    release=self.release)
        return (0.4 * note.velocity * out * env).astype(np.float32)

    @staticmethod
    def _string(f: float, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        period = sample_rate / f - 0.5  # the two-point average adds half a sample of delay
        d = int(period)
        frac = period - d  # linear blend for the fractional delay
        buf = rng.uniform(-1, 1, d + 2)
        y = np.zeros(max(n, d + 2) + d)
        y[: d + 2] = buf
        _ks_loop(y, d, frac, 0.996, n)
        return y[:n].astype(np.float32)


_KS = None


def _ks_loop(y: np.ndarray, d: int, frac: float, decay: float, n: int) -> None:
    """The Karplus–Strong recursion in place from sample ``d + 2`` to ``n``: compiled (numba),
    the same float64 operations in the same order as the period-at-a-time numpy loop it
    replaced (bit-identical output, 0.27 → 0.01 CPU-s for the benchmark's pluck layer)."""
    global _KS
    if _KS is None:
        from numba import njit

        @njit(cache=True, nogil=True)
        def loop(y, d, frac, decay, n):  # pragma: no cover - compiled
            for i in range(d + 2, n):
                y[i] = decay * 0.5 * ((1 - frac) * (y[i - d] + y[i - d - 1])
                                      + frac * (y[i - d - 1] + y[i - d - 2]))

        _KS = loop
    _KS(y, d, float(frac), float(decay), int(n))


class Kick:
    """Kick: phase-accumulated sine sweeping from ``f0`` down to ``f1`` with a short click.

    With a long ``decay_seconds`` and the note's pitch as ``f1`` it is an 808 bass.
    """

    def __init__(self, f0: float = 150.0, f1: float = 50.0, tau_seconds: float = 0.03,
                 decay_seconds: float = 0.25, drive: float = 1.0, tuned: bool = False):
        self.f0, self.f1, self.tau, self.decay, self.drive, self.tuned = (
            f0, f1, tau_seconds, decay_seconds, drive, tuned)

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f1 = float(midi_to_hz(note.midi_pitch)) if self.tuned else self.f1
        length = max(self.decay * 4, note.duration_seconds if self.tuned else 0.0)
        n = int(length * sample_rate)
        t = _t(n, sample_rate)
        f = f1 + (self.f0 - f1) * np.exp(-t / self.tau)
        phase = 2 * np.pi * np.cumsum(f) / sample_rate
        env = np.exp(-t / self.decay)
        if self.tuned:  # 808: hold for the note, then release
            env = np.where(t < note.duration_seconds, env,
                           env * np.exp(-(t - note.duration_seconds) / 0.05))
        x = np.sin(phase) * env
        click = np.exp(-t / 0.002) * rng.uniform(-1, 1, n) * 0.15
        x = x + click
        if self.drive != 1.0:
            x = np.tanh(self.drive * x) / np.tanh(self.drive)
        return (0.9 * note.velocity * x).astype(np.float32)


class Snare:
    """Snare: damped sines at ``body_hz`` (180/330 Hz) plus noise band-passed 1–6 kHz."""

    def __init__(self, tone: float = 0.5, noise_decay_seconds: float = 0.15,
                 body_hz: tuple[float, float] = (180.0, 330.0)):
        self.tone, self.noise_decay, self.body_hz = tone, noise_decay_seconds, body_hz

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = int(0.35 * sample_rate)
        t = _t(n, sample_rate)
        low, high = self.body_hz
        body = (np.sin(2 * np.pi * low * t) * np.exp(-t / 0.06)
                + 0.6 * np.sin(2 * np.pi * high * t) * np.exp(-t / 0.04))
        hi = min(6000.0, 0.45 * sample_rate)
        sos = _butter(2, (1000.0, hi), btype="band", fs=sample_rate, output="sos")
        noise = scipy.signal.sosfilt(sos, rng.standard_normal(n)) * np.exp(-t / self.noise_decay)
        x = self.tone * body + 1.6 * noise
        return (0.5 * note.velocity * x).astype(np.float32)


class Clap:
    """Clap: three noise bursts 10 ms apart and a tail, band-passed around 1.2 kHz."""

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = int(0.3 * sample_rate)
        t = _t(n, sample_rate)
        env = np.zeros(n)
        for k in range(3):
            tk = t - 0.01 * k
            env += np.where(tk >= 0, np.exp(-np.maximum(tk, 0) / 0.004), 0.0)
        env += 0.5 * np.exp(-t / 0.12) * (t > 0.02)
        sos = _butter(2, (800.0, min(3000.0, 0.45 * sample_rate)), btype="band",
                                  fs=sample_rate, output="sos")
        x = scipy.signal.sosfilt(sos, rng.standard_normal(n)) * env
        return (1.2 * note.velocity * x).astype(np.float32)


class HiHat:
    """Hat: six square waves at the TR-808 cymbal frequencies, band- then high-passed."""

    _FREQS = (205.3, 304.4, 369.6, 522.7, 540.0, 800.0)

    def __init__(self, decay_seconds: float = 0.05):
        self.decay = decay_seconds

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = int((self.decay * 6) * sample_rate)
        t = _t(n, sample_rate)
        x = sum(np.where((f * t + rng.random()) % 1.0 < 0.5, 1.0, -1.0) for f in self._FREQS)
        x = x + 0.5 * rng.standard_normal(n)
        lo, hi = min(7000.0, 0.4 * sample_rate), min(11000.0, 0.45 * sample_rate)
        if lo < hi:
            sos = _butter(2, (lo, hi), btype="band", fs=sample_rate, output="sos")
        else:
            sos = _butter(2, 0.3 * sample_rate, btype="high", fs=sample_rate,
                                      output="sos")
        x = scipy.signal.sosfilt(sos, x) * np.exp(-t / self.decay)
        return (0.35 * note.velocity * x).astype(np.float32)


class SynthBass:
    """Analog-style bass: band-limited saw (12 harmonics, 1/h) through a 2-pole low-pass."""

    release = 0.06

    def __init__(self, cutoff_hz: float = 900.0):
        self.cutoff = cutoff_hz

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)

        def make(m: int) -> np.ndarray:
            saw = _additive_raw(f, m, sample_rate, [1.0 / h for h in range(1, 13)])
            sos = _butter(2, min(self.cutoff, 0.45 * sample_rate), fs=sample_rate,
                                      output="sos")
            return scipy.signal.sosfilt(sos, saw).astype(np.float32)

        tone = _cached(("synthbass", f, sample_rate, self.cutoff), n, make)
        env = _adsr(n, sample_rate, note.duration_seconds, attack=0.004, decay=0.15, sustain=0.7,
                    release=self.release)
        return (0.6 * note.velocity * tone * env).astype(np.float32)


class Sub808:
    """808 bass: a sine that drops from 2.2× to the note's pitch in ≈ 30 ms, held for the note,
    with a short click and soft saturation; optional glide into the next note's pitch over the
    last ``glide_seconds`` (phase-continuous)."""

    release = 0.08

    def __init__(self, drive: float = 2.5, glide_seconds: float = 0.08):
        self.drive, self.glide = drive, glide_seconds

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator,
              next_pitch: float | None = None) -> np.ndarray:
        f = float(midi_to_hz(note.midi_pitch))
        n = int((note.duration_seconds + self.release) * sample_rate)
        t = _t(n, sample_rate)
        freq = f + (2.2 * f - f) * np.exp(-t / 0.03)
        if next_pitch is not None and next_pitch != note.midi_pitch:
            g0 = max(0.0, note.duration_seconds - self.glide)
            f2 = float(midi_to_hz(next_pitch))
            x = np.clip((t - g0) / max(self.glide, 1e-3), 0.0, 1.0)
            freq = freq * (f2 / f) ** x  # exponential slide
        phase = 2 * np.pi * np.cumsum(freq) / sample_rate
        env = np.exp(-t / 1.2) * np.minimum(1.0, t / 0.002)
        env = np.where(t < note.duration_seconds, env,
                       env * np.exp(-(t - note.duration_seconds) / (self.release / 4)))
        x = np.sin(phase) * env
        x = np.tanh(self.drive * x) / np.tanh(self.drive)
        return (0.8 * note.velocity * x).astype(np.float32)


class Tom:
    """Tom: a pitched, quickly decaying sine sweep."""

    def __init__(self, hz: float = 120.0):
        self.hz = hz

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        n = int(0.45 * sample_rate)
        t = _t(n, sample_rate)
        f = self.hz * (1 + 0.6 * np.exp(-t / 0.04))
        x = np.sin(2 * np.pi * np.cumsum(f) / sample_rate) * np.exp(-t / 0.16)
        return (0.7 * note.velocity * x).astype(np.float32)


class GatedSnare(Snare):
    """1980s gated snare: the snare plus a dense noise 'room' cut off sharply after ≈ 180 ms."""

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        dry = Snare.voice(self, note, sample_rate, rng)
        n = len(dry)
        t = _t(n, sample_rate)
        sos = _butter(2, (400.0, min(8000.0, 0.45 * sample_rate)), btype="band",
                                  fs=sample_rate, output="sos")
        room = scipy.signal.sosfilt(sos, rng.standard_normal(n)) * (t < 0.18) * \
            np.minimum(1.0, (0.2 - t).clip(0) / 0.02)
        return (dry + 0.35 * note.velocity * room).astype(np.float32)


#: kit name → GM drum number → instrument (the drum sounds of each style)
def _key_pitch_hz(near_hz: float, pitch_classes: tuple[int, ...]) -> float:
    """The equal-tempered pitch (A4 = 440 Hz) of one of ``pitch_classes`` nearest ``near_hz``."""
    m = 69.0 + 12.0 * math.log2(near_hz / 440.0)
    best = min((k for k in range(int(m) - 7, int(m) + 8) if k % 12 in pitch_classes),
               key=lambda k: (abs(k - m), k))
    return float(440.0 * 2.0 ** ((best - 69) / 12.0))


def _tune_kit(kit: dict[int, object], tonic_pc: int) -> None:
    """Tune the pitched drums to the song's key, as producers do: the kick's body and the low
    tom to the tonic, the snare's two body modes and the other toms to the fifth and the tonic —
    pitches every major and minor key holds — each the nearest such pitch to its untuned
    frequency (at most a tritone away). Untuned, a kick at 52 Hz (≈ G#1) adds a G# to every
    bar, enough to move the key a listener hears (and the analysis finds) in a song in G minor."""
    tonic, fifth = tonic_pc % 12, (tonic_pc + 7) % 12
    for drum in kit.values():
        if isinstance(drum, Kick) and not drum.tuned:
            drum.f1 = _key_pitch_hz(drum.f1, (tonic,))
        elif isinstance(drum, Snare):
            drum.body_hz = (_key_pitch_hz(drum.body_hz[0], (fifth,)),
                            _key_pitch_hz(drum.body_hz[1], (tonic,)))
    for gm, pcs in ((45, (tonic,)), (47, (fifth,)), (50, (tonic,))):
        if isinstance(kit.get(gm), Tom):
            kit[gm].hz = _key_pitch_hz(kit[gm].hz, pcs)


def _kit(name: str, tonic_pc: int | None = None) -> dict[int, object]:
    kits = {
        "punchy": {36: Kick(f0=160, f1=52, tau_seconds=0.025, decay_seconds=0.22, drive=1.8),
                   38: Snare(tone=0.5, noise_decay_seconds=0.14), 39: Clap(),
                   42: HiHat(0.04), 46: HiHat(0.25)},
        "house": {36: Kick(f0=150, f1=50, tau_seconds=0.03, decay_seconds=0.3, drive=2.0),
                  38: Snare(tone=0.3, noise_decay_seconds=0.12), 39: Clap(),
                  42: HiHat(0.035), 46: HiHat(0.3)},
        "808": {36: Kick(f0=180, f1=45, tau_seconds=0.04, decay_seconds=0.35, drive=2.5),
                38: Snare(tone=0.35, noise_decay_seconds=0.1), 39: Clap(),
                42: HiHat(0.03), 46: HiHat(0.2)},
        "dusty": {36: Kick(f0=110, f1=55, tau_seconds=0.02, decay_seconds=0.18, drive=1.2),
                  38: Snare(tone=0.6, noise_decay_seconds=0.1), 39: Clap(),
                  42: HiHat(0.03), 46: HiHat(0.15)},
        "gated": {36: Kick(f0=140, f1=55, tau_seconds=0.03, decay_seconds=0.25, drive=1.5),
                  38: GatedSnare(tone=0.5, noise_decay_seconds=0.15), 39: Clap(),
                  42: HiHat(0.04), 46: HiHat(0.25)},
    }
    kit = kits[name]
    kit.update({45: Tom(100.0), 47: Tom(140.0), 50: Tom(190.0)})
    if tonic_pc is not None:
        _tune_kit(kit, tonic_pc)
    return kit


class Kit:
    """A drum kit for note events whose pitch is a General MIDI drum number.

    Each drum's sound is rendered once per variant (4 variants, seeded by the kit) and reused,
    scaled by velocity — the drums scale linearly with velocity, so this equals rendering every
    hit afresh with that variant's noise. The ``rng`` passed to :meth:`voice` picks the variant.
    """

    VARIANTS = 4

    def __init__(self, name: str, seed: int = 0, tonic_pc: int | None = None):
        self.name = name
        self.drums = _kit(name, tonic_pc)
        self.seed = seed
        self._cache: dict[tuple[int, int, int], np.ndarray] = {}

    def voice(self, note: Note, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
        gm = int(round(note.midi_pitch))
        drum = self.drums.get(gm) or self.drums[38]
        variant = int(rng.integers(self.VARIANTS))
        key = (gm, variant, sample_rate)
        if key not in self._cache:
            unit = Note(0.0, note.duration_seconds, gm, 1.0)
            self._cache[key] = drum.voice(unit, sample_rate,
                                          np.random.default_rng([self.seed, gm, variant]))
        return self._cache[key] * np.float32(note.velocity)


INSTRUMENTS = {
    "epiano": EPiano, "bass": Bass, "lead": Lead, "pad": Pad, "pluck": Pluck,
    "kick": Kick, "snare": Snare, "clap": Clap, "hat": HiHat, "synth": SynthBass,
    "808": Sub808, "tom": Tom,
}
KITS = ("punchy", "house", "808", "dusty", "gated")


def instrument(name: str, *, drums: bool = False, seed: int = 0, tonic_pc: int | None = None):
    """The production instrument for a style's instrument name, or its drum kit when ``drums``
    (cache-friendly voices; pitched drums tuned to ``tonic_pc``'s key when given). "808" is
    both a kit and a bass, hence the flag."""
    if drums:
        if name not in KITS:
            raise ValueError(f"unknown drum kit {name!r}; known: {list(KITS)}")
        return Kit(name, seed, tonic_pc)
    if name == "pad":
        return Pad(seeded=True)
    if name == "pluck":
        return Pluck(seeded=True)
    if name in INSTRUMENTS:
        return INSTRUMENTS[name]()
    raise ValueError(f"unknown instrument {name!r}; known: {sorted(INSTRUMENTS) + list(KITS)}")


def render(notes: list[Note], instrument, sample_rate: int, frames: int,
           rng: np.random.Generator, *, glide: bool = False) -> np.ndarray:
    """Mix every note's voice into a mono float32 buffer of ``frames`` samples.

    With ``glide`` (an instrument whose ``voice`` takes ``next_pitch``, i.e. :class:`Sub808`),
    a note that runs into the next one slides to its pitch.
    """
    out = np.zeros(frames, np.float32)
    notes = list(notes)
    for i, note in enumerate(notes):
        start = int(round(note.start_seconds * sample_rate))
        if start >= frames:
            continue
        if glide and i + 1 < len(notes) and \
                notes[i + 1].start_seconds - note.end_seconds < 0.03:
            v = instrument.voice(note, sample_rate, rng, next_pitch=notes[i + 1].midi_pitch)
        else:
            v = instrument.voice(note, sample_rate, rng)
        if start < 0:
            v = v[-start:]
            start = 0
        end = min(frames, start + len(v))
        out[start:end] += v[: end - start]
    return out
