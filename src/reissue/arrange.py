"""Arrange: decide the whole re-production as data — time map, layers, notes — render nothing.

Conventions
-----------
* :func:`plan` is pure: ``(analysis, style, intensity, seed) -> Plan``. The same inputs give the
  same plan; the seed only drives humanisation (timing/velocity), fills and hat rolls.
* Times in a :class:`Plan` are **new-version seconds**; the :class:`TimeMap` converts both ways.
* Notes are :class:`reissue.instruments.Note`; drum notes carry General MIDI drum numbers as pitch
  (36 kick, 38 snare, 39 clap, 42 closed hat, 46 open hat, 45/47/50 toms).

Design
------
* **Tempo policy.** A style either keeps the tempo or asks for a range. The song's tempo, or its
  double/half (a metrical reinterpretation costs no stretching), is moved to the nearest tempo in
  the range; the stretch ratio is capped at ±25 % (beyond that Rubber Band's artefacts become
  obvious). Intensity interpolates geometrically: ratio = target_ratio ** intensity.
* **Time map.** A uniform stretch by that ratio, written as beat anchors (original beat, new
  beat) plus the ends. New parts are placed on the song's *own* mapped beats, interpolated between
  them for sixteenth steps, so they follow a drifting live tempo instead of a rigid grid.
* **Grid.** Bars come from the downbeats; a 4/4 bar has 16 steps. Swing delays every second
  sixteenth (swing 0.5 = straight, 0.66 = triplet). Other meters use beats_per_bar × 4 steps,
  the style's patterns cut or cycled to fit.
* **Harmony.** Bass plays the root of the analysed chord at each pattern hit; chord layers voice
  the analysed triad around ``centre_midi`` — moved down (to MIDI 48 at most) when the melody
  sits lower, so the voicing's top stays under the melody's lower quartile and does not mask
  it — with minimal movement (voice leading); every note is
  cut at chord changes and re-struck, so generated notes belong to the chord sounding at their
  time. No-chord (``N``) time gets no bass or chords.
* **Form.** Quiet sections (energy < 0.7 of the loudest) get thinner drums (no open hats, half the
  hats) and softer layers; the last beat before a section change gets a fill; sections whose
  energy is below 0.15 (silence, fades) get no new layers.
* **Intensity 0…1.** Layer gains scale linearly with intensity (0 = no layers at all: a pure
  remaster); the original's level and its drums' push-back scale with it; the master target is
  interpolated from the ``remaster`` preset's toward the style's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .analysis import beats_per_bar
from .analysis.tonal import PITCH_NAMES
from .instruments import Note

__all__ = ["TimeMap", "Part", "Plan", "plan", "chord_at", "GM_DRUMS"]

GM_DRUMS = {"kick": 36, "snare": 38, "clap": 39, "hat": 42, "open_hat": 46, "tom_low": 45,
            "tom_mid": 47, "tom_high": 50}
_PITCH_CLASSES = {"C": 0, "C#": 1, "Db": 1, "D": 2, "D#": 3, "Eb": 3, "E": 4, "F": 5, "F#": 6,
                  "Gb": 6, "G": 7, "G#": 8, "Ab": 8, "A": 9, "A#": 10, "Bb": 10, "B": 11,
                  "Cb": 11, "E#": 5, "Fb": 4, "B#": 0}
MAX_STRETCH = 1.25


# --------------------------------------------------------------------------- time map

@dataclass(frozen=True)
class TimeMap:
    """Monotonic piecewise-linear map between original and new seconds (anchored on beats)."""

    original_seconds: tuple[float, ...]
    new_seconds: tuple[float, ...]

    def __post_init__(self) -> None:
        o, n = np.asarray(self.original_seconds), np.asarray(self.new_seconds)
        if len(o) != len(n) or len(o) < 2:
            raise ValueError("a time map needs ≥ 2 anchors of (original, new) seconds")
        if np.any(np.diff(o) <= 0) or np.any(np.diff(n) <= 0):
            raise ValueError("time map anchors must increase strictly in both times")

    @classmethod
    def uniform(cls, ratio: float, duration_seconds: float, anchors=()) -> "TimeMap":
        """new = original / ratio (ratio > 1 = faster), with the given original anchor times."""
        pts = sorted({0.0, float(duration_seconds), *(float(a) for a in anchors
                                                      if 0 < a < duration_seconds)})
        return cls(tuple(pts), tuple(p / ratio for p in pts))

    def to_new(self, t):
        return _interp(t, self.original_seconds, self.new_seconds)

    def to_original(self, t):
        return _interp(t, self.new_seconds, self.original_seconds)

    @property
    def ratio(self) -> float:
        """Overall speed ratio (original duration / new duration)."""
        return (self.original_seconds[-1] - self.original_seconds[0]) / \
            (self.new_seconds[-1] - self.new_seconds[0])

    @property
    def is_identity(self) -> bool:
        return bool(np.allclose(self.original_seconds, self.new_seconds, atol=1e-9))

    def to_list(self) -> list[list[float]]:
        return [[round(o, 4), round(n, 4)] for o, n in zip(self.original_seconds,
                                                           self.new_seconds)]


def _interp(t, xp, fp):
    """np.interp with linear extrapolation past both ends."""
    xp, fp = np.asarray(xp, float), np.asarray(fp, float)
    t_arr = np.asarray(t, float)
    out = np.interp(t_arr, xp, fp)
    lo_slope = (fp[1] - fp[0]) / (xp[1] - xp[0])
    hi_slope = (fp[-1] - fp[-2]) / (xp[-1] - xp[-2])
    out = np.where(t_arr < xp[0], fp[0] + (t_arr - xp[0]) * lo_slope, out)
    out = np.where(t_arr > xp[-1], fp[-1] + (t_arr - xp[-1]) * hi_slope, out)
    return float(out) if np.ndim(t) == 0 else out


# --------------------------------------------------------------------------- plan types

@dataclass(frozen=True)
class Part:
    """A generated layer: instrument, notes in new seconds, gain and pan."""

    name: str
    instrument: str
    notes: tuple[Note, ...]
    gain_db: float
    pan: float = 0.0

    def to_dict(self) -> dict:
        return {"name": self.name, "instrument": self.instrument, "notes": len(self.notes),
                "gain_db": round(self.gain_db, 2), "pan": self.pan}


@dataclass(frozen=True)
class Plan:
    """Everything the renderer needs, as data."""

    style: str
    intensity: float
    seed: int
    original_tempo_bpm: float
    tempo_bpm: float
    time_map: TimeMap
    beats_seconds: tuple[float, ...]
    downbeats_seconds: tuple[float, ...]
    sections: tuple[tuple[float, float, str, float], ...]  # new start, end, label, energy
    parts: tuple[Part, ...]
    original_db: float
    original_drums_db: float
    duck_db: float
    duck_release_seconds: float
    kick_seconds: tuple[float, ...]
    restore: dict
    master: dict
    reasons: tuple[str, ...] = field(default=())
    duration_seconds: float = 0.0
    tonic_pc: int | None = None  # the key's tonic (C = 0): the drums are tuned to it

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    def to_dict(self) -> dict:
        return {
            "style": self.style, "intensity": self.intensity, "seed": self.seed,
            "original_tempo_bpm": round(self.original_tempo_bpm, 3),
            "tempo_bpm": round(self.tempo_bpm, 3), "time_map": self.time_map.to_list(),
            "parts": [p.to_dict() for p in self.parts], "original_db": round(self.original_db, 2),
            "original_drums_db": round(self.original_drums_db, 2),
            "duck_db": round(self.duck_db, 2), "master": self.master, "restore": self.restore,
            "sections": [{"start_seconds": round(a, 3), "end_seconds": round(b, 3),
                          "label": lab, "energy": round(e, 3)} for a, b, lab, e in self.sections],
            "reasons": list(self.reasons),
            "drums_tuned_to": None if self.tonic_pc is None else PITCH_NAMES[self.tonic_pc],
        }

    def to_midi(self):
        """The plan's generated parts as a ``pretty_midi.PrettyMIDI`` (drums on channel 10)."""
        import pretty_midi

        pm = pretty_midi.PrettyMIDI(initial_tempo=float(self.tempo_bpm))
        programs = {"pad": 89, "epiano": 4, "pluck": 25, "lead": 81, "bass": 33, "808": 38,
                    "synth": 38}
        for p in self.parts:
            drum = p.name == "drums"
            inst = pretty_midi.Instrument(program=0 if drum else programs.get(p.instrument, 0),
                                          is_drum=drum, name=p.name)
            for n in p.notes:
                start = max(0.0, float(n.start_seconds))
                end = max(start + 0.01, float(n.end_seconds))
                inst.notes.append(pretty_midi.Note(
                    velocity=int(np.clip(round(n.velocity * 127), 1, 127)),
                    pitch=int(np.clip(round(n.midi_pitch), 0, 127)), start=start, end=end))
            pm.instruments.append(inst)
        return pm


