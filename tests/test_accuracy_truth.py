"""Truth extraction of the accuracy benchmark (benchmarks/accuracy/truth_music21.py) on tiny scores
built in code: beats/downbeats with pickups, chord labels, top-part melody, key. No FluidSynth."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

music21 = pytest.importorskip("music21")
from music21 import chord, key, meter, note, stream, tie  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks" / "accuracy"))
from truth_music21 import chord_label, extract_truth, skyline, to_seconds  # noqa: E402

TOL = 1e-6  # seconds; the truth is exact arithmetic


def _measure(number, items, ts=None, k=None, pad=0.0):
    m = stream.Measure(number=number)
    if ts:
        m.timeSignature = meter.TimeSignature(ts)
    if k is not None:
        m.keySignature = k
    for it in items:
        m.append(it)
    m.paddingLeft = pad
    return m


def _n(p, ql, t=None):
    x = note.Note(p, quarterLength=ql)
    if t:
        x.tie = tie.Tie(t)
    return x


def _score_6_8():
    """6/8 with an eighth-note pickup: soprano (with a double stop and a tie) over a bass."""
    sop = stream.Part()
    sop.append(_measure(0, [_n("G4", 0.5)], ts="6/8", k=key.Key("C"), pad=2.5))
    # bar 1: E5 dotted quarter, then the double stop (C5+G5) dotted quarter
    sop.append(_measure(1, [_n("E5", 1.5), chord.Chord(["C5", "G5"], quarterLength=1.5)]))
    # bar 2: D5 tied into bar 3
    sop.append(_measure(2, [_n("C5", 1.5), _n("D5", 1.5, "start")]))
    sop.append(_measure(3, [_n("D5", 1.5, "stop"), _n("C5", 1.5)]))
    bass = stream.Part()
    bass.append(_measure(0, [note.Rest(quarterLength=0.5)], ts="6/8", k=key.Key("C"), pad=2.5))
    bass.append(_measure(1, [chord.Chord(["C3", "G3", "E4"], quarterLength=3.0)]))
    bass.append(_measure(2, [chord.Chord(["A2", "E3", "C4"], quarterLength=1.5),
                             chord.Chord(["G2", "B3", "D4", "F4"], quarterLength=1.5)]))
    bass.append(_measure(3, [chord.Chord(["B2", "D3", "F3"], quarterLength=1.5),
                             chord.Chord(["C3", "G3"], quarterLength=1.5)]))
    s = stream.Score([sop, bass])
    for p in s.parts:
        off = 0.0
        for m in p.getElementsByClass(stream.Measure):
            p.setElementOffset(m, off)
            off += m.duration.quarterLength
    return s


def test_beats_and_downbeats_in_6_8_with_pickup():
    t = extract_truth(_score_6_8())
    assert t.meter == "6/8" and t.beat_ql == 1.5
    assert t.beats_ql == [0.5, 2.0, 3.5, 5.0, 6.5, 8.0]  # none inside the eighth-note pickup
    assert t.downbeats_ql == [0.5, 3.5, 6.5]
    # 60 dotted-quarter BPM: a beat lasts 1 s, a quarter 2/3 s; lead-in 0.5 s
    js = to_seconds(t, tempo_bpm=60.0, lead_in_seconds=0.5, tail_seconds=1.0)
    first = 0.5 + 0.5 * 2 / 3
    assert js["beats"] == pytest.approx([first + k for k in range(6)], abs=TOL)
    assert js["downbeats"] == pytest.approx([first, first + 2, first + 4], abs=TOL)
    assert js["duration_seconds"] == pytest.approx(0.5 + 9.5 * 2 / 3 + 1.0, abs=TOL)
    assert js["tempo_bpm"] == 60.0 and js["meter"] == "6/8"


def test_chord_labels_one_per_beat():
    t = extract_truth(_score_6_8())
    labels = [(a, b, lab) for a, b, lab in t.chords_ql]
    # the pickup (a lone G4 before the first beat) is unclear, then C (two beats merged), Am, G7
    # reduced to its triad, B diminished, and an open fifth C–G with the melody's C → unclear
    assert labels == [(0.0, 0.5, "X"), (0.5, 3.5, "C:maj"), (3.5, 5.0, "A:min"),
                      (5.0, 6.5, "G:maj"), (6.5, 8.0, "B:dim"), (8.0, 9.5, "X")]


def test_melody_is_top_part_skyline_with_ties_merged():
    t = extract_truth(_score_6_8())
    assert t.melody_ql == [(0.0, 0.5, 67), (0.5, 2.0, 76), (2.0, 3.5, 79), (3.5, 5.0, 72),
                           (5.0, 8.0, 74), (8.0, 9.5, 72)]


def test_key_from_key_object_and_from_signature_with_bass():
    t = extract_truth(_score_6_8())
    assert (t.key, t.key_source) == ("C major", "score Key object")
    # the same music with only a key signature (no mode) and an A-minor opening
    s = _score_6_8()
    for p in s.parts:
        m0 = p.getElementsByClass(stream.Measure)[0]
        m0.keySignature = key.KeySignature(0)
    bass1 = s.parts[1].getElementsByClass(stream.Measure)[1]
    bass1.replace(bass1.notes[0], chord.Chord(["A2", "E3", "C4"], quarterLength=3.0))
    t2 = extract_truth(s)
    assert t2.key == "A minor"
    assert t2.key_source.startswith("key signature + evidence")


def test_encoded_mode_overruled_only_by_clear_evidence():
    # a Key object saying C major over music that opens on an A-minor triad with A in the bass
    s = _score_6_8()
    bass1 = s.parts[1].getElementsByClass(stream.Measure)[1]
    bass1.replace(bass1.notes[0], chord.Chord(["A2", "E3", "C4"], quarterLength=3.0))
    t = extract_truth(s)
    assert t.key == "A minor" and t.key_source.startswith("score Key object overruled")
    # the unchanged score (C-major opening) keeps its encoded key
    assert extract_truth(_score_6_8()).key_source == "score Key object"


def test_4_4_quarter_pickup_and_excerpt():
    p = stream.Part()
    p.append(_measure(0, [_n("G4", 1.0)], ts="4/4", k=key.Key("G")))
    for i in range(1, 5):
        p.append(_measure(i, [_n("G4", 1.0), _n("B4", 1.0), _n("D5", 1.0), _n("B4", 1.0)]))
    off = 0.0
    for m in p.getElementsByClass(stream.Measure):
        p.setElementOffset(m, off)
        off += m.duration.quarterLength
    s = stream.Score([p])
    t = extract_truth(s, n_measures=3)  # pickup + two bars
    assert t.beats_ql == [float(x) for x in range(9)]
    assert t.downbeats_ql == [1.0, 5.0]
    assert t.end_ql == 9.0
    js = to_seconds(t, tempo_bpm=120.0, lead_in_seconds=0.0, tail_seconds=0.0)
    assert js["beats"][:3] == pytest.approx([0.0, 0.5, 1.0], abs=TOL)
    # excerpt from measure 2: no pickup, bar phase 0
    t2 = extract_truth(s, first_measure=2, n_measures=2)
    assert t2.downbeats_ql == [0.0, 4.0] and t2.beats_ql == [float(x) for x in range(8)]


@pytest.mark.parametrize("midis, label", [
    ([60, 64, 67], "C:maj"), ([57, 60, 64], "A:min"), ([55, 59, 62, 65], "G:maj"),
    ([62, 65, 69, 72], "D:min"), ([59, 62, 65], "B:dim"), ([60, 64, 68], "C:aug"),
    ([60, 65, 67], "C:sus4"), ([60, 67], "X"), ([60], "X"), ([], "N"),
    ([60, 63, 64, 67], "X"), ([66, 70, 73], "F#:maj"), ([63, 67, 70, 74], "Eb:maj"),
])
def test_chord_label_reduction(midis, label):
    assert chord_label(midis) == label


def test_skyline_keeps_the_highest_note():
    events = [(0.0, 2.0, 60), (0.5, 1.0, 64), (1.0, 3.0, 59)]
    assert skyline(events) == [(0.0, 0.5, 60), (0.5, 1.0, 64), (1.0, 2.0, 60), (2.0, 3.0, 59)]
