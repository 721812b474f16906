"""reissue.analysis.tonal against generated songs whose tuning, key and chords are known."""

from __future__ import annotations

import json

import numpy as np
import pytest

from reissue import instruments as ins
from reissue.analysis.tonal import (
    CHORD_LABELS,
    KEY_NAMES,
    Tonal,
    analyze_tonal,
    estimate_tuning_cents,
)
from reissue.errors import ParameterError
from reissue.instruments import Note

SR = 22050
_PC = {name: i for i, name in enumerate(("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A",
                                         "Bb", "B"))}


def progression(labels, *, bpm=120.0, beats_per_chord=4, sample_rate=SR, detune_cents=0.0,
                drums=False, seed=0, lead_in=0.5, tail=1.0):
    """Electric-piano triads (close voicing around middle C) over a root/fifth bass line, one
    chord per ``beats_per_chord`` beats, optionally with kick/snare/hats.

    Returns ``(y, chords, beats)``: mono float32, the true ``(start, end, label)`` list and the
    beat times.
    """
    rng = np.random.default_rng(seed)
    beat = 60.0 / bpm
    span = beats_per_chord * beat
    cents = detune_cents / 100.0
    keys, bass, kick, snare, hat, truth = [], [], [], [], [], []
    for i, label in enumerate(labels):
        root, quality = label.split(":")
        r = _PC[root]
        t0 = lead_in + i * span
        low = 60 + r if r <= 6 else 48 + r
        for interval in (0, 4 if quality == "maj" else 3, 7):
            keys.append(Note(t0, span - 0.05, low + interval + cents, 0.6))
        b = (36 if r < 8 else 24) + r
        bass.append(Note(t0, span / 2 - 0.05, b + cents, 0.8))
        bass.append(Note(t0 + span / 2, span / 2 - 0.05, b + 7 + cents, 0.7))
        for k in range(beats_per_chord):
            (kick if k % 2 == 0 else snare).append(Note(t0 + k * beat, 0.2, 0, 0.8))
            hat.append(Note(t0 + (k + 0.5) * beat, 0.05, 0, 0.4))
        truth.append((t0, t0 + span, label))
    n = int((lead_in + len(labels) * span + tail) * sample_rate)
    y = (ins.render(keys, ins.EPiano(), sample_rate, n, rng)
         + 0.7 * ins.render(bass, ins.Bass(), sample_rate, n, rng))
    if drums:
        y += (0.8 * ins.render(kick, ins.Kick(), sample_rate, n, rng)
              + 0.5 * ins.render(snare, ins.Snare(), sample_rate, n, rng)
              + 0.4 * ins.render(hat, ins.HiHat(), sample_rate, n, rng))
    beats = lead_in + np.arange(len(labels) * beats_per_chord) * beat
    return (0.3 * y / np.abs(y).max()).astype(np.float32), truth, beats


def changes(truth):
    """Times where the true label changes."""
    return [a for (a, _, lab), (_, _, prev) in zip(truth[1:], truth[:-1]) if lab != prev]


def label_accuracy(truth, chords, step=0.05):
    """Fraction of time (sampled every ``step`` s inside the truth span) with the right label."""
    t = np.arange(truth[0][0], truth[-1][1], step)
    ok = 0
    for x in t:
        ref = next(lab for a, b, lab in truth if a <= x < b)
        est = next(lab for a, b, lab in chords if a <= x < b)
        ok += ref == est
    return ok / len(t)


F_SHARP_MINOR = ["F#:min", "B:min", "C#:maj", "F#:min", "D:maj", "B:min", "C#:maj", "F#:min"]


@pytest.fixture(scope="module")
def f_sharp_minor():
    return progression(F_SHARP_MINOR * 2)


def test_f_sharp_minor_progression_with_beats(f_sharp_minor):
    y, truth, beats = f_sharp_minor
    tonal = analyze_tonal(y, SR, beats_seconds=beats)
    assert tonal.key == "F# minor"
    assert tonal.key_confidence > 0.5
    assert tonal.section_keys == ((0.0, pytest.approx(len(y) / SR), "F# minor"),)
    assert abs(tonal.tuning_cents) < 2.0
    # labels right ≥ 97 % of the time; every true change found within 0.1 s (it is on a beat)
    assert label_accuracy(truth, tonal.chords) >= 0.97
    est_changes = np.array([a for a, _, _ in tonal.chords[1:]])
    for a in changes(truth):
        assert np.min(np.abs(est_changes - a)) < 0.1
    # lead-in and tail are "N"
    assert tonal.chords[0][2] == "N" and tonal.chords[-1][2] == "N"
    assert tonal.chords[0][0] == 0.0 and tonal.chords[-1][1] == pytest.approx(len(y) / SR)