# --------------------------------------------------------------------------- helpers

def parse_chord(label: str) -> tuple[int, str] | None:
    """(root pitch class, quality) of a Harte label; None for N/X."""
    if label in ("N", "X") or ":" not in label and label not in _PITCH_CLASSES:
        return None
    root, _, quality = label.partition(":")
    pc = _PITCH_CLASSES.get(root)
    if pc is None:
        return None
    return pc, (quality or "maj").split("/")[0]


def chord_tones(label: str) -> tuple[int, ...]:
    """Pitch classes of a chord (triad; minor for qualities starting with 'min')."""
    parsed = parse_chord(label)
    if parsed is None:
        return ()
    root, quality = parsed
    third = 3 if quality.startswith("min") or quality.startswith("dim") else 4
    fifth = 6 if quality.startswith("dim") else (8 if quality.startswith("aug") else 7)
    return (root % 12, (root + third) % 12, (root + fifth) % 12)


def chord_at(chords, t: float) -> str:
    """The chord label sounding at time ``t`` (``"N"`` outside every chord)."""
    for start, end, label in chords:
        if start <= t < end:
            return label
    return "N"


def _voicing(tones: tuple[int, ...], centre: int, previous: tuple[int, ...] | None
             ) -> tuple[int, ...]:
    """A close triad voicing near ``centre`` with the least movement from ``previous``."""
    candidates = []
    for inversion in range(3):
        pcs = tones[inversion:] + tones[:inversion]
        for base in range(centre - 12, centre + 1):
            if base % 12 != pcs[0]:
                continue
            notes = [base]
            for pc in pcs[1:]:
                n = notes[-1] + ((pc - notes[-1]) % 12 or 12)
                notes.append(n)
            candidates.append(tuple(notes))
    if previous:
        return min(candidates, key=lambda v: (sum(abs(a - b) for a, b in zip(sorted(v),
                                                                             sorted(previous))),
                                              abs(np.mean(v) - centre)))
    return min(candidates, key=lambda v: abs(np.mean(v) - centre))


