"""Generated songs with exact rhythmic truth, for the rhythm tests and the rhythm benchmark.

A song is a meter (beats per bar × beat subdivision: 2 = simple, 3 = compound), a tempo that may
ramp linearly (in beats), an optional pickup, and four synthesised parts from
``reissue.instruments``: block chords changing every bar, a bass on the downbeat (and mid-bar),
a melody drawn from metre-typical rhythm cells, and optional drums. Every random choice comes from
the ``rng`` passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reissue import instruments as ins
from reissue.instruments import Note

# chord roots (MIDI bass notes) and triad voicings of a I–vi–IV–V loop in C
_PROGRESSION = [(36, (60, 64, 67)), (45, (57, 60, 64)), (41, (57, 60, 65)), (43, (59, 62, 67))]
_SCALE = np.array([0, 2, 4, 5, 7, 9, 11])
# melody rhythm cells, in sub-beats, per subdivision
_CELLS = {2: [(2,), (1, 1), (1, 1), (2,), (1, 1)],
          3: [(3,), (2, 1), (1, 1, 1), (2, 1), (3,)]}


@dataclass(frozen=True)
class Song:
    """A generated song and its truth (seconds)."""

    samples: np.ndarray  # float32 mono
    sample_rate: int
    meter: str
    beats_seconds: np.ndarray
    downbeats_seconds: np.ndarray
    tempo_bpm: float  # median notated-beat tempo

    def local_bpm(self, t: float) -> float:
        """Truth tempo at time ``t`` from the beat grid."""
        b = self.beats_seconds
        i = int(np.clip(np.searchsorted(b, t), 1, len(b) - 1))
        return 60.0 / (b[i] - b[i - 1])


def make_song(rng: np.random.Generator, *, bpm: float = 120.0, end_bpm: float | None = None,
              beats_per_bar: int = 4, subdivision: int = 2, bars: int = 16,
              pickup_subbeats: int = 0, drums: bool = True, melody: bool = True,
              sample_rate: int = 22050, start_seconds: float = 0.4,
              chord_voice: str = "epiano") -> Song:
    """Synthesise a song in the given metre; tempo ramps linearly per beat to ``end_bpm``."""
    end_bpm = bpm if end_bpm is None else end_bpm
    n_beats = bars * beats_per_bar
    # tempo per beat (linear ramp), then sub-beat grid times by integration
    beat_bpm = np.linspace(bpm, end_bpm, n_beats + 1)
    sub_dur = np.repeat(60.0 / beat_bpm[:-1] / subdivision, subdivision)
    pickup_dur = np.full(pickup_subbeats, 60.0 / bpm / subdivision)
    first_down = start_seconds + pickup_dur.sum()
    sub_times = first_down + np.concatenate([[0.0], np.cumsum(sub_dur)])  # bars·m·s + 1 points
    pick_times = first_down - np.cumsum(pickup_dur)[::-1]
    beats = sub_times[::subdivision]
    downbeats = beats[::beats_per_bar][:bars]
    beats = beats[:n_beats]

    def sub_time(k: float) -> float:  # k sub-beats from the first downbeat (may be fractional)
        i = int(np.floor(k))
        return float(np.interp(k, np.arange(len(sub_times)), sub_times)) if i >= 0 else \
            float(first_down + k * 60.0 / bpm / subdivision)

    per_bar = beats_per_bar * subdivision
    chords, bass, lead, kick, snare, hat = [], [], [], [], [], []
    for bar in range(bars):
        root, triad = _PROGRESSION[bar % 4]
        k0 = bar * per_bar
        t0, t1 = sub_time(k0), sub_time(k0 + per_bar)
        for p in triad:
            chords.append(Note(t0, t1 - t0 - 0.03, p, 0.55))
        halves = [0] if beats_per_bar == 3 else [0, per_bar // 2]
        for h in halves:
            ts, te = sub_time(k0 + h), sub_time(k0 + h + subdivision)
            bass.append(Note(ts, te - ts - 0.02, root, 0.9 if h == 0 else 0.7))
        if drums:
            for b in range(beats_per_bar):
                tb = sub_time(k0 + b * subdivision)
                if b == 0 or (beats_per_bar == 4 and b == 2):
                    kick.append(Note(tb, 0.2, 0, 0.9))
                elif b % 2 == 1 or beats_per_bar == 3:
                    snare.append(Note(tb, 0.2, 0, 0.55))
            for j in range(per_bar):
                hat.append(Note(sub_time(k0 + j), 0.05, 0, 0.5 if j % subdivision == 0 else 0.3))
    if melody:
        # pickup notes, then one rhythm cell per beat; the first note of a bar is a chord tone
        for j in range(pickup_subbeats):
            lead.append(Note(pick_times[j], 60.0 / bpm / subdivision - 0.03,
                             72 + int(_SCALE[j % 7]), 0.7))
        pitch_idx = 7
        for bar in range(bars):
            _, triad = _PROGRESSION[bar % 4]
            for b in range(beats_per_bar):
                cell = _CELLS[subdivision][int(rng.integers(len(_CELLS[subdivision])))]
                k = bar * per_bar + b * subdivision
                for length in cell:
                    if b == 0 and k == bar * per_bar:
                        pitch = 12 + triad[int(rng.integers(3))]
                    else:
                        pitch_idx = int(np.clip(pitch_idx + rng.integers(-2, 3), 3, 12))
                        pitch = 60 + 12 * (pitch_idx // 7) + int(_SCALE[pitch_idx % 7])
                    ts, te = sub_time(k), sub_time(k + length)
                    accent = 0.85 if k % per_bar == 0 else 0.7
                    lead.append(Note(ts, te - ts - 0.03, pitch, accent))
                    k += length
    frames = int((sub_times[-1] + 1.0) * sample_rate)
    chord_inst = {"epiano": ins.EPiano(), "pad": ins.Pad(), "pluck": ins.Pluck()}[chord_voice]
    parts = [(chords, chord_inst, 0.5), (bass, ins.Bass(), 0.7), (lead, ins.Lead(), 0.8),
             (kick, ins.Kick(), 0.6), (snare, ins.Snare(), 0.35), (hat, ins.HiHat(), 0.25)]
    y = np.zeros(frames, np.float32)
    for notes, inst, gain in parts:
        if notes:
            y += gain * ins.render(notes, inst, sample_rate, frames, rng)
    y *= np.float32(0.5 / max(float(np.abs(y).max()), 1e-9))
    num = beats_per_bar * (3 if subdivision == 3 else 1)
    meter = f"{num}/{8 if subdivision == 3 else 4}"
    all_beats = beats if pickup_subbeats < subdivision else np.concatenate(
        [pick_times[::-1][subdivision - 1::subdivision][::-1], beats])
    return Song(y, sample_rate, meter, np.asarray(all_beats), np.asarray(downbeats),
                float(np.median(60.0 / np.diff(beats))))


def click_song(bpm: float, seconds: float, sample_rate: int = 22050, *, accent_every: int = 4,
               start_seconds: float = 0.5) -> Song:
    """A metronome: 2 kHz clicks on every beat, the first of each bar louder and lower."""
    beats = np.arange(start_seconds, seconds - 0.1, 60.0 / bpm)
    n = int(seconds * sample_rate)
    y = np.zeros(n, np.float32)
    w = int(0.01 * sample_rate)
    t = np.arange(w) / sample_rate
    for i, b in enumerate(beats):
        down = i % accent_every == 0
        f = 1000.0 if down else 2000.0
        burst = (0.8 if down else 0.5) * np.hanning(w) * np.sin(2 * np.pi * f * t)
        j = int(round(b * sample_rate))
        y[j:j + w] += burst[: n - j].astype(np.float32)
    meter = {2: "2/4", 3: "3/4", 4: "4/4"}.get(accent_every, f"{accent_every}/4")
    return Song(y, sample_rate, meter, beats, beats[::accent_every], bpm)
