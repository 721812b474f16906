"""The built-in demo song: a procedurally composed, deterministic "old record" with known truth.

Conventions
-----------
* The score is data written here (no downloaded material): 96 BPM, 4/4, G major, form A–B–A′ with
  an I–vi–IV–V verse (G Em C D), a IV–V–I–vi chorus (C D G Em) and a final G, a lead melody, a bass
  line and soft drums. 21 bars, first downbeat at 0.5 s, about 54 s long.
* :func:`demo_truth` returns the ground truth (tempo, beats, downbeats, key, chords, melody notes,
  sections) that tests and benchmarks score against.
* :func:`render_demo` synthesises it and produces it "vintage": narrow stereo, mono low end, a
  tape-like high roll-off, tape hiss and a few vinyl clicks, no compression, integrated loudness
  −20 LUFS. ``noise=False`` gives the same production without hiss and clicks — the clean reference
  a restoration is scored against. The same ``seed`` always gives the same samples.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import scipy.signal

from . import instruments as ins
from .instruments import Note

__all__ = ["DemoTruth", "demo_truth", "render_demo", "write_demo", "DEMO_SAMPLE_RATE"]

DEMO_SAMPLE_RATE = 44100
TEMPO_BPM = 96.0
BEAT_SECONDS = 60.0 / TEMPO_BPM
FIRST_DOWNBEAT_SECONDS = 0.5
TAIL_SECONDS = 1.5
TARGET_LUFS = -20.0

# bar -> chord (root pitch class name, quality, bass MIDI root)
_CHORDS = {"G": ("G", "maj", 43), "Em": ("E", "min", 40), "C": ("C", "maj", 36),
           "D": ("D", "maj", 38)}
_VOICINGS = {"G": (55, 59, 62), "Em": (55, 59, 64), "C": (55, 60, 64), "D": (57, 62, 66)}
_VERSE = ["G", "Em", "C", "D", "G", "Em", "C", "D"]
_CHORUS = ["C", "D", "G", "Em", "C", "D", "G", "Em"]
_OUTRO = ["G", "Em", "C", "D", "G"]
_BARS = _VERSE + _CHORUS + _OUTRO
_SECTIONS = [("A", 0, 8), ("B", 8, 16), ("A", 16, 21)]

# melody per bar: (MIDI pitch or None for a rest, beats)
_MELODY = [
    [(71, 1), (74, 1), (74, 1.5), (72, 0.5)],
    [(71, 1), (69, 1), (67, 2)],
    [(72, 1), (76, 1), (76, 1), (74, 1)],
    [(74, 2), (72, 1), (69, 1)],
    [(71, 1), (74, 1), (79, 1.5), (78, 0.5)],
    [(76, 1), (74, 1), (71, 2)],
    [(72, 1), (71, 1), (69, 1), (72, 1)],
    [(69, 3), (None, 1)],
    [(76, 1.5), (76, 0.5), (79, 1), (76, 1)],
    [(74, 1.5), (74, 0.5), (78, 1), (74, 1)],
    [(79, 2), (74, 1), (71, 1)],
    [(76, 3), (None, 1)],
    [(76, 1), (79, 1), (81, 1), (79, 1)],
    [(78, 1), (76, 1), (74, 1), (72, 1)],
    [(71, 2), (74, 2)],
    [(67, 3), (None, 1)],
    [(71, 1), (74, 1), (74, 1.5), (72, 0.5)],
    [(71, 1), (69, 1), (67, 2)],
    [(72, 1), (76, 1), (74, 1), (72, 1)],
    [(74, 2), (78, 2)],
    [(79, 4)],
]


@dataclass(frozen=True)
class DemoTruth:
    """Ground truth of the demo song (times in seconds)."""

    tempo_bpm: float
    meter: str
    key: str
    beats_seconds: tuple[float, ...]
    downbeats_seconds: tuple[float, ...]
    chords: tuple[tuple[float, float, str], ...]  # (start, end, Harte label)
    melody: tuple[tuple[float, float, int], ...]  # (start, end, MIDI pitch)
    sections: tuple[tuple[float, float, str], ...]  # (start, end, label)
    duration_seconds: float
    bass: tuple[tuple[float, float, int], ...] = field(default=())


def _bar_start(bar: int) -> float:
    return FIRST_DOWNBEAT_SECONDS + bar * 4 * BEAT_SECONDS


def _melody_notes() -> list[Note]:
    notes = []
    for bar, phrase in enumerate(_MELODY):
        beat = 0.0
        for pitch, beats in phrase:
            if pitch is not None:
                start = _bar_start(bar) + beat * BEAT_SECONDS
                # slightly detached articulation so note boundaries are audible
                dur = beats * BEAT_SECONDS - 0.04
                vel = (0.85 if beat in (0.0, 2.0) else 0.75) * _section_gain(bar)
                notes.append(Note(start, dur, pitch, vel))
            beat += beats
    return notes


def _section_gain(bar: int) -> float:
    """Verse soft, chorus full, last A softer still: the dynamics an unmastered record has."""
    if 8 <= bar < 16:
        return 1.0
    if bar >= 16:
        return 0.45
    return 0.6


def _parts() -> dict[str, list[Note]]:
    chords, bass, kick, snare, hat = [], [], [], [], []
    for bar, name in enumerate(_BARS):
        t0 = _bar_start(bar)
        g = _section_gain(bar)
        last = bar == len(_BARS) - 1
        for pitch in _VOICINGS[name]:
            if last:
                chords.append(Note(t0, 4 * BEAT_SECONDS, pitch, 0.6 * g))
            else:  # two stabs per bar: beat 1 (held) and beat 3 (held)
                chords.append(Note(t0, 2 * BEAT_SECONDS - 0.05, pitch, 0.6 * g))
                chords.append(Note(t0 + 2 * BEAT_SECONDS, 2 * BEAT_SECONDS - 0.05, pitch, 0.5 * g))
        root = _CHORDS[name][2]
        if last:
            bass.append(Note(t0, 3 * BEAT_SECONDS, root, 0.9 * g))
            kick.append(Note(t0, 0.2, 0, 0.9 * g))
            continue
        # root on 1, root on the "and" of 2, fifth on 3, root on 4
        for beat, interval, dur in ((0, 0, 1.4), (1.5, 0, 0.45), (2, 7, 0.95), (3, 12, 0.9)):
            bass.append(Note(t0 + beat * BEAT_SECONDS, dur * BEAT_SECONDS, root + interval,
                             (0.9 if beat == 0 else 0.75) * g))
        for beat in (0, 2):
            kick.append(Note(t0 + beat * BEAT_SECONDS, 0.2, 0, (0.9 if beat == 0 else 0.75) * g))
        for beat in (1, 3):
            snare.append(Note(t0 + beat * BEAT_SECONDS, 0.2, 0, 0.6 * g))
        for eighth in range(8):
            hat.append(Note(t0 + eighth * BEAT_SECONDS / 2, 0.05, 0,
                            (0.55 if eighth % 2 == 0 else 0.35) * g))
    return {"lead": _melody_notes(), "chords": chords, "bass": bass, "kick": kick,
            "snare": snare, "hat": hat}


def demo_truth() -> DemoTruth:
    """The demo song's ground truth."""
    n_bars = len(_BARS)
    end_music = _bar_start(n_bars)
    beats = tuple(round(_bar_start(0) + i * BEAT_SECONDS, 6) for i in range(n_bars * 4))
    downbeats = tuple(round(_bar_start(b), 6) for b in range(n_bars))
    chords = tuple((round(_bar_start(b), 6), round(_bar_start(b + 1), 6),
                    f"{_CHORDS[name][0]}:{_CHORDS[name][1]}") for b, name in enumerate(_BARS))
    melody = tuple((round(n.start_seconds, 6), round(n.end_seconds, 6), int(n.midi_pitch))
                   for n in _melody_notes())
    sections = tuple((round(_bar_start(a), 6), round(_bar_start(b), 6), lab)
                     for lab, a, b in _SECTIONS)
    bass = tuple((round(n.start_seconds, 6), round(n.end_seconds, 6), int(n.midi_pitch))
                 for n in _parts()["bass"])
    return DemoTruth(TEMPO_BPM, "4/4", "G major", beats, downbeats, chords, melody, sections,
                     round(end_music + TAIL_SECONDS, 6), bass)


