"""The refresh engine end to end on the demo song, whose truth is known."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import mir_eval
import numpy as np
import pytest

from reissue import load
from reissue.arrange import chord_tones
from reissue.refresh import refresh
from reissue.styles import list_styles

STYLES = sorted(s.name for s in list_styles() if s.path and s.path.parent.name == "styles")


@pytest.fixture(scope="module")
def demo_copy(tmp_path_factory):
    from reissue.demo import write_demo

    return write_demo(tmp_path_factory.mktemp("refresh") / "demo.wav")


@pytest.fixture(scope="module")
def refreshed(demo_copy):
    """Every built-in style at intensity 0.7, seed 1 (computed once for the module)."""
    before = (demo_copy.read_bytes(), demo_copy.stat().st_mtime_ns)
    results = {name: refresh(demo_copy, style=name, intensity=0.7, seed=1, overwrite=True,
                             out=demo_copy.with_name(f"demo.{name}.flac"))
               for name in STYLES}
    assert (demo_copy.read_bytes(), demo_copy.stat().st_mtime_ns) == before, "original modified"
    return results


def test_six_styles_exist():
    assert {"remaster", "modern-pop", "house", "trap", "lofi", "synthwave"} <= set(STYLES)


@pytest.mark.parametrize("style", ["remaster", "modern-pop", "house", "trap", "lofi",
                                   "synthwave"])
def test_master_hits_target_and_is_clean(refreshed, style):
    r = refreshed[style]
    target = r.report["plan"]["master"]["loudness_lufs"]
    assert r.report["result"]["integrated_lufs"] == pytest.approx(target, abs=0.5)
    assert r.report["result"]["true_peak_dbtp"] <= -1.0
    audio = load(r.output)
    assert np.isfinite(audio.samples).all()
    assert np.abs(audio.samples.mean(axis=1)).max() < 1e-3  # no DC offset
    assert audio.channels == 2


@pytest.mark.parametrize("style", ["remaster", "modern-pop", "house", "trap", "lofi",
                                   "synthwave"])
def test_identity_kept_and_modernity_gained(refreshed, style):
    r = refreshed[style].report
    assert r["identity"]["score"] >= 0.8, r["identity"]
    assert r["result"]["key"] == r["original"]["key"]
    assert r["modernity"]["score"] > r["modernity"]["original_score"]


def test_report_has_every_field(refreshed):
    r = refreshed["house"].report
    for key in ("style", "intensity", "seed", "software", "original", "result", "time_map",
                "identity", "modernity", "cost"):
        assert key in r
    assert set(r["cost"]) >= {"cpu_seconds", "wall_seconds", "peak_memory_mb", "energy_joules",
                              "energy_method"}
    tm = np.array(r["time_map"])
    assert np.all(np.diff(tm[:, 0]) > 0) and np.all(np.diff(tm[:, 1]) > 0)
    # house moves the demo's 96 BPM into 118–128 (capped at +25 %), so the map shrinks time
    assert r["result"]["tempo_bpm"] > r["original"]["tempo_bpm"]
    assert tm[-1, 1] < tm[-1, 0]
    saved = json.loads(refreshed["house"].report_path.read_text())
    assert saved["identity"] == r["identity"]


@pytest.mark.parametrize("style", ["modern-pop", "house"])
def test_new_drums_fall_on_the_mapped_beats(refreshed, style):
    from reissue.analysis import analysis_signal
    from reissue.analysis.rhythm import analyze_rhythm

    r = refreshed[style]
    audio = load(r.output)
    rhythm = analyze_rhythm(analysis_signal(audio.samples, audio.sample_rate), 22050)
    mapped = np.array([t for _, t in r.report["time_map"]][1:-1])
    f = mir_eval.beat.f_measure(mir_eval.beat.trim_beats(mapped),
                                mir_eval.beat.trim_beats(np.array(rhythm.beats_seconds)))
    assert f >= 0.9


def test_generated_bass_and_chords_belong_to_the_chord(demo_copy):
    from reissue.analysis import analyze
    from reissue.arrange import plan
    from reissue.styles import get_style

    analysis = analyze(load(demo_copy))
    for name in ("modern-pop", "trap", "synthwave"):
        p = plan(analysis, get_style(name), intensity=0.7, seed=3)
        chords = [(float(p.time_map.to_new(a)), float(p.time_map.to_new(b)), lab)
                  for a, b, lab in analysis.tonal.chords]
        inside = total = 0.0
        for part in (p.part("bass"), p.part("chords")):
            for n in part.notes:
                total += n.duration_seconds
                mid = n.start_seconds + n.duration_seconds / 2
                label = next((lab for a, b, lab in chords if a <= mid < b), "N")
                if int(round(n.midi_pitch)) % 12 in chord_tones(label):
                    inside += n.duration_seconds
        assert total > 0 and inside / total >= 0.95, (name, inside / total)


def test_same_seed_same_bytes_other_seed_other_drums(demo_copy, tmp_path):
    a = refresh(demo_copy, style="trap", intensity=0.7, seed=5, out=tmp_path / "a.wav")
    b = refresh(demo_copy, style="trap", intensity=0.7, seed=5, out=tmp_path / "b.wav")
    c = refresh(demo_copy, style="trap", intensity=0.7, seed=6, out=tmp_path / "c.wav",
                midi=tmp_path / "c.mid")
    assert a.output.read_bytes() == b.output.read_bytes()
    assert a.output.read_bytes() != c.output.read_bytes()
    drums_a = a.report["plan"]["parts"]
    assert [p["name"] for p in drums_a][0] == "drums"
    import pretty_midi

    assert pretty_midi.PrettyMIDI(str(c.midi)).instruments[0].is_drum


def test_intensity_zero_is_a_pure_remaster(demo_copy, tmp_path):
    r = refresh(demo_copy, style="house", intensity=0.0, seed=1, out=tmp_path / "z.flac")
    assert r.report["plan"]["parts"] == []
    assert r.report["time_map"][-1][0] == pytest.approx(r.report["time_map"][-1][1])


BIN = Path(sys.executable).parent / "reissue"


def _run(*args):
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, COLUMNS="120", NO_COLOR="1"))


def test_cli_refresh_styles_and_errors(demo_copy, tmp_path):
    r = _run("styles")
    assert r.returncode == 0 and "auto" in r.stdout and "trap" in r.stdout
    out = tmp_path / "song.flac"
    r = _run("refresh", str(demo_copy), "--style", "lofi", "--intensity", "0.5", "--seed", "2",
             "--out", str(out), "--quiet")
    assert r.returncode == 0, r.stderr
    assert out.exists() and Path(str(out) + ".json").exists() and "identity" in r.stdout
    r = _run("refresh", str(demo_copy), "--style", "lofi", "--out", str(out), "--quiet")
    assert r.returncode == 1 and "already exists" in r.stderr and "--force" in r.stderr
    r = _run("refresh", str(demo_copy), "--style", "polka", "--quiet")
    assert r.returncode == 1 and "unknown style 'polka'" in r.stderr
    assert "Traceback" not in r.stderr
    r = _run("refresh", str(demo_copy), "--intensity", "1.5", "--quiet")
    assert r.returncode == 2 and "--intensity" in r.stderr and "less than or equal to 1" in r.stderr


def test_reference_curve_is_the_spectrum_target(demo_copy, tmp_path):
    """--reference: the master EQs toward the reference's balance and modernity's spectrum
    component is measured against that curve — the result is closer to it than the original."""
    from reissue.io import Audio, save

    rng = np.random.default_rng(7)  # pink noise: a flat 1/3-octave curve, brighter than the demo
    spectrum = np.fft.rfft(rng.standard_normal((2, 44100 * 10)), axis=1)
    freqs = np.fft.rfftfreq(44100 * 10, 1 / 44100)
    spectrum[:, 0], spectrum[:, 1:] = 0, spectrum[:, 1:] / np.sqrt(freqs[1:])
    pink = np.fft.irfft(spectrum, n=44100 * 10, axis=1)
    save(Audio((0.3 * pink / np.abs(pink).max()).astype(np.float32), 44100),
         tmp_path / "pink.wav")
    report = refresh(demo_copy, style="remaster", intensity=0.7, seed=1,
                     reference=tmp_path / "pink.wav", out=tmp_path / "ref.wav").report
    m = report["modernity"]
    assert report["reference"] == str(tmp_path / "pink.wav")
    assert m["details"]["spectrum_target"] == "reference"
    # measured here: 19.7 dB from the reference's curve before, 13.8 dB after
    assert (m["details"]["spectrum_rms_db_from_target"]
            < m["original_details"]["spectrum_rms_db_from_target"] - 3.0)


def test_chords_are_voiced_under_a_low_melody(demo_copy):
    """A melody lowered two octaves pulls the chord voicing's centre down to its floor (MIDI 48;
    the centre would be the melody's lower quartile − 6), away from the style's 64; the demo's
    own melody (lower quartile MIDI 71) leaves the style's voicing alone. Voicings stay within
    3 semitones of their centre on average (voice leading moves single voices, not the block)."""
    import dataclasses

    from reissue.analysis import analyze
    from reissue.arrange import plan
    from reissue.styles import get_style

    analysis = analyze(load(demo_copy))
    style = get_style("house")  # chord centre 64
    own = plan(analysis, style, intensity=0.7, seed=1)
    assert not any("under the melody" in r for r in own.reasons)
    low_melody = dataclasses.replace(
        analysis.melody, notes=tuple((a, b, p - 24) for a, b, p in analysis.melody.notes))
    lowered = plan(dataclasses.replace(analysis, melody=low_melody), style, intensity=0.7, seed=1)
    assert any("around MIDI 48" in r for r in lowered.reasons), lowered.reasons
    mean_own = np.mean([n.midi_pitch for n in own.part("chords").notes])
    mean_low = np.mean([n.midi_pitch for n in lowered.part("chords").notes])
    assert abs(mean_own - 64) <= 3 and abs(mean_low - 48) <= 3, (mean_own, mean_low)


def test_melody_kept_counts_the_same_notes_however_they_are_segmented():
    """The melody component asks whether the melody is still there: the same line transcribed
    with its long notes split in two (and onsets 80 ms late) is fully kept, while mir_eval's
    onset match within 50 ms would count none of it; a line a semitone off is not kept; an octave
    doubling is, and so is a line that flips octave every few notes (a doubled lead the
    extractor follows now in one octave, now in the other), but not two octaves away; a result
    with twice as many foreign notes halves the precision."""
    from reissue.score import _note_overlap_f

    ref = [(i * 0.5, i * 0.5 + 0.45, 60 + (i % 5)) for i in range(40)]
    split = [n for s, e, p in ref for n in ((s + 0.08, (s + e) / 2, p), ((s + e) / 2, e, p))]
    assert _note_overlap_f(ref, split) == 1.0
    assert _note_overlap_f(ref, [(s, e, p + 1) for s, e, p in ref]) == 0.0
    assert _note_overlap_f(ref, [(s, e, p + 12) for s, e, p in ref]) == 1.0
    flipping = [(s, e, p + 12 * ((i // 3) % 2)) for i, (s, e, p) in enumerate(ref)]
    assert _note_overlap_f(ref, flipping) == 1.0
    assert _note_overlap_f(ref, [(s, e, p - 24) for s, e, p in ref]) == 0.0
    noisy = ref + [(s + 0.2, s + 0.25, 90) for s, _, _ in ref] * 2  # 80 foreign blips
    f = _note_overlap_f(ref, noisy)
    assert abs(f - 2 * (1 / 3) / (1 + 1 / 3)) < 1e-9, f