def test_f_sharp_minor_progression_without_beats(f_sharp_minor):
    y, truth, _ = f_sharp_minor
    tonal = analyze_tonal(y, SR)
    assert tonal.key == "F# minor"
    # frame-level boundaries: within ±0.25 s (window 0.37 s, hop 0.093 s)
    assert label_accuracy(truth, tonal.chords) >= 0.92
    est_changes = np.array([a for a, _, _ in tonal.chords[1:]])
    for a in changes(truth):
        assert np.min(np.abs(est_changes - a)) < 0.25


def test_drums_do_not_change_the_answer():
    y, truth, beats = progression(F_SHARP_MINOR, drums=True, seed=3)
    tonal = analyze_tonal(y, SR, beats_seconds=beats)
    assert tonal.key == "F# minor"
    assert label_accuracy(truth, tonal.chords) >= 0.95


def test_modulation_c_major_to_e_minor_gives_two_sections():
    c_major = ["C:maj", "F:maj", "G:maj", "C:maj", "A:min", "D:min", "G:maj", "C:maj"]
    e_minor = ["E:min", "A:min", "B:maj", "E:min", "C:maj", "A:min", "B:maj", "E:min"]
    y, truth, beats = progression(c_major + e_minor, bpm=120.0)  # one bar (2 s) per chord
    change = truth[len(c_major)][0]
    for b in (beats, None):
        tonal = analyze_tonal(y, SR, beats_seconds=b)
        keys = [k for _, _, k in tonal.section_keys]
        assert keys == ["C major", "E minor"], tonal.section_keys
        assert abs(tonal.section_keys[1][0] - change) <= 2.0  # within a bar
        assert tonal.section_keys[0][0] == 0.0
        assert tonal.section_keys[-1][1] == pytest.approx(len(y) / SR)
        assert tonal.key == "C major"  # the opening key (and the longer section here)


@pytest.mark.parametrize("cents", [-40.0, -12.0, 30.0, 45.0])
def test_detuned_recording_tuning_and_chords(cents):
    y, truth, beats = progression(["G:maj", "E:min", "C:maj", "D:maj"], detune_cents=cents)
    tonal = analyze_tonal(y, SR, beats_seconds=beats)
    assert tonal.tuning_cents == pytest.approx(cents, abs=2.0)
    assert tonal.key == "G major"
    assert label_accuracy(truth, tonal.chords) >= 0.95


def test_estimate_tuning_cents_on_a_pure_tone():
    t = np.arange(3 * SR) / SR
    for cents in (-25.0, 0.0, 30.0):
        y = np.sin(2 * np.pi * 440.0 * 2 ** (cents / 1200) * t).astype(np.float32)
        assert estimate_tuning_cents(y, SR) == pytest.approx(cents, abs=1.0)


def test_silence_gives_no_key_no_chord_and_zero_confidence():
    y = np.zeros(5 * SR, np.float32)
    tonal = analyze_tonal(y, SR, beats_seconds=np.arange(0.5, 5.0, 0.5))
    assert tonal.key == "X" and tonal.key_confidence == 0.0
    assert tonal.chords == ((0.0, 5.0, "N"),)
    assert tonal.section_keys == ((0.0, 5.0, "X"),)
    assert tonal.tuning_cents == 0.0


def test_noise_has_low_confidence_and_mostly_no_chord(rng):
    y = (0.1 * rng.standard_normal(10 * SR)).astype(np.float32)
    tonal = analyze_tonal(y, SR)
    assert tonal.key_confidence < 0.2
    n_time = sum(b - a for a, b, lab in tonal.chords if lab == "N")
    assert n_time / 10.0 > 0.8


def test_confidence_orders_clear_above_ambiguous():
    clear, _, _ = progression(["D:maj", "G:maj", "A:maj", "D:maj"] * 2)
    # C major and A minor chords alternating: C major / A minor equally plausible
    ambiguous, _, _ = progression(["C:maj", "A:min"] * 4)
    c1 = analyze_tonal(clear, SR).key_confidence
    c2 = analyze_tonal(ambiguous, SR).key_confidence
    assert c1 > 0.6 and c2 < c1


