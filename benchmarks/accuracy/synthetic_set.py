"""The ``synthetic`` accuracy set: songs generated with ``reissue.instruments``, truth exact.

Conventions
-----------
* Every item is fixed by its :class:`Spec` (meter, tempo at start and end, keys, progression,
  drums, melody, seed); the same spec always gives the same samples and truth.
* Time runs on a *beat map*: beat ``b`` (notated beat: quarter in 4/4 and 3/4, dotted quarter in
  6/8) sits at ``beat_seconds[b]``; with a tempo ramp the tempo moves linearly per beat from
  ``bpm_start`` to ``bpm_end``. Note positions inside a beat are interpolated linearly, so every
  onset, beat, chord change and melody note of the truth is exactly where it is rendered.
* ``tempo_bpm`` of a ramp is the median of ``60 / diff(beats)`` (the middle of the ramp);
  ``tempo_curve`` gives the (time, bpm) per beat. Modulating items carry ``section_keys`` and their
  global ``key`` is the longer section's key.
* Music starts 0.5 s in (``LEAD_IN_SECONDS``); 1.5 s of tail.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reissue import instruments as ins
from reissue.instruments import Note

SAMPLE_RATE = 44100
LEAD_IN_SECONDS = 0.5
TAIL_SECONDS = 1.5
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
_PC = {n: i for i, n in enumerate(PITCH_NAMES)}
_PC.update({"Db": 1, "D#": 3, "Gb": 6, "G#": 8, "A#": 10})

# degree name -> (semitones above the tonic, quality)
_DEGREES = {
    "I": (0, "maj"), "ii": (2, "min"), "iii": (4, "min"), "IV": (5, "maj"), "V": (7, "maj"),
    "vi": (9, "min"), "i": (0, "min"), "III": (3, "maj"), "iv": (5, "min"), "VI": (8, "maj"),
    "VII": (10, "maj"), "bVII": (10, "maj"),
}
_MAJOR_SCALE = (0, 2, 4, 5, 7, 9, 11)
_MINOR_SCALE = (0, 2, 3, 5, 7, 8, 11)  # harmonic minor: the V chord's leading tone


@dataclass(frozen=True)
class Spec:
    """One synthetic song. ``sections`` = ((key, progression, bars), ...): the progression's
    degrees (one per chord slot; ``chords_per_bar`` slots a bar) repeat over the section's bars."""

    id: str
    meter: str
    bpm_start: float
    bpm_end: float
    sections: tuple[tuple[str, tuple[str, ...], int], ...]
    drums: bool = False
    melody: bool = True
    chords_per_bar: int = 1
    lead: str = "lead"  # "lead" | "pluck"
    comp: str = "epiano"  # "epiano" | "pad" | "pluck"
    vintage: bool = False
    seed: int = 0