def _target_ratio(bpm: float, style) -> tuple[float, str]:
    tempo = style.tempo
    if tempo["policy"] != "range" or bpm <= 0:
        return 1.0, f"tempo kept at {bpm:.1f} BPM"
    lo, hi = tempo["range_bpm"]
    best = None
    for factor in (1.0, 2.0, 0.5):
        felt = bpm * factor
        target = min(max(felt, lo), hi)
        ratio = target / felt
        if best is None or abs(math.log(ratio)) < abs(math.log(best[0])) - 1e-9:
            best = (ratio, factor, target)
    ratio, factor, target = best
    capped = min(max(ratio, 1 / MAX_STRETCH), MAX_STRETCH)
    note = f"tempo {bpm:.1f} → {bpm * capped:.1f} BPM for the style's {lo:.0f}–{hi:.0f} range"
    if factor != 1.0:
        note += f" (felt as {'double' if factor > 1 else 'half'} time)"
    if capped != ratio:
        note += f"; stretch capped at ±{(MAX_STRETCH - 1) * 100:.0f} %"
    return capped, note


# --------------------------------------------------------------------------- the plan

class _Grid:
    """Sixteenth-step times (new seconds) interpolated between the song's mapped beats."""

    def __init__(self, beats: np.ndarray, downbeats: np.ndarray, beats_per_bar: int,
                 swing: float):
        self.beats = beats
        self.swing = swing
        self.bpb = beats_per_bar
        period = float(np.median(np.diff(beats))) if len(beats) > 1 else 0.5
        # extend the beat list one bar past each end so steps near the edges interpolate
        pre = beats[0] - period * np.arange(beats_per_bar, 0, -1)
        post = beats[-1] + period * np.arange(1, beats_per_bar + 1)
        self.ext = np.concatenate([pre, beats, post])
        self.offset = beats_per_bar
        self.bar_starts = [int(np.argmin(np.abs(beats - d))) for d in downbeats]

    def step_time(self, beat_index: float) -> float:
        i = beat_index + self.offset
        return float(np.interp(i, np.arange(len(self.ext)), self.ext))

    def step(self, bar_beat: int, step: int) -> float:
        """Time of sixteenth ``step`` counted from the bar starting at beat ``bar_beat``."""
        pos = bar_beat + step / 4.0
        if step % 2 == 1:  # swing the off-sixteenths
            pos += (self.swing - 0.5) * 2 * 0.25
        return self.step_time(pos)


