"""The refresh: the whole product in one function — load, analyse, plan, render, save, score.

Conventions
-----------
* ``refresh(path, style=..., intensity=..., seed=...)`` reads the original (never for writing),
  writes the new version beside it (``song.reissue-<style>.<ext>``, same format, unless ``out`` is
  given) and a report ``<out>.json``, and returns a :class:`RefreshResult`. Both files are
  written atomically; an existing output is replaced only with ``overwrite=True``.
* The report holds: style (and why, for ``auto``), intensity, seed, software version, analysis
  summaries of the original and of the result, the time map ``[[orig_s, new_s], …]``,
  ``identity`` and ``modernity`` with their components, the plan's layers, the restoration and
  master reports, and ``cost`` (CPU seconds per stage, wall seconds, peak MB, energy).
* Deterministic: the same input, style, intensity, seed and version give identical bytes.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

__all__ = ["RefreshResult", "refresh", "default_output", "write_json"]


@dataclass
class RefreshResult:
    output: Path
    report_path: Path
    report: dict
    midi: Path | None = None
    stems: dict[str, Path] | None = None


def default_output(path: Path, style: str) -> Path:
    suffix = path.suffix.lower()
    if suffix in (".aif", ".aifc"):
        suffix = ".aiff"
    if suffix in (".oga", ".opus"):
        suffix = ".ogg"
    return path.with_name(f"{path.stem}.reissue-{style}{suffix}")


def write_json(data: dict, path: Path) -> Path:
    """Write JSON atomically (temporary file in the same folder, then rename)."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1, allow_nan=False)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _summary(analysis) -> dict:
    s = analysis.sound
    out = {
        "duration_seconds": round(analysis.duration_seconds, 3),
        "integrated_lufs": round(s.integrated_lufs, 2), "true_peak_dbtp": round(s.true_peak_dbtp, 2),
        "loudness_range_lu": round(s.loudness_range_lu, 2), "plr_db": round(s.plr_db, 2),
        "crest_db": round(s.crest_db, 2), "bandwidth_hz": round(s.bandwidth_hz, 1),
        "stereo_width": round(s.stereo_width, 4), "lr_correlation": round(s.lr_correlation, 4),
        "noise_floor_dbfs": round(s.noise_floor_dbfs, 2),
        "spectral_tilt_db_per_octave": round(s.spectral_tilt_db_per_octave, 2),
        "band_levels_db": {c: round(v, 2) for c, v in zip(s.band_centres_hz, s.band_levels_db)},
    }
    if analysis.rhythm is not None:
        out.update(tempo_bpm=round(analysis.rhythm.tempo_bpm, 2), meter=analysis.rhythm.meter)
    if analysis.tonal is not None:
        out.update(key=analysis.tonal.key, key_confidence=round(analysis.tonal.key_confidence, 3))
    if analysis.melody is not None:
        out["melody_notes"] = len(analysis.melody.notes)
    if analysis.form is not None:
        out["sections"] = [s.to_dict() for s in analysis.form.sections]
    if analysis.mood is not None:
        out["mood"] = {"valence": round(analysis.mood.valence, 3),
                       "arousal": round(analysis.mood.arousal, 3)}
    if analysis.era is not None:
        out["era_decade"] = analysis.era.decade
    return out


def _reference_curve(path: Path) -> dict[str, float]:
    """A reference track's long-term 1/3-octave curve, relative to its 1 kHz band."""
    from .analysis.sound import SoundMeter
    from .io import stream

    meter = None
    for info, block in stream(path):
        if meter is None:
            meter = SoundMeter(info.sample_rate, info.channels)
        meter.process(block)
    sound = meter.result()
    bands = dict(zip(sound.band_centres_hz, sound.band_levels_db))
    ref = bands.get("1000", 0.0)
    return {c: round(v - ref, 2) for c, v in bands.items() if v > -140}


