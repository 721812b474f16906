"""Form, mood and era on signals whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from reissue import instruments as ins
from reissue.analysis import sound
from reissue.analysis.era import estimate_era
from reissue.analysis.form import analyze_form, base_label
from reissue.analysis.frontend import low_rate_features, onset_density
from reissue.analysis.mood import analyze_mood, harmonic_tension
from reissue.demo import demo_truth, render_demo
from reissue.io import resample

SR = 22050


@pytest.fixture(scope="module")
def demo_mono():
    return resample(render_demo(), 44100, SR).mean(axis=0)


def test_demo_form_boundaries_and_labels(demo_mono):
    truth = demo_truth()
    form = analyze_form(demo_mono, SR, beats_seconds=truth.beats_seconds,
                        downbeats_seconds=truth.downbeats_seconds)
    starts = [s.start_seconds for s in form.sections]
    assert len(form.sections) == 3
    # truth boundaries at 20.5 s and 40.5 s (bars 9 and 17); within one beat
    np.testing.assert_allclose(starts[1:], [20.5, 40.5], atol=0.625)
    assert [base_label(s.label) for s in form.sections] == ["A", "B", "A"]
    # the chorus is the loudest section
    assert form.sections[1].energy == pytest.approx(1.0)
    assert form.sections[0].energy < 0.8 and form.sections[2].energy < 0.8
    assert form.sections[-1].end_seconds == pytest.approx(len(demo_mono) / SR)


def _song(sections, sample_rate=SR, bpm=120.0):
    """Concatenate sections of (chord roots, melody register, gain) bars; returns y, beats, edges."""
    rng = np.random.default_rng(5)
    beat = 60.0 / bpm
    notes = {"chords": [], "lead": [], "kick": []}
    t = 0.0
    edges = []
    patterns = {"A": ([0, 9, 5, 7], 72, 0.5), "B": ([5, 7, 0, 0], 79, 1.0),
                "C": ([9, 4, 9, 4], 67, 0.7)}
    for name, bars in sections:
        edges.append(t)
        roots, register, gain = patterns[name]
        for b in range(bars):
            root = 48 + roots[b % 4]
            for p in (root, root + 4 if roots[b % 4] in (0, 5, 7) else root + 3, root + 7):
                notes["chords"].append(ins.Note(t, 4 * beat - 0.05, p, 0.6 * gain))
            for k in range(4):
                pitch = register + [0, 2, 4, 7][(k + b) % 4] - (12 if name == "C" else 0)
                notes["lead"].append(ins.Note(t + k * beat, beat - 0.03, pitch, 0.8 * gain))
                notes["kick"].append(ins.Note(t + k * beat, 0.1, 0, 0.5 * gain))
            t += 4 * beat
    n = int((t + 1.0) * sample_rate)
    y = (ins.render(notes["chords"], ins.EPiano(), sample_rate, n, rng)
         + ins.render(notes["lead"], ins.Lead() if True else None, sample_rate, n, rng)
         + 0.5 * ins.render(notes["kick"], ins.Kick(), sample_rate, n, rng))
    beats = np.arange(0, t, beat)
    return y.astype(np.float32), beats, edges[1:]


def test_form_finds_verse_chorus_bridge_structure():
    y, beats, edges = _song([("A", 8), ("B", 8), ("A", 8), ("C", 4), ("B", 8)])
    form = analyze_form(y, SR, beats_seconds=beats, downbeats_seconds=beats[::4])
    found = [s.start_seconds for s in form.sections[1:]]
    for e in edges:  # every true boundary found within one beat
        assert min(abs(np.array(found) - e)) <= 0.5, (e, found)
    labels = [base_label(s.label) for s in form.sections]
    assert labels[0] == labels[2] and labels[1] == labels[4]
    assert len({labels[0], labels[1], labels[3]}) == 3


def test_form_degenerate_inputs():
    assert analyze_form(np.zeros(0, np.float32), SR, beats_seconds=[]).sections == ()
    short = analyze_form(np.zeros(SR * 3, np.float32), SR, beats_seconds=[0.5, 1.0, 1.5])
    assert len(short.sections) == 1 and short.sections[0].label == "A"


def test_onset_density_counts_notes():
    rng = np.random.default_rng(1)
    for per_second in (2.0, 6.0):
        notes = [ins.Note(0.1 + k / per_second, 0.08, 72, 0.8) for k in range(int(20 * per_second))]
        y = ins.render(notes, ins.Pluck(), SR, SR * 21, rng)
        assert onset_density(low_rate_features(y, SR)) == pytest.approx(per_second, rel=0.15)


def test_mood_directions_and_evidence():
    happy = analyze_mood(tempo_bpm=150, loudness_lufs=-8, spectral_tilt_db_per_octave=-3,
                         onset_density_per_second=6, mode="major", harmonic_tension=0.2)
    sad = analyze_mood(tempo_bpm=65, loudness_lufs=-22, spectral_tilt_db_per_octave=-7,
                       onset_density_per_second=1, mode="minor", harmonic_tension=0.7)
    assert happy.arousal > 0.5 and happy.valence > 0.3 and happy.quadrant == "happy/excited"
    assert sad.arousal < -0.5 and sad.valence < -0.3 and sad.quadrant == "sad/gloomy"
    assert -1 <= sad.valence <= 1 and -1 <= happy.arousal <= 1
    ev = happy.to_dict()["evidence"]
    assert ev["tempo_bpm"]["value"] == 150 and ev["tempo_bpm"]["arousal_contribution"] > 0
    # an ambiguous key barely moves valence
    unsure = analyze_mood(tempo_bpm=110, loudness_lufs=-14, spectral_tilt_db_per_octave=-4.5,
                          onset_density_per_second=3, mode="minor", key_confidence=0.0)
    assert abs(unsure.valence) < 0.05


def test_harmonic_tension():
    calm = [(0, 2, "C:maj"), (2, 4, "C:maj"), (4, 6, "G:maj"), (6, 8, "G:maj")]
    tense = [(i * 0.5, i * 0.5 + 0.5, lab) for i, lab in
             enumerate(["A:min", "E:min", "D:min", "B:min"] * 4)]
    assert harmonic_tension(calm) < 0.2 < 0.6 < harmonic_tension(tense)
    assert harmonic_tension([(0, 4, "N")]) == 0.0


def test_era_old_record_vs_loud_modern_master():
    old = estimate_era(sound.analyze_sound(render_demo(), 44100))
    assert old.decade <= 1970
    assert old.evidence["cues"]["width"] < 0.05
    modern_mix = render_demo(vintage=False, noise=False)
    # a crude loud master: +14 dB into a soft clipper (what the loudness war did)
    loud = (np.tanh(modern_mix * 10 ** (14 / 20)) * 0.89).astype(np.float32)
    new = estimate_era(sound.analyze_sound(loud, 44100))
    assert new.decade >= 2000
    assert new.evidence["cues"]["lufs"] > -11
    assert 0 < new.confidence <= 1
