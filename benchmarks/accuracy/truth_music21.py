"""Ground truth from a music21 score: beats, downbeats, key, per-beat chords, top-part melody.

Conventions
-----------
* Everything is first computed in *quarter lengths* (ql) from the start of the excerpt, then mapped to
  seconds by :func:`to_seconds` with one constant tempo (the benchmark strips the score's own tempo
  marks) and a lead-in. The same note events that give the truth are the ones rendered to MIDI
  (:func:`ScoreTruth.parts`), so truth and audio cannot drift apart (no MIDI tempo maps, pickups or
  ties to get wrong in a second code path).
* Beats are at the notated beat level ``TimeSignature.beatDuration``: quarters in 2/4 3/4 4/4,
  dotted quarters in 6/8 9/8 12/8. Downbeats are bar starts. Pickup bars (anacrusis) are handled by
  a bar *phase*: the first measure, if shorter than its time signature's bar, starts at phase
  ``bar − length``; after that the phase runs on (``(phase + length) mod bar``), which also covers
  bars split in two by a repeat sign. A beat lies at every ``bar_start + k·beat``; a downbeat only
  where a bar really starts.
* Key: the key signature gives two candidates (major and relative minor). Evidence votes between
  them: the first beat chord that is either tonic triad (weight 2), the lowest note at the first
  downbeat (1), music21's Krumhansl–Schmuckler analysis of the excerpt restricted to the two (1).
  The score's own ``key.Key`` (MusicXML ``<mode>``) stands unless the relative gets ≥ 2 votes and
  more than the encoded mode (writers often emit ``<mode>major</mode>`` by default — checked by
  hand on the overruled items: Weber's Concertino opens in C minor, Beethoven op. 18/1's finale
  is in F major, Schumann op. 41/1's scherzo in A minor); without a ``Key`` the votes decide, ties
  by the Krumhansl–Schmuckler mode. ``key_source`` in the truth says which rule decided.
* A single sounding part (monophonic folk tunes) gets no chord truth: one ``X`` segment.
* Chords: the score is cut into vertical slices the way ``Stream.chordify()`` does (a new slice
  wherever any note starts or ends), computed from the rendered note events; each beat gets one
  label from the pitch classes that sound for at least a third of the beat (plus the bass note at
  the beat), root by music21's ``Chord.root()``. Reduction: triads and seventh/added-tone chords →
  ``root:maj`` / ``root:min`` (a 7th reduces to its triad); diminished → ``root:dim``, augmented →
  ``root:aug``, suspended → ``root:sus4``/``root:sus2`` (mir_eval's ``majmin`` excludes those
  reference frames, ``root`` still scores them); unclear (one or two pitch classes, clusters with
  both thirds, no third and no fifth) → ``X`` (mir_eval excludes ``X`` from every chord metric);
  silence → ``N``. Consecutive equal labels are merged.
* Melody: the top part's (``score.parts[0]``) skyline: at every instant its highest sounding pitch;
  a note is a maximal stretch during which one and the same score note is on top.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

__all__ = ["ScoreTruth", "extract_truth", "to_seconds", "chord_label", "skyline",
           "PITCH_NAMES"]

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _q(x) -> Fraction:
    """Exact quarter-length arithmetic (music21 uses Fractions for tuplets)."""
    return Fraction(x).limit_denominator(10080)


@dataclass
class ScoreTruth:
    """Truth of one excerpt in quarter lengths from the excerpt start."""

    meter: str
    beat_ql: float
    bar_ql: float
    beats_ql: list[float]
    downbeats_ql: list[float]
    end_ql: float
    key: str
    key_source: str
    chords_ql: list[tuple[float, float, str]]
    melody_ql: list[tuple[float, float, int]]
    parts: list[list[tuple[float, float, int]]] = field(repr=False)  # per part (start, end, midi)
    part_names: list[str] = field(default_factory=list)
    key_analysis: str = ""  # music21's own key analysis of the excerpt (a cross-check only)


def _pitch_events(part, q0: Fraction, q1: Fraction) -> list[tuple[Fraction, Fraction, int]]:
    """(start, end, midi) of every sounding pitch of ``part`` inside [q0, q1), relative to q0,
    ties merged, grace notes dropped, notes crossing q1 cut there.

    Only the measures overlapping the excerpt are visited (``stripTies`` on a whole movement costs
    minutes); ties are merged here by pitch, following each note's ``tie`` type.
    """
    from music21 import stream

    raw = []
    for m in part.getElementsByClass(stream.Measure):
        m_off = _q(m.getOffsetBySite(part))
        if m_off >= q1:
            break
        if m_off + _q(m.duration.quarterLength or 0) <= q0 and m.duration.quarterLength:
            continue
        for n in m.recurse().notes:
            if n.duration.isGrace or n.quarterLength == 0:
                continue
            s = m_off + _q(n.getOffsetInHierarchy(m))
            e = s + _q(n.quarterLength)
            if n.isChord:
                for sub in n.notes:
                    tie = sub.tie if sub.tie is not None else n.tie
                    raw.append((s, e, int(round(sub.pitch.ps)), tie.type if tie else None))
            else:
                raw.append((s, e, int(round(n.pitch.ps)), n.tie.type if n.tie else None))
    raw.sort(key=lambda r: (r[0], r[2]))
    events: list[list] = []
    open_ties: dict[int, int] = {}
    for s, e, midi, tie in raw:
        idx = open_ties.get(midi)
        if tie in ("stop", "continue") and idx is not None and events[idx][1] == s:
            events[idx][1] = e
            if tie == "stop":
                del open_ties[midi]
            continue
        events.append([s, e, midi])
        if tie in ("start", "continue"):
            open_ties[midi] = len(events) - 1
        else:
            open_ties.pop(midi, None)
    merged: dict[tuple[Fraction, int], Fraction] = {}
    for s, e, midi in events:
        if e <= q0 or s >= q1:
            continue
        s, e = max(s, q0) - q0, min(e, q1) - q0
        # an identical (start, pitch) twice (unison doublings inside a part) is one event
        merged[(s, midi)] = max(e, merged.get((s, midi), e))
    return sorted((s, e, m) for (s, m), e in merged.items())


def _measure_grid(part, first: int, last: int):
    """Yield (start_ql, length_ql, phase_ql, TimeSignature) for measures ``first..last`` (indices
    into the part's measures). Phase = metrical position (ql from the bar's downbeat) at which the
    measure starts."""
    from music21 import meter, stream

    measures = list(part.getElementsByClass(stream.Measure))
    ts = None
    phase = Fraction(0)
    out = []
    for i, m in enumerate(measures[: last + 1]):
        if m.timeSignature is not None:
            ts = m.timeSignature
            phase = Fraction(0)
        if ts is None:
            ctx = m.getContextByClass(meter.TimeSignature)
            ts = ctx if ctx is not None else meter.TimeSignature("4/4")
        bar = _q(ts.barDuration.quarterLength)
        length = _q(m.duration.quarterLength) if m.duration.quarterLength else bar
        if i == 0:
            pad = _q(m.paddingLeft or 0)
            if pad == 0 and length < bar:
                pad = bar - length
            phase = pad % bar
        if i >= first:
            out.append((_q(m.getOffsetBySite(part)), length, phase, ts))
        phase = (phase + length) % bar
    return out


def chord_label(midis: list[int], weights: list[float] | None = None, bass: int | None = None,
                ) -> str:
    """Harte label (see module notes) of a set of sounding MIDI pitches."""
    from music21 import chord

    pcs = sorted({m % 12 for m in midis})
    if not pcs:
        return "N"
    if len(pcs) < 3:
        return "X"
    lowest: dict[int, int] = {}
    for m in sorted(set(midis)):
        lowest.setdefault(m % 12, m)
    # one pitch per pitch class: music21's enharmonic spelling search (needed for its stacked-third
    # root finding) is exponential in the number of pitches
    c = chord.Chord(sorted(lowest.values()))
    r = c.root().pitchClass
    iv = {(p - r) % 12 for p in pcs}
    name = PITCH_NAMES[r]
    has3, has4, has5 = 3 in iv, 4 in iv, 7 in iv
    if has4 and not has3:
        if has5:
            return f"{name}:maj"
        if 8 in iv:
            return f"{name}:aug"
        return "X" if 6 in iv else f"{name}:maj"
    if has3 and not has4:
        if has5:
            return f"{name}:min"
        if 6 in iv:
            return f"{name}:dim"
        return f"{name}:min"
    if not has3 and not has4:
        # suspended chords are symmetric (Csus4 = Fsus2): name them from the bass when it fits
        b = min(midis) % 12
        ivb = {(p - b) % 12 for p in pcs}
        for root, ivs in ((b, ivb), (r, iv)):
            if 7 in ivs and 5 in ivs and 2 not in ivs:
                return f"{PITCH_NAMES[root]}:sus4"
            if 7 in ivs and 2 in ivs and 5 not in ivs:
                return f"{PITCH_NAMES[root]}:sus2"
    return "X"


def _slices(events, q_end):
    """Vertical slices (start, end, [midi...]) like ``chordify``: a new slice at every start/end."""
    cuts = sorted({Fraction(0), q_end} | {s for s, _, _ in events} | {e for _, e, _ in events})
    starts = np.array([float(s) for s, _, _ in events])
    ends = np.array([float(e) for _, e, _ in events])
    midis = np.array([m for _, _, m in events], dtype=int)
    out = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        sel = (starts < float(b)) & (ends > float(a)) if len(events) else np.zeros(0, bool)
        out.append((a, b, midis[sel].tolist()))
    return out


def _beat_chords(all_events, beats, q_end):
    """One label per beat interval, merged into segments; X (or N if silent) before the first
    beat."""
    slices = _slices(all_events, q_end)
    slice_starts = [s for s, _, _ in slices]
    bounds = list(beats) + [q_end]
    labels = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        if b <= a:
            continue
        pc_dur: dict[int, Fraction] = {}
        pitches: set[int] = set()
        at_start: list[int] = []
        i = max(0, bisect.bisect_right(slice_starts, a) - 1)
        while i < len(slices) and slices[i][0] < b:
            s, e, ms = slices[i]
            ov = min(b, e) - max(a, s)
            if ov > 0:
                for m in ms:
                    pc_dur[m % 12] = pc_dur.get(m % 12, 0) + ov
                    pitches.add(m)
                if s <= a < e:
                    at_start = ms
            i += 1
        keep = [m for m in pitches if pc_dur[m % 12] * 3 >= (b - a)]
        if at_start:
            keep.append(min(at_start))
        labels.append((a, b, chord_label(keep)))
    merged: list[list] = []
    for a, b, lab in labels:
        if merged and merged[-1][2] == lab and merged[-1][1] == a:
            merged[-1][1] = b
        else:
            merged.append([a, b, lab])
    if merged and merged[0][0] > 0:
        sounding = any(s < merged[0][0] for s, _, _ in all_events)
        merged.insert(0, [Fraction(0), merged[0][0], "X" if sounding else "N"])
    return [(a, b, lab) for a, b, lab in merged]


def skyline(events) -> list[tuple]:
    """Highest-pitch line of (start, end, midi) events: (start, end, midi) notes, one per stretch in
    which a single event is on top."""
    if not events:
        return []
    cuts = sorted({s for s, _, _ in events} | {e for _, e, _ in events})
    starts = np.array([float(s) for s, _, _ in events])
    ends = np.array([float(e) for _, e, _ in events])
    midis = np.array([m for _, _, m in events], dtype=float)
    out: list[list] = []
    for a, b in zip(cuts[:-1], cuts[1:]):
        on = (starts <= float(a)) & (ends >= float(b))
        if not on.any():
            continue
        # highest pitch; among equal pitches the earliest event (stable argmax)
        top = int(np.argmax(np.where(on, midis, -np.inf)))
        if out and out[-1][3] == top and out[-1][1] == a:
            out[-1][1] = b
        else:
            out.append([a, b, events[top][2], top])
    return [(a, b, m) for a, b, m, _ in out]


def _key_from_score(score, part_events, beats, downbeats, excerpt_events, chords):
    from music21 import key as m21key

    ks = None
    for k in score.parts[0].recurse().getElementsByClass(m21key.KeySignature):
        ks = k
        break
    if ks is None:
        ks = m21key.KeySignature(0)
    cand = {"major": ks.asKey("major").tonic.pitchClass, "minor": ks.asKey("minor").tonic.pitchClass}
    all_events = [ev for evs in part_events for ev in evs]
    # evidence for "major" vs "minor" (the two keys of the signature):
    #   the first chord that is a tonic triad of either (weight 2), the lowest note at the first
    #   downbeat (1), music21's Krumhansl-Schmuckler analysis restricted to the two (1)
    votes = {"major": 0, "minor": 0}
    for _, _, lab in chords:
        if lab in (f"{PITCH_NAMES[cand['major']]}:maj", f"{PITCH_NAMES[cand['minor']]}:min"):
            votes["major" if lab.endswith("maj") else "minor"] += 2
            break
    t0 = downbeats[0] if downbeats else (beats[0] if beats else Fraction(0))
    at = [m for s, e, m in all_events if s <= t0 < e]
    first_bass = min(at) % 12 if at else None
    for mode, pc in cand.items():
        if first_bass == pc:
            votes[mode] += 1
    ks_mode = None
    try:
        an = excerpt_events.analyze("key")
        best = None
        for k in [an] + list(an.alternateInterpretations):
            if k.mode in cand and k.tonic.pitchClass == cand[k.mode]:
                if best is None or k.correlationCoefficient > best.correlationCoefficient:
                    best = k
        if best is not None:
            ks_mode = best.mode
            votes[ks_mode] += 1
    except Exception:  # noqa: BLE001 - no notes, no analysis
        pass
    if isinstance(ks, m21key.Key) and ks.mode in cand:
        mode, other = ks.mode, ("minor" if ks.mode == "major" else "major")
        # MusicXML writers often emit <mode>major</mode> by default: the encoded mode stands
        # unless the evidence clearly names the relative key
        if votes[other] >= 2 and votes[other] > votes[mode]:
            return _key_name(cand[other], other), \
                f"score Key object overruled by evidence (votes {votes})"
        return _key_name(ks.tonic.pitchClass, mode), "score Key object"
    if votes["major"] != votes["minor"]:
        mode = max(votes, key=votes.get)
        return _key_name(cand[mode], mode), f"key signature + evidence (votes {votes})"
    mode = ks_mode or "major"
    return _key_name(cand[mode], mode), "key signature + music21 Krumhansl-Schmuckler mode"


def _key_name(pc: int, mode: str) -> str:
    return f"{PITCH_NAMES[pc]} {mode}"


def beat_grid(grid) -> tuple[Fraction, Fraction, Fraction, Fraction, list, list]:
    """Notated beats and downbeats of a one-time-signature measure grid (``_measure_grid``):
    ``(beat, bar, q0, q1, beats, downbeats)`` in quarter lengths, times relative to the grid's
    start ``q0`` (a pickup's beats counted from its bar phase)."""
    ts = grid[0][3]
    beat = _q(ts.beatDuration.quarterLength)
    bar = _q(ts.barDuration.quarterLength)
    q0 = grid[0][0]
    q1 = grid[-1][0] + grid[-1][1]
    beats, downbeats = [], []
    for start, length, phase, _ in grid:
        bar_start = start - phase
        k = math.ceil((start - bar_start) / beat)
        while bar_start + k * beat < start + length:
            pos = bar_start + k * beat
            beats.append(pos - q0)
            if k % round(bar / beat) == 0:
                downbeats.append(pos - q0)
            k += 1
    return beat, bar, q0, q1, beats, downbeats


def extract_truth(score, *, first_measure: int = 0, n_measures: int | None = None) -> ScoreTruth:
    """Truth of ``n_measures`` measures of ``score`` from measure index ``first_measure``.

    ``score`` should be in sounding pitch (``score.toSoundingPitch()``). Measure indices count the
    top part's ``Measure`` objects (a pickup is index 0). The excerpt must keep one time signature.
    """
    from music21 import stream

    part0 = score.parts[0]
    n_all = len(part0.getElementsByClass(stream.Measure))
    last = n_all - 1 if n_measures is None else min(n_all - 1, first_measure + n_measures - 1)
    grid = _measure_grid(part0, first_measure, last)
    if not grid:
        raise ValueError(f"no measures in [{first_measure}, {last}]")
    tss = {g[3].ratioString for g in grid}
    if len(tss) != 1:
        raise ValueError(f"excerpt changes time signature: {sorted(tss)}")
    ts = grid[0][3]
    beat, bar, q0, q1, beats, downbeats = beat_grid(grid)
    parts = [_pitch_events(p, q0, q1) for p in score.parts]
    all_events = sorted(ev for evs in parts for ev in evs)
    end = q1 - q0
    if sum(1 for evs in parts if evs) > 1:
        chords = _beat_chords(all_events, beats, end)
    else:  # a single line states no harmony: no chord truth (X is ignored by mir_eval)
        chords = [(Fraction(0), end, "X")]
    melody = skyline(parts[0])
    excerpt = stream.Stream()
    from music21 import note as m21note
    for s, e, m in all_events:
        n = m21note.Note(m, quarterLength=float(e - s))
        excerpt.insert(float(s), n)
    key_name, key_source = _key_from_score(score, parts, beats, downbeats, excerpt, chords)
    try:
        an = excerpt.analyze("key")
        key_analysis = _key_name(an.tonic.pitchClass, an.mode)
    except Exception:  # noqa: BLE001 - an empty excerpt has no key
        key_analysis = ""
    return ScoreTruth(
        meter=ts.ratioString, beat_ql=float(beat), bar_ql=float(bar),
        beats_ql=[float(b) for b in beats], downbeats_ql=[float(d) for d in downbeats],
        end_ql=float(end), key=key_name, key_source=key_source,
        chords_ql=[(float(a), float(b), lab) for a, b, lab in chords],
        melody_ql=[(float(a), float(b), int(m)) for a, b, m in melody],
        parts=[[(float(s), float(e), int(m)) for s, e, m in evs] for evs in parts],
        part_names=[str(p.partName or f"part{i}") for i, p in enumerate(score.parts)],
        key_analysis=key_analysis,
    )


def to_seconds(truth: ScoreTruth, *, tempo_bpm: float, lead_in_seconds: float,
               tail_seconds: float) -> dict:
    """Truth JSON (interfaces.md layout) at ``tempo_bpm`` notated beats per minute."""
    sec_per_ql = 60.0 / tempo_bpm / truth.beat_ql

    def t(x: float) -> float:
        return round(lead_in_seconds + x * sec_per_ql, 6)

    duration = round(t(truth.end_ql) + tail_seconds, 6)
    chords = [[t(a), t(b), lab] for a, b, lab in truth.chords_ql]
    if chords and chords[0][0] > 0:
        chords.insert(0, [0.0, chords[0][0], "N"])
    if chords:
        chords.append([chords[-1][1], duration, "N"])
    return {
        "tempo_bpm": float(tempo_bpm),
        "meter": truth.meter,
        "beats": [t(b) for b in truth.beats_ql],
        "downbeats": [t(d) for d in truth.downbeats_ql],
        "key": truth.key,
        "key_source": truth.key_source,
        "key_music21_analysis": truth.key_analysis,
        "section_keys": [[0.0, duration, truth.key]],
        "chords": chords,
        "melody": [[t(a), t(b), m] for a, b, m in truth.melody_ql],
        "duration_seconds": duration,
    }