SPECS: tuple[Spec, ...] = (
    Spec("s01-4-4-060-C", "4/4", 60, 60, (("C major", ("I", "vi", "IV", "V"), 8),), seed=1),
    Spec("s02-4-4-084-G", "4/4", 84, 84, (("G major", ("I", "IV", "V", "I"), 12),), drums=True,
         seed=2),
    Spec("s03-4-4-100-Am", "4/4", 100, 100, (("A minor", ("i", "iv", "V", "i"), 12),), drums=True,
         seed=3),
    Spec("s04-4-4-120-F", "4/4", 120, 120, (("F major", ("ii", "V", "I", "vi"), 16),),
         chords_per_bar=2, comp="pad", seed=4),
    Spec("s05-4-4-140-D", "4/4", 140, 140, (("D major", ("I", "V", "vi", "IV"), 16),), drums=True,
         lead="pluck", seed=5),
    Spec("s06-4-4-176-Bb", "4/4", 176, 176, (("Bb major", ("I", "IV", "ii", "V"), 24),),
         drums=True, seed=6),
    Spec("s07-3-4-072-Eb", "3/4", 72, 72, (("Eb major", ("I", "IV", "V", "I"), 12),), seed=7),
    Spec("s08-3-4-096-Em", "3/4", 96, 96, (("E minor", ("i", "VI", "iv", "V"), 16),), drums=True,
         seed=8),
    Spec("s09-3-4-150-Dm", "3/4", 150, 150, (("D minor", ("i", "iv", "VII", "III", "VI", "iv",
                                                          "V", "i"), 24),), comp="pluck", seed=9),
    Spec("s10-6-8-060-G", "6/8", 60, 60, (("G major", ("I", "vi", "ii", "V"), 16),), seed=10),
    Spec("s11-6-8-080-Bm", "6/8", 80, 80, (("B minor", ("i", "iv", "V", "i"), 16),), drums=True,
         seed=11),
    Spec("s12-6-8-104-F", "6/8", 104, 104, (("F major", ("I", "IV", "I", "V"), 24),),
         comp="pluck", seed=12),
    Spec("s13-4-4-ramp-100-115-C#m", "4/4", 100, 115, (("C# minor", ("i", "VI", "III", "V"),
                                                         16),), drums=True, seed=13),
    Spec("s14-4-4-ramp-128-110-E", "4/4", 128, 110, (("E major", ("I", "iii", "IV", "V"), 16),),
         seed=14),
    Spec("s15-3-4-ramp-90-102-A", "3/4", 90, 102, (("A major", ("I", "ii", "V", "I"), 16),),
         seed=15),
    Spec("s16-6-8-ramp-70-80-Cm", "6/8", 70, 80, (("C minor", ("i", "iv", "i", "V"), 16),),
         drums=True, seed=16),
    Spec("s17-4-4-110-mod-C-Em", "4/4", 110, 110, (("C major", ("I", "IV", "V", "I", "vi", "ii",
                                                                "V", "I"), 10),
                                                   ("E minor", ("i", "iv", "V", "i"), 8)),
         drums=True, seed=17),
    Spec("s18-6-8-088-mod-D-Bm", "6/8", 88, 88, (("D major", ("I", "IV", "V", "I"), 12),
                                                 ("B minor", ("i", "iv", "V", "i"), 8)), seed=18),
    Spec("s19-4-4-130-F#m-nomel", "4/4", 130, 130, (("F# minor", ("i", "VI", "VII", "i"), 16),),
         drums=True, melody=False, vintage=True, seed=19),
    Spec("s20-4-4-076-Ab-vintage", "4/4", 76, 76, (("Ab major", ("I", "vi", "ii", "V"), 10),),
         vintage=True, seed=20),
)


def _meter(meter: str) -> tuple[int, int]:
    """(beats per bar, subdivisions per beat)."""
    return {"4/4": (4, 2), "3/4": (3, 2), "2/4": (2, 2), "6/8": (2, 3), "9/8": (3, 3),
            "12/8": (4, 3)}[meter]


def _parse_key(key: str) -> tuple[int, str]:
    tonic, mode = key.split()
    return _PC[tonic], mode


class _BeatMap:
    def __init__(self, n_beats: int, bpm_start: float, bpm_end: float):
        t = [LEAD_IN_SECONDS]
        for b in range(n_beats):
            frac = (b + 0.5) / n_beats
            bpm = bpm_start + (bpm_end - bpm_start) * frac
            t.append(t[-1] + 60.0 / bpm)
        self.t = np.array(t)

    def __call__(self, beat: float) -> float:
        b = int(np.clip(np.floor(beat), 0, len(self.t) - 2))
        return float(self.t[b] + (beat - b) * (self.t[b + 1] - self.t[b]))


def _chord_slots(spec: Spec):
    """(start_beat, end_beat, tonic_pc, mode, root_pc, quality, key_name) per chord slot."""
    bpb, _ = _meter(spec.meter)
    slot_beats = bpb / spec.chords_per_bar
    slots, bar0 = [], 0
    for key, prog, bars in spec.sections:
        tonic, mode = _parse_key(key)
        for i in range(bars * spec.chords_per_bar):
            off, qual = _DEGREES[prog[i % len(prog)]]
            start = bar0 * bpb + i * slot_beats
            slots.append((start, start + slot_beats, tonic, mode, (tonic + off) % 12, qual, key))
        bar0 += bars
    return slots


def _nearest(pc: int, lo: int, hi: int, target: float) -> int:
    cands = [m for m in range(lo, hi + 1) if m % 12 == pc]
    return min(cands, key=lambda m: abs(m - target))