def plan(analysis, style, *, intensity: float, seed: int) -> Plan:
    """Decide the re-production of ``analysis`` in ``style``.

    Parameters
    ----------
    analysis : Analysis
        Needs rhythm, tonal, form; melody for a lead layer.
    style : Style
    intensity : float in [0, 1]
    seed : int

    Returns
    -------
    Plan
    """
    from .errors import ParameterError
    from .styles import get_style, parse_pattern

    if not (0.0 <= float(intensity) <= 1.0) or isinstance(intensity, bool):
        raise ParameterError(f"intensity={intensity!r} must be between 0 and 1")
    intensity = float(intensity)
    rng = np.random.default_rng(seed)
    rhythm, tonal, form = analysis.rhythm, analysis.tonal, analysis.form
    reasons: list[str] = []
    duration = analysis.duration_seconds

    ratio_full, note = _target_ratio(rhythm.tempo_bpm, style)
    ratio = ratio_full ** intensity
    reasons.append(note + (f"; at intensity {intensity:.2f}: ×{ratio:.3f}"
                           if ratio_full != 1.0 else ""))
    tmap = TimeMap.uniform(ratio, duration, rhythm.beats_seconds)
    beats = np.asarray(tmap.to_new(np.asarray(rhythm.beats_seconds)), float) \
        if len(rhythm.beats_seconds) else np.zeros(0)
    downbeats = np.asarray(tmap.to_new(np.asarray(rhythm.downbeats_seconds)), float) \
        if len(rhythm.downbeats_seconds) else np.zeros(0)
    new_duration = duration / ratio
    sections = tuple((float(tmap.to_new(s.start_seconds)), float(tmap.to_new(s.end_seconds)),
                      s.label, float(s.energy)) for s in (form.sections if form else ()))
    if tonal.chords:
        ends = tmap.to_new(np.array([[a, b] for a, b, _ in tonal.chords], float))
        chords = tuple((float(a), float(b), lab) for (a, b), (_, _, lab) in
                       zip(ends, tonal.chords))
    else:
        chords = ()

    # master target: from the remaster preset toward the style's
    base = get_style("remaster").master if style.name != "remaster" else style.master
    master = _blend_master(base, style.master, intensity)
    mix = style.mix
    parts: list[Part] = []
    kicks: list[float] = []
    layer_db = {"lead": style.lead["gain_db"], **mix.get("layers_db", {})}

    def gain_of(name: str) -> float:
        return layer_db.get(name, -10.0) + 20 * math.log10(max(intensity, 1e-6))

    bpb = beats_per_bar(rhythm.meter)
    if len(beats) >= 2 and len(downbeats) >= 1 and intensity > 0:
        grid = _Grid(beats, downbeats, bpb, style.tempo.get("swing", 0.5))
        bars = _bars(grid, sections, len(beats))
        if style.layers["drums"]:
            drum_notes, kicks = _drums(grid, bars, style, rng, bpb)
            parts.append(Part("drums", style.drums["kit"], drum_notes, gain_of("drums")))
        if style.layers["bass"]:
            parts.append(Part("bass", style.bass["instrument"],
                              _bass(grid, bars, chords, style, rng, bpb), gain_of("bass")))
        if style.layers["chords"]:
            centre = _chord_centre(int(style.chords["centre_midi"]), analysis.melody)
            if centre != int(style.chords["centre_midi"]):
                reasons.append(f"chords voiced around MIDI {centre} instead of "
                               f"{int(style.chords['centre_midi'])}, under the melody")
            parts.append(Part("chords", style.chords["instrument"],
                              _chords(grid, bars, chords, style, rng, bpb, centre),
                              gain_of("chords"), pan=0.0))
    elif intensity > 0 and any(style.layers.values()):
        reasons.append("too few beats found to place new layers; restoring and mastering only")
    if style.layers["lead"] and intensity > 0 and analysis.melody is not None:
        shift = style.lead["octave_shift"]
        kept = [(a, b, p) for a, b, p in analysis.melody.notes if b > a]
        mapped = tmap.to_new(np.array([[a, b] for a, b, _ in kept], float)) if kept else ()
        notes = tuple(Note(float(a), float(b - a), p + shift,
                           min(1.0, max(0.4, 0.75 + 0.05 * float(rng.standard_normal()))))
                      for (a, b), (_, _, p) in zip(mapped, kept))
        parts.append(Part("lead", style.lead["instrument"], notes, gain_of("lead")))
    return Plan(
        style=style.name, intensity=intensity, seed=int(seed),
        original_tempo_bpm=float(rhythm.tempo_bpm), tempo_bpm=float(rhythm.tempo_bpm) * ratio,
        time_map=tmap, beats_seconds=tuple(float(b) for b in beats),
        downbeats_seconds=tuple(float(d) for d in downbeats), sections=sections,
        parts=tuple(parts), original_db=mix["original_db"] * intensity,
        original_drums_db=mix["original_drums_db"] * intensity,
        duck_db=mix["duck_db"] * intensity,
        duck_release_seconds=mix["duck_release_beats"] * 60.0 / max(rhythm.tempo_bpm * ratio, 1),
        kick_seconds=tuple(kicks), restore=dict(style.restore), master=master,
        reasons=tuple(reasons), duration_seconds=new_duration, tonic_pc=_tonic_pc(tonal.key))