def test_very_short_and_empty_inputs():
    assert analyze_tonal(np.zeros(0, np.float32), SR).chords == ((0.0, 0.0, "N"),)
    y, _, _ = progression(["A:min"], bpm=240.0, beats_per_chord=1, lead_in=0.0, tail=0.0)
    tonal = analyze_tonal(y[: SR // 10], SR)  # 0.1 s
    assert tonal.chords[-1][1] == pytest.approx(0.1, abs=1e-6)


@pytest.mark.parametrize("sample_rate", [16000, 44100])
def test_other_sample_rates_agree(sample_rate):
    labels = ["A:min", "D:min", "E:maj", "A:min"]
    y, truth, beats = progression(labels, sample_rate=sample_rate)
    tonal = analyze_tonal(y, sample_rate, beats_seconds=beats)
    assert tonal.key == "A minor"
    assert label_accuracy(truth, tonal.chords) >= 0.95


def test_to_dict_is_json_ready_and_labels_are_valid(f_sharp_minor):
    import mir_eval

    y, _, beats = f_sharp_minor
    tonal = analyze_tonal(y, SR, beats_seconds=beats)
    d = tonal.to_dict()
    assert set(d) == {"tuning_cents", "key", "key_confidence", "section_keys", "chords"}
    assert set(d["chords"][0]) == {"start_seconds", "end_seconds", "label"}
    assert set(d["section_keys"][0]) == {"start_seconds", "end_seconds", "key"}
    json.dumps(d)
    mir_eval.key.validate_key(tonal.key)
    labels = [lab for _, _, lab in tonal.chords]
    mir_eval.chord.validate(labels, labels)
    assert {lab for _, _, lab in tonal.chords} <= set(CHORD_LABELS)
    assert tonal.key in KEY_NAMES
    # contiguous and covering the signal
    starts = [a for a, _, _ in tonal.chords]
    ends = [b for _, b, _ in tonal.chords]
    assert starts[1:] == ends[:-1] and all(b > a for a, b, _ in tonal.chords)


def test_deterministic(f_sharp_minor):
    y, _, beats = f_sharp_minor
    assert analyze_tonal(y, SR, beats_seconds=beats) == analyze_tonal(y, SR, beats_seconds=beats)


def test_demo_song():
    from reissue.demo import demo_truth, render_demo

    truth = demo_truth()
    y = render_demo(sample_rate=SR).mean(axis=0)
    tonal = analyze_tonal(y, SR, beats_seconds=truth.beats_seconds)
    assert isinstance(tonal, Tonal)
    assert tonal.key == truth.key
    assert label_accuracy(list(truth.chords), tonal.chords) >= 0.9


def test_bad_input_raises_parameter_error():
    y = np.zeros(SR, np.float32)
    with pytest.raises(ParameterError, match="1-D"):
        analyze_tonal(np.zeros((2, SR), np.float32), SR)
    with pytest.raises(ParameterError, match="sample_rate"):
        analyze_tonal(y, 0)
    with pytest.raises(ParameterError, match="NaN"):
        analyze_tonal(np.full(SR, np.nan, np.float32), SR)
    with pytest.raises(ParameterError, match="increasing"):
        analyze_tonal(y, SR, beats_seconds=[0.5, 0.4])


def test_sticky_viterbi_matches_full_viterbi(rng):
    """The O(states) recursion gives the same path as the textbook O(states²) one."""
    from reissue.analysis.tonal import _viterbi

    n, k = 200, 7
    log_emit = rng.normal(size=(n, k)) * 2.0
    log_stay, log_switch = np.log(0.7), np.log(0.3 / (k - 1))
    trans = np.full((k, k), log_switch)
    np.fill_diagonal(trans, log_stay)
    delta, psi = log_emit[0].copy(), np.zeros((n, k), int)
    for t in range(1, n):
        s = delta[:, None] + trans
        psi[t] = s.argmax(axis=0)
        delta = s.max(axis=0) + log_emit[t]
    ref = [int(delta.argmax())]
    for t in range(n - 1, 0, -1):
        ref.append(int(psi[t, ref[-1]]))
    np.testing.assert_array_equal(_viterbi(log_emit, log_stay, log_switch), ref[::-1])


def test_front_end_does_not_depend_on_block_size(f_sharp_minor, monkeypatch):
    from reissue.analysis import tonal

    y = f_sharp_minor[0][: 8 * SR]
    a = tonal._front_end(y, SR)
    monkeypatch.setattr(tonal, "_BLOCK_FRAMES", 37)
    monkeypatch.setattr(tonal, "_ONE_PASS_FRAMES", 0)
    b = tonal._front_end(y, SR)
    np.testing.assert_allclose(a.semitone, b.semitone, rtol=1e-5, atol=1e-6)
    assert a.tuning_cents == b.tuning_cents


def test_tuning_near_the_half_semitone_wraps_consistently():
    """+50 and −50 cents are the same grid; the answer is reported in (−50, 50]."""
    t = np.arange(3 * SR) / SR
    y = sum(np.sin(2 * np.pi * 440.0 * 2 ** ((s + 0.499) / 12) * t) for s in (-9, -5, 0, 3))
    cents = estimate_tuning_cents(y.astype(np.float32), SR)
    assert -50.0 < cents <= 50.0
    assert abs(abs(cents) - 49.9) < 1.5