def render_demo(*, sample_rate: int = DEMO_SAMPLE_RATE, noise: bool = True, vintage: bool = True,
                seed: int = 7) -> np.ndarray:
    """Synthesise the demo song as float32 ``(2, frames)``.

    Parameters
    ----------
    sample_rate : int
    noise : bool
        Add tape hiss and vinyl clicks (the "old record"); ``False`` is the clean reference.
    vintage : bool
        Apply the vintage production (narrow stereo, high roll-off, −20 LUFS). ``False`` returns
        the wide, full-band mix at the same loudness (what a modern transfer of the multitrack
        might sound like).
    seed : int
        Seeds every random choice (noise, clicks, synth phases).
    """
    from .analysis.sound import integrated_loudness

    truth = demo_truth()
    frames = int(round(truth.duration_seconds * sample_rate))
    rng = np.random.default_rng(seed)
    parts = _parts()
    voices = {
        "lead": (ins.Lead(), 1.0, 0.0),
        "chords": (ins.EPiano(), 0.55, -0.25),
        "bass": (ins.Bass(), 0.75, 0.0),
        "kick": (ins.Kick(f0=120.0, f1=52.0, tau_seconds=0.025, decay_seconds=0.18), 0.65, 0.0),
        "snare": (ins.Snare(tone=0.4, noise_decay_seconds=0.12), 0.4, 0.15),
        "hat": (ins.HiHat(decay_seconds=0.04), 0.3, 0.35),
    }
    mix = np.zeros((2, frames), np.float32)
    for name, (instrument, gain, pan) in voices.items():
        mono = ins.render(parts[name], instrument, sample_rate, frames, rng) * gain
        mix[0] += np.float32(np.cos((pan + 1) * np.pi / 4) * np.sqrt(2)) * mono
        mix[1] += np.float32(np.sin((pan + 1) * np.pi / 4) * np.sqrt(2)) * mono
    # a small room: two short reflections crossing sides
    dry = mix.copy()
    for ch, delays in enumerate(((0.013, 0.029), (0.017, 0.023))):
        for d, g in zip(delays, (0.18, 0.1)):
            k = int(d * sample_rate)
            mix[ch, k:] += np.float32(g) * dry[1 - ch, :-k]
    if vintage:
        mix = _vintage(mix, sample_rate)
    mix *= np.float32(10 ** ((TARGET_LUFS - integrated_loudness(mix, sample_rate)) / 20))
    if noise:
        mix += _record_noise(mix.shape, sample_rate, np.random.default_rng([seed, 1]))
    return mix.astype(np.float32)