def _tonic_pc(key: str) -> int | None:
    """Pitch class of a key's tonic (``"F# minor"`` → 6), or None for no key (``"X"``)."""
    name = key.split()[0] if key else ""
    return PITCH_NAMES.index(name) if name in PITCH_NAMES else None


def _blend_master(base: dict, target: dict, intensity: float) -> dict:
    """The style's master table, interpolated from ``base`` (the remaster preset) by intensity."""
    def mix(a, b):
        return a + (b - a) * intensity

    out = dict(target)
    for key in ("loudness_lufs", "eq_max_db", "glue_db"):
        out[key] = mix(base[key], target[key])
    for key in ("width", "compression_db"):
        out[key] = [mix(a, b) for a, b in zip(base[key], target[key])]
    bc, tc = base.get("curve_db") or {}, target.get("curve_db") or {}
    keys = sorted(set(bc) | set(tc), key=float)
    if keys:
        def at(curve: dict, k: str) -> float:
            if not curve:
                return 0.0
            xs = sorted(curve, key=float)
            return float(np.interp(np.log(float(k)), [np.log(float(x)) for x in xs],
                                   [curve[x] for x in xs]))
        out["curve_db"] = {k: mix(at(bc, k), at(tc, k)) for k in keys}
    out["ceiling_dbtp"] = min(base["ceiling_dbtp"], target["ceiling_dbtp"])
    return out