def _compose(spec: Spec):
    """Note lists per voice, in beats (start_beat, dur_beats, midi, velocity)."""
    rng = np.random.default_rng(spec.seed)
    bpb, sub = _meter(spec.meter)
    slots = _chord_slots(spec)
    comp, bass, mel, kick, snare, hat = [], [], [], [], [], []
    prev_top = 76.0
    for s0, s1, tonic, mode, root, qual, _ in slots:
        third = 4 if qual == "maj" else 3
        tones = [root, (root + third) % 12, (root + 7) % 12]
        voicing = sorted(_nearest(pc, 53, 67, 60) for pc in tones)
        span = s1 - s0
        # accompaniment
        if spec.meter in ("6/8", "9/8", "12/8"):
            for b in np.arange(s0, s1, 1.0):
                bass.append((b, 1.0 * 0.9, _nearest(root, 36, 47, 41), 0.85))
                for k in range(sub):
                    arp = [voicing[0], voicing[1], voicing[2]][k % 3] if k else voicing[0]
                    if spec.comp == "pluck" or k:
                        comp.append((b + k / sub, 1.0 / sub * 0.95, arp, 0.6 if k == 0 else 0.45))
                    else:
                        for m in voicing:
                            comp.append((b, 1.0 * 0.95, m, 0.55))
        elif spec.meter == "3/4":
            for b in np.arange(s0, s1, 1.0):
                pos = (b % bpb)
                if pos == 0:
                    bass.append((b, 0.95, _nearest(root, 36, 47, 41), 0.9))
                else:
                    for m in voicing:
                        comp.append((b, 0.8, m, 0.5))
        else:
            step = 1.0 if spec.comp == "pluck" else 2.0 if span >= 2 else span
            for b in np.arange(s0, s1, step):
                for m in voicing:
                    comp.append((b, step - 0.06, m, 0.6 if (b % bpb) == 0 else 0.5))
            for b in np.arange(s0, s1, 1.0):
                pos = b % bpb
                iv = 7 if pos == 2 else 0
                bass.append((b, 0.9, _nearest((root + iv) % 12, 36, 50, 42), 0.9 if pos == 0
                             else 0.75))
        # melody: chord tones on beats, scale steps on subdivisions, a rest at phrase ends
        if spec.melody:
            scale = [(tonic + d) % 12 for d in (_MAJOR_SCALE if mode == "major" else _MINOR_SCALE)]
            bar_idx = int(s0 // bpb)
            for b in np.arange(s0, s1, 1.0):
                if bar_idx % 4 == 3 and (b % bpb) >= bpb - 1:
                    continue  # breath at the end of each four-bar phrase
                patterns = ([[0.0], [0.0, 0.5], [0.0, 0.5]] if sub == 2
                            else [[0.0], [0.0, 2 / 3], [0.0, 1 / 3, 2 / 3]])
                onsets = patterns[int(rng.choice(3))]
                for j, o in enumerate(onsets):
                    end = onsets[j + 1] if j + 1 < len(onsets) else 1.0
                    if o == 0.0:
                        pitch = _nearest(int(rng.choice(tones)), 65, 84, prev_top
                                         + rng.normal(0, 3))
                    else:
                        cands = [m for m in range(int(prev_top) - 4, int(prev_top) + 5)
                                 if m % 12 in scale and m != prev_top and 64 <= m <= 86]
                        pitch = int(rng.choice(cands)) if cands else int(prev_top)
                    prev_top = float(pitch)
                    mel.append((b + o, (end - o) - 0.06, int(pitch), 0.85 if o == 0 else 0.7))
    n_beats = int(round(slots[-1][1]))
    if spec.drums:
        for b in range(n_beats):
            pos = b % bpb
            if spec.meter == "4/4" or spec.meter == "12/8":
                (kick if pos in (0, 2) else snare).append((b, 0.2, 0, 0.9 if pos == 0 else 0.75))
            elif spec.meter in ("3/4", "9/8"):
                (kick if pos == 0 else snare).append((b, 0.2, 0, 0.9 if pos == 0 else 0.45))
            else:  # 6/8, 2/4
                (kick if pos == 0 else snare).append((b, 0.2, 0, 0.9 if pos == 0 else 0.7))
            for k in range(sub):
                hat.append((b + k / sub, 0.05, 0, 0.5 if k == 0 else 0.3))
    return {"comp": comp, "bass": bass, "lead": mel, "kick": kick, "snare": snare,
            "hat": hat}, slots, n_beats


def build_item(spec: Spec) -> tuple[np.ndarray, dict]:
    """Render ``spec``: returns (stereo float32 (2, n) at 44.1 kHz, truth dict)."""
    voices_beats, slots, n_beats = _compose(spec)
    bmap = _BeatMap(n_beats, spec.bpm_start, spec.bpm_end)
    bpb, _ = _meter(spec.meter)

    def notes(name: str) -> list[Note]:
        out = []
        for b, d, m, v in voices_beats[name]:
            t0 = bmap(b)
            out.append(Note(t0, bmap(b + d) - t0, float(m), float(v)))
        return out

    end_music = float(bmap.t[-1])
    duration = end_music + TAIL_SECONDS
    frames = int(round(duration * SAMPLE_RATE))
    rng = np.random.default_rng([spec.seed, 99])
    comp_inst = {"epiano": ins.EPiano(), "pad": ins.Pad(), "pluck": ins.Pluck()}[spec.comp]
    lead_inst = {"lead": ins.Lead(), "pluck": ins.Pluck()}[spec.lead]
    voices = {
        "lead": (lead_inst, 1.0 if spec.lead == "lead" else 1.4, 0.1),
        "comp": (comp_inst, 0.5 if spec.comp != "pad" else 0.9, -0.3),
        "bass": (ins.Bass(), 0.7, 0.0),
        "kick": (ins.Kick(f0=120.0, f1=52.0, tau_seconds=0.025, decay_seconds=0.18), 0.6, 0.0),
        "snare": (ins.Snare(tone=0.4, noise_decay_seconds=0.12), 0.4, 0.15),
        "hat": (ins.HiHat(decay_seconds=0.04), 0.3, 0.35),
    }
    mix = np.zeros((2, frames), np.float32)
    for name, (inst, gain, pan) in voices.items():
        nl = notes(name)
        if not nl:
            continue
        mono = ins.render(nl, inst, SAMPLE_RATE, frames, rng) * np.float32(gain)
        mix[0] += np.float32(np.cos((pan + 1) * np.pi / 4) * np.sqrt(2)) * mono
        mix[1] += np.float32(np.sin((pan + 1) * np.pi / 4) * np.sqrt(2)) * mono
    if spec.vintage:
        from reissue.demo import _record_noise, _vintage

        mix = _vintage(mix, SAMPLE_RATE)
        mix = mix * np.float32(0.5 / max(float(np.abs(mix).max()), 1e-9))
        mix = mix + _record_noise(mix.shape, SAMPLE_RATE, np.random.default_rng([spec.seed, 1]))
    mix *= np.float32(10 ** (-1 / 20) / max(float(np.abs(mix).max()), 1e-9))

    beats = [round(float(x), 6) for x in bmap.t[:n_beats]]
    downbeats = beats[::bpb]
    ibi = np.diff(bmap.t)
    tempo = float(np.median(60.0 / ibi))
    chords = [[0.0, round(bmap(slots[0][0]), 6), "N"]]
    for s0, s1, _, _, root, qual, _ in slots:
        lab = f"{PITCH_NAMES[root]}:{qual}"
        a, b = round(bmap(s0), 6), round(bmap(s1), 6)
        if chords[-1][2] == lab and chords[-1][1] == a:
            chords[-1][1] = b
        else:
            chords.append([a, b, lab])
    chords.append([chords[-1][1], round(duration, 6), "N"])
    section_keys, bar0 = [], 0
    for key, _, bars in spec.sections:
        a = round(bmap(bar0 * bpb), 6)
        b = round(bmap((bar0 + bars) * bpb), 6)
        section_keys.append([a, b, key])
        bar0 += bars
    section_keys[0][0] = 0.0
    section_keys[-1][1] = round(duration, 6)
    longest = max(section_keys, key=lambda s: s[1] - s[0])[2]
    melody = [[round(n.start_seconds, 6), round(n.end_seconds, 6), int(n.midi_pitch)]
              for n in notes("lead")]
    tags = [f"meter:{spec.meter}"]
    if spec.drums:
        tags.append("drums")
    if spec.bpm_start != spec.bpm_end:
        tags.append("ramp")
    if len(spec.sections) > 1:
        tags.append("modulation")
    if spec.vintage:
        tags.append("vintage")
    if not spec.melody:
        tags.append("no-melody")
    truth = {
        "tempo_bpm": round(tempo, 4),
        "meter": spec.meter,
        "beats": beats,
        "downbeats": downbeats,
        "key": longest,
        "section_keys": section_keys,
        "chords": chords,
        "melody": melody,
        "duration_seconds": round(duration, 6),
        "tempo_curve": [[round(float(t), 6), round(60.0 / float(d), 4)]
                        for t, d in zip(bmap.t[:-1], ibi)],
        "tags": tags,
        "source": f"synthetic spec {spec}",
    }
    return mix, truth