def refresh(path: str | os.PathLike, *, style: str = "auto", intensity: float = 0.7,
            seed: int = 1, out: str | os.PathLike | None = None,
            reference: str | os.PathLike | None = None, stems: str | os.PathLike | None = None,
            midi: str | os.PathLike | None = None, overwrite: bool = False,
            progress: Callable[[str], None] | None = None) -> RefreshResult:
    """Re-produce a song in a style; see the module notes.

    Parameters
    ----------
    path : path-like
        The original (read only).
    style : str
        A style name (``reissue styles``) or ``"auto"``.
    intensity : float in [0, 1]
        0 is a pure remaster; 1 a full re-imagining.
    seed : int
        Drives humanisation, fills and hat rolls.
    out : path-like, optional
        Output file (its suffix picks the format). Default: beside the input.
    reference : path-like, optional
        A track whose spectral balance the master EQ aims at instead of the style's curve.
    stems : path-like, optional
        Folder for the stems (original part and each new layer) as FLAC.
    midi : path-like, optional
        Where to write the generated parts as a MIDI file.
    overwrite : bool
        Replace existing outputs.
    progress : callable, optional
        Called with each stage's name as it starts.
    """
    from . import __version__
    from .analysis import analysis_signal, analyze_signal
    from .analysis.frontend import beat_chroma, low_rate_spectrogram
    from .analysis.sound import SoundMeter
    from .arrange import plan as make_plan
    from .cost import CostMeter
    from .errors import AudioFileError, ParameterError
    from .io import Audio, load, save
    from .produce.render import render
    from .score import identity_score, modernity_score
    from .styles import choose_style, get_style

    path = Path(path)
    step = progress or (lambda name: None)
    if isinstance(intensity, bool) or not isinstance(intensity, (int, float)) \
            or not 0.0 <= float(intensity) <= 1.0:
        raise ParameterError(f"intensity={intensity!r} must be between 0 and 1")
    if style != "auto":
        chosen = get_style(style)  # fail early on an unknown style

    step("decode")
    meter = CostMeter()
    with meter.stage("decode"):
        audio = load(path)
    meter.cost.audio_seconds = audio.duration_seconds

    step("analyse")
    with meter.stage("analysis"):
        sound_meter = SoundMeter(audio.sample_rate, audio.channels)
        sound_meter.process(audio.samples)
        y = analysis_signal(audio.samples, audio.sample_rate)
        analysis = analyze_signal(sound_meter.result(), y, audio.duration_seconds,
                                  audio.sample_rate, audio.channels, file=str(path))
    if style == "auto":
        name, why = choose_style(analysis)
        chosen = get_style(name)
        style_reason = f"auto: {why}"
    else:
        style_reason = "chosen by the user"

    out_path = Path(out) if out is not None else default_output(path, chosen.name)
    report_path = out_path.with_name(out_path.name + ".json")
    for p in (out_path, report_path):
        if p.exists() and not overwrite:
            raise AudioFileError(p, "already exists", "pass --force to replace it",
                                 code="output.exists")

    step("plan")
    with meter.stage("plan"):
        the_plan = make_plan(analysis, chosen, intensity=float(intensity), seed=int(seed))
    ref_curve = None
    if reference is not None:
        step("reference")
        with meter.stage("reference"):
            ref_curve = _reference_curve(Path(reference))

    rendered = render(audio.samples, audio.sample_rate, analysis, the_plan, meter=meter,
                      keep_stems=stems is not None, reference_curve=ref_curve, progress=step)

    step("save")
    with meter.stage("encode"):
        new_audio = Audio(rendered.samples, audio.sample_rate)
        subtype = audio.subtype if audio.subtype and audio.subtype.startswith("PCM") else None
        if subtype == "PCM_U8" or subtype == "PCM_S8":
            subtype = "PCM_16"
        save(new_audio, out_path, subtype=subtype if out_path.suffix.lower() in
             (".wav", ".flac", ".aiff") else None, tags_from=path,
             tags={"comment": f"reissue {__version__}: {chosen.name}, intensity "
                              f"{float(intensity):.2f}, seed {int(seed)}"})
        stem_paths = None
        if stems is not None:
            folder = Path(stems)
            folder.mkdir(parents=True, exist_ok=True)
            stem_paths = {}
            for name, data in rendered.stems.items():
                stem_paths[name] = save(Audio(np.clip(data, -1, 1), audio.sample_rate),
                                        folder / f"{out_path.stem}.{name}.flac")
        midi_path = None
        if midi is not None:
            midi_path = Path(midi)
            fd, tmp = tempfile.mkstemp(prefix=f".{midi_path.name}.", suffix=".part.mid",
                                       dir=midi_path.parent if str(midi_path.parent) else ".")
            os.close(fd)
            try:
                the_plan.to_midi().write(tmp)
                os.replace(tmp, midi_path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

    step("score")
    with meter.stage("score"):
        new_meter = SoundMeter(audio.sample_rate, 2)
        new_meter.process(rendered.samples)
        new_sound = new_meter.result()
        y_new = analysis_signal(rendered.samples, audio.sample_rate)
        from .analysis.form import analyze_form
        from .analysis.melody import analyze_melody
        from .analysis.tonal import analyze_tonal

        beats_new = np.asarray(the_plan.beats_seconds)
        result_tonal = analyze_tonal(y_new, 22050, beats_seconds=beats_new)
        result_melody = analyze_melody(y_new, 22050)
        spec_new = low_rate_spectrogram(y_new, 22050)
        result_form = analyze_form(y_new, 22050, beats_seconds=beats_new,
                                   downbeats_seconds=the_plan.downbeats_seconds,
                                   spectrogram=spec_new)
        orig_chroma = beat_chroma(low_rate_spectrogram(y, 22050), analysis.rhythm.beats_seconds)
        new_chroma = beat_chroma(spec_new, beats_new)
        identity = identity_score(analysis, the_plan, original_chroma=orig_chroma,
                                  result_chroma=new_chroma, result_tonal=result_tonal,
                                  result_melody=result_melody, result_form=result_form)
        target = the_plan.master
        modern_new = modernity_score(new_sound, target)
        modern_orig = modernity_score(analysis.sound, target)
    cost = meter.finish()

    from .analysis import Analysis

    result_analysis = Analysis(duration_seconds=rendered.samples.shape[1] / audio.sample_rate,
                               sample_rate=audio.sample_rate, channels=2, sound=new_sound,
                               tonal=result_tonal, melody=result_melody, form=result_form)
    report = {
        "software": {"name": "reissue", "version": __version__},
        "input": str(path), "output": str(out_path),
        "style": chosen.name, "style_reason": style_reason, "intensity": float(intensity),
        "seed": int(seed), "reference": str(reference) if reference is not None else None,
        "original": _summary(analysis),
        "result": {**_summary(result_analysis), "tempo_bpm": round(the_plan.tempo_bpm, 2),
                   "key": result_tonal.key},
        "time_map": the_plan.time_map.to_list(),
        "identity": identity.to_dict(),
        "modernity": {**modern_new.to_dict(), "original_score": round(modern_orig.score, 4),
                      "original_components": {k: round(v, 4) for k, v in
                                              modern_orig.components.items()}},
        "plan": {k: v for k, v in the_plan.to_dict().items() if k != "time_map"},
        "restoration": rendered.restore, "master": rendered.master,
        "cost": cost.to_dict(),
        "files": {"audio": str(out_path), "midi": str(midi_path) if midi_path else None,
                  "stems": {k: str(v) for k, v in (stem_paths or {}).items()}},
    }
    write_json(report, report_path)
    return RefreshResult(out_path, report_path, report, midi_path, stem_paths)