@dataclass(frozen=True)
class _Bar:
    first_beat: int  # index into the song's beats
    energy: float
    fill: bool  # the bar ends at a section change
    section: str


def _bars(grid: _Grid, sections, n_beats: int) -> list[_Bar]:
    bars = []
    starts = grid.bar_starts
    changes = [s[0] for s in sections[1:]]
    for k, b in enumerate(starts):
        t = grid.beats[b]
        sec = next((s for s in sections if s[0] <= t + 1e-6 < s[1]), None)
        energy = sec[3] if sec else 1.0
        end_beat = starts[k + 1] if k + 1 < len(starts) else min(n_beats, b + grid.bpb)
        end_t = grid.step_time(end_beat)
        fill = any(abs(end_t - c) < 0.6 * (grid.beats[1] - grid.beats[0]) for c in changes)
        bars.append(_Bar(b, energy, fill, sec[2] if sec else "A"))
    return bars


def _steps(pattern_bars: list[list[float]], bar_index: int, steps: int) -> list[float]:
    if not pattern_bars:
        return [0.0] * steps
    bar = pattern_bars[bar_index % len(pattern_bars)]
    return [bar[i % 16] for i in range(steps)]


def _human(rng: np.random.Generator, t: float, velocity: float, timing_ms: float = 6.0,
           spread: float = 0.07) -> tuple[float, float]:
    dt, dv = rng.normal(0.0, 1.0, 2)
    return (t + float(dt) * timing_ms / 1000.0,
            min(1.0, max(0.05, velocity * (1.0 + float(dv) * spread))))