def _rolloff_sos(sample_rate: int) -> np.ndarray:
    """The transfer chain's high roll-off: gentle tape droop plus a steep limit near 11 kHz."""
    cut = min(11000.0, 0.45 * sample_rate)
    return np.vstack([scipy.signal.butter(2, min(7000.0, 0.4 * sample_rate), fs=sample_rate,
                                          output="sos"),
                      scipy.signal.ellip(8, 0.5, 80, cut, fs=sample_rate, output="sos")])


def _vintage(mix: np.ndarray, sample_rate: int) -> np.ndarray:
    """Narrow image with mono bass, gentle tape saturation, high roll-off."""
    mid = 0.5 * (mix[0] + mix[1])
    side = 0.5 * (mix[0] - mix[1])
    sos_hp = scipy.signal.butter(2, 150.0, btype="high", fs=sample_rate, output="sos")
    side = 0.25 * scipy.signal.sosfilt(sos_hp, side)
    x = np.stack([mid + side, mid - side])
    x = x * np.float32(0.5 / max(float(np.abs(x).max()), 1e-9))  # drive the "tape" at −6 dB peak
    x = np.tanh(1.2 * x) / 1.2
    return scipy.signal.sosfilt(_rolloff_sos(sample_rate), x, axis=-1).astype(np.float32)


def _record_noise(shape: tuple[int, int], sample_rate: int, rng: np.random.Generator
                  ) -> np.ndarray:
    """Tape hiss (−52 dBFS white, through the same roll-off) and twelve ≈1 ms vinyl clicks."""
    hiss = 10 ** (-52 / 20) * rng.standard_normal(shape)
    x = scipy.signal.sosfilt(_rolloff_sos(sample_rate), hiss, axis=-1)
    width = int(0.0008 * sample_rate) + 1
    for p in np.sort(rng.integers(int(0.2 * sample_rate), shape[1] - sample_rate, 12)):
        x[:, p:p + width] += np.hanning(width) * rng.choice([-1.0, 1.0]) * rng.uniform(0.08, 0.16)
    return x.astype(np.float32)


def write_demo(path: str | os.PathLike, *, noise: bool = True, vintage: bool = True,
               sample_rate: int = DEMO_SAMPLE_RATE, seed: int = 7) -> Path:
    """Render the demo song and write it (atomically) to ``path``; returns the path."""
    from .io import Audio, save

    audio = Audio(render_demo(sample_rate=sample_rate, noise=noise, vintage=vintage, seed=seed),
                  sample_rate)
    tags = {"title": "reissue demo song", "artist": "reissue", "genre": "Demo"}
    return save(audio, path, subtype="PCM_16", tags=tags)