def _drums(grid: _Grid, bars: list[_Bar], style, rng: np.random.Generator, bpb: int
           ) -> tuple[tuple[Note, ...], list[float]]:
    from .styles import parse_pattern

    d = style.drums
    pats = {k: parse_pattern(d[k]) for k in ("kick", "snare", "clap", "hat", "open_hat")}
    steps = bpb * 4
    notes: list[Note] = []
    kicks: list[float] = []
    for i, bar in enumerate(bars):
        if bar.energy < 0.15:
            continue
        quiet = bar.energy < 0.7
        for name, pat in pats.items():
            vel = _steps(pat, i, steps)
            for s, v in enumerate(vel):
                if v <= 0:
                    continue
                if quiet and name == "open_hat":
                    continue
                if quiet and name == "hat" and s % 4 == 2:
                    continue
                if bar.fill and d["fill"] and s >= steps - 4 and name in ("snare", "clap",
                                                                          "hat", "open_hat"):
                    continue  # the fill replaces the last beat
                t, vv = _human(rng, grid.step(bar.first_beat, s), v * (0.8 if quiet else 1.0),
                               timing_ms=3.0 if name == "kick" else 6.0)
                notes.append(Note(t, 0.1, GM_DRUMS[name], vv))
                if name == "kick":
                    kicks.append(t)
            if name == "hat" and d["hat_rolls"] and not quiet and rng.random() < 0.5:
                # a trap hat roll: 32nd or triplet bursts over one beat chosen by the seed
                beat = int(rng.integers(0, bpb))
                div = int(rng.choice([6, 8]))
                for k in range(div):
                    t0 = grid.step_time(bar.first_beat + beat + k / div)
                    notes.append(Note(t0, 0.05, GM_DRUMS["hat"], 0.35 + 0.4 * k / div))
        if bar.fill and d["fill"]:
            kind = int(rng.integers(0, 3))
            toms = ("tom_high", "tom_mid", "tom_low")
            for k in range(4):
                t = grid.step(bar.first_beat, steps - 4 + k)
                if kind == 0:
                    name = "snare"
                elif kind == 1:
                    name = toms[min(k, 2)]
                else:
                    name = "snare" if k % 2 == 0 else toms[k // 2]
                t, vv = _human(rng, t, 0.55 + 0.12 * k)
                notes.append(Note(t, 0.1, GM_DRUMS[name], vv))
    notes.sort(key=lambda n: n.start_seconds)
    return tuple(notes), kicks


def _hit_times(grid: _Grid, bars: list[_Bar], pattern: str, bpb: int):
    from .styles import parse_pattern

    pat = parse_pattern(pattern)
    steps = bpb * 4
    for i, bar in enumerate(bars):
        if bar.energy < 0.15:
            continue
        vel = _steps(pat, i, steps)
        for s, v in enumerate(vel):
            if v > 0:
                yield grid.step(bar.first_beat, s), v, bar


def _split_at_chords(start: float, end: float, chords, starts: list[float]
                     ) -> list[tuple[float, float, str]]:
    """Cut [start, end) at chord boundaries: (a, b, label) pieces; ``starts`` are the chords'
    start times (sorted), for bisection."""
    import bisect

    pieces = []
    for a, b, label in chords[max(0, bisect.bisect_right(starts, start) - 1):]:
        if a >= end:
            break
        lo, hi = max(start, a), min(end, b)
        if hi - lo > 0.03:
            pieces.append((lo, hi, label))
    return pieces


def _bass(grid, bars, chords, style, rng, bpb) -> tuple[Note, ...]:
    starts = [c[0] for c in chords]
    b = style.bass
    hits = list(_hit_times(grid, bars, b["pattern"], bpb))
    notes = []
    base = 12 * (int(b["octave"]) + 1)
    for k, (t, v, bar) in enumerate(hits):
        end = hits[k + 1][0] if k + 1 < len(hits) else t + grid.step_time(1) - grid.step_time(0)
        end = min(end, t + 4 * (grid.step_time(1) - grid.step_time(0)))
        for a, e, label in _split_at_chords(t, end - 0.02, chords, starts):
            tones = chord_tones(label)
            if not tones:
                continue
            pitch = base + tones[0]
            _, vv = _human(rng, a, v * (0.85 if bar.energy < 0.7 else 1.0), timing_ms=0.0)
            notes.append(Note(a, e - a, pitch, vv))
    return tuple(notes)


#: Lowest centre the chord voicing moves down to (C3 ± a fifth: below it a close triad is mud).
_LOWEST_CHORD_CENTRE = 48


def _chord_centre(centre: int, melody) -> int:
    """The style's chord centre, moved down (not below MIDI 48) until the voicing's top note
    (≈ centre + 4) stays 2 semitones under the lower quartile of the melody's pitches
    (duration-weighted): pads and keys that sit in the melody's range mask it."""
    notes = [(b - a, p) for a, b, p in (melody.notes if melody is not None else ()) if b > a]
    if not notes:
        return centre
    dur = np.array([d for d, _ in notes])
    pitch = np.array([p for _, p in notes], float)
    order = np.argsort(pitch, kind="stable")
    cum = np.cumsum(dur[order])
    low = pitch[order][np.searchsorted(cum, 0.25 * cum[-1])]
    return int(max(_LOWEST_CHORD_CENTRE, min(centre, int(low) - 6)))


def _chords(grid, bars, chords, style, rng, bpb, centre: int) -> tuple[Note, ...]:
    starts = [ch[0] for ch in chords]
    c = style.chords
    hits = list(_hit_times(grid, bars, c["pattern"], bpb))
    notes = []
    previous = None
    for k, (t, v, bar) in enumerate(hits):
        end = hits[k + 1][0] if k + 1 < len(hits) else t + 4 * (grid.step_time(1) -
                                                                grid.step_time(0))
        for a, e, label in _split_at_chords(t, end - 0.03, chords, starts):
            tones = chord_tones(label)
            if not tones:
                continue
            voicing = _voicing(tones, centre, previous)
            previous = voicing
            for p in voicing:
                _, vv = _human(rng, a, v * (0.85 if bar.energy < 0.7 else 1.0), timing_ms=0.0,
                               spread=0.05)
                notes.append(Note(a, e - a, p, vv))
    return tuple(notes)
