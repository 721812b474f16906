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
* Memory: recordings up to 5 minutes are rendered whole (one pass, the master sees the whole
  song); longer ones stream — the analysis from the file (:func:`reissue.analysis.analyze_path`),
  the render in fixed 2-minute segments (:mod:`reissue.produce.blocks`) written as they come by
  :class:`reissue.io.AudioWriter` (still atomic), the result measured on the way — so peak
  memory follows the segment, not the song (``benchmarks/refresh.py --long``).
* The result's loudness and true peak come from the master's own exact measurement of its
  output (whole path); its other measures and the identity analyses (key, chords, melody,
  sections) from one pass over the result, shared by the scores and the report's summary.
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


def _render_streamed(path, analysis, plan, out_path, rate, subtype, tags, stem_folder,
                     ref_curve, meter, step, segment_seconds):
    """The block path of :func:`refresh`: render segment by segment straight into the output
    writer, measuring the result (sound meter, mono analysis copy) on the way."""
    import contextlib

    import soxr

    from .analysis import ANALYSIS_QUALITY, ANALYSIS_RATE
    from .analysis.sound import SoundMeter
    from .io import AudioWriter
    from .produce.blocks import render_blocks

    new_meter = SoundMeter(rate, 2)
    resampler = soxr.ResampleStream(rate, ANALYSIS_RATE, 1, dtype="float32",
                                     quality=ANALYSIS_QUALITY) \
        if rate != ANALYSIS_RATE else None
    # the result's mono analysis copy, preallocated from the known length (a list of pieces
    # joined at the end would hold it twice: 0.3 GB more for an hour)
    n_new = round(plan.duration_seconds * rate) if plan.duration_seconds > 0 else \
        round(analysis.duration_seconds * rate)
    y_new = np.zeros(int(n_new * ANALYSIS_RATE / rate) + 4096, np.float32)
    filled = 0

    def keep(piece: np.ndarray) -> None:
        nonlocal y_new, filled
        if filled + len(piece) > len(y_new):  # (only if the estimate was short)
            y_new = np.concatenate([y_new[:filled], np.zeros(len(piece) + 4096, np.float32)])
        y_new[filled:filled + len(piece)] = piece
        filled += len(piece)

    stem_paths: dict[str, Path] = {}
    with contextlib.ExitStack() as stack:
        writer = stack.enter_context(AudioWriter(out_path, rate, 2, subtype=subtype,
                                                 tags_from=path, tags=tags, source=path))
        stem_writers: dict[str, AudioWriter] = {}

        def sink(block: np.ndarray) -> None:
            with meter.stage("encode"):
                writer.write(block)
            with meter.stage("score"):
                new_meter.process(block)
                mono = block.mean(axis=0, dtype=np.float32)
                keep(resampler.resample_chunk(mono) if resampler is not None else mono)

        def stem_sink(name: str, block: np.ndarray) -> None:
            with meter.stage("encode"):
                if name not in stem_writers:
                    target = stem_folder / f"{out_path.stem}.{name}.flac"
                    stem_writers[name] = stack.enter_context(AudioWriter(target, rate, 2))
                    stem_paths[name] = target
                stem_writers[name].write(np.clip(block, -1, 1))

        report = render_blocks(path, analysis, plan, sink, meter=meter,
                               stem_sink=stem_sink if stem_folder is not None else None,
                               reference_curve=ref_curve, progress=step,
                               segment_seconds=segment_seconds)
        step("save")
    with meter.stage("score"):
        if resampler is not None:
            keep(resampler.resample_chunk(np.zeros(0, np.float32), last=True))
        y_new = y_new[:filled]
        new_sound = new_meter.result()
    master_rep = dict(report["master"], segments=report["segment_masters"],
                      loudness_after_lufs=round(new_sound.integrated_lufs, 3),
                      true_peak_after_dbtp=round(new_sound.true_peak_dbtp, 3))
    return (new_sound, y_new, writer.frames, stem_paths if stem_folder is not None else None,
            report["restore"], master_rep)


def refresh(path: str | os.PathLike, *, style: str = "auto", intensity: float = 0.7,
            seed: int = 1, out: str | os.PathLike | None = None,
            reference: str | os.PathLike | None = None, stems: str | os.PathLike | None = None,
            midi: str | os.PathLike | None = None, overwrite: bool = False,
            progress: Callable[[str], None] | None = None,
            segment_seconds: float | None = None) -> RefreshResult:
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
    segment_seconds : float, optional
        Render in segments of this many seconds of the original, streaming the output
        (:mod:`reissue.produce.blocks`): bounded memory whatever the length. Default: the
        whole-signal render up to ``LONG_SECONDS`` (5 min), segments of ``SEGMENT_SECONDS``
        (2 min) beyond.
    """
    from . import __version__
    from .analysis import analysis_signal, analyze_path, analyze_signal
    from .analysis.frontend import beat_chroma, low_rate_features
    from .analysis.sound import SoundMeter
    from .arrange import plan as make_plan
    from .cost import CostMeter
    from .errors import AudioFileError, ParameterError
    from .io import Audio, _open, load, save
    from .produce.blocks import LONG_SECONDS, SEGMENT_SECONDS
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
    with meter.stage("decode"), _open(path) as f:
        rate, channels, frames, in_subtype = (int(f.samplerate), int(f.channels),
                                              int(f.frames), f.subtype)
    duration = frames / rate if rate > 0 else 0.0
    if segment_seconds is None and duration > LONG_SECONDS:
        segment_seconds = SEGMENT_SECONDS
    blocks = segment_seconds is not None and frames > 0
    audio = y = None
    if not blocks:
        with meter.stage("decode"):
            audio = load(path)
        rate, channels, in_subtype = audio.sample_rate, audio.channels, audio.subtype
        duration = audio.duration_seconds
    meter.cost.audio_seconds = duration

    step("analyse")
    with meter.stage("analysis"):
        if blocks:  # streamed: the full-rate signal is never held whole
            analysis = analyze_path(path)
        else:
            sound_meter = SoundMeter(rate, channels)
            sound_meter.process(audio.samples)
            y = analysis_signal(audio.samples, rate)
            analysis = analyze_signal(sound_meter.result(), y, duration, rate, channels,
                                      file=str(path))
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

    subtype = in_subtype if in_subtype and in_subtype.startswith("PCM") else None
    if subtype == "PCM_U8" or subtype == "PCM_S8":
        subtype = "PCM_16"
    subtype = subtype if out_path.suffix.lower() in (".wav", ".flac", ".aiff") else None
    tags = {"comment": f"reissue {__version__}: {chosen.name}, intensity "
                       f"{float(intensity):.2f}, seed {int(seed)}"}
    stem_folder = Path(stems) if stems is not None else None
    if stem_folder is not None:
        stem_folder.mkdir(parents=True, exist_ok=True)

    if blocks:
        new_sound, y_new, out_frames, stem_paths, restore_rep, master_rep = _render_streamed(
            path, analysis, the_plan, out_path, rate, subtype, tags, stem_folder, ref_curve,
            meter, step, segment_seconds)
    else:
        rendered = render(audio.samples, rate, analysis, the_plan, meter=meter,
                          keep_stems=stems is not None, reference_curve=ref_curve,
                          progress=step)
        del audio
        restore_rep, master_rep = rendered.restore, rendered.master
        out_frames = rendered.samples.shape[1]
        step("save")
        with meter.stage("encode"):
            save(Audio(rendered.samples, rate), out_path, subtype=subtype, tags_from=path,
                 tags=tags)
            stem_paths = None
            if stem_folder is not None:
                stem_paths = {}
                for name, data in rendered.stems.items():
                    stem_paths[name] = save(Audio(np.clip(data, -1, 1), rate),
                                            stem_folder / f"{out_path.stem}.{name}.flac")
        step("score")
        with meter.stage("score"):
            # the master measured its output's loudness segments and true peak exactly: the
            # meter does the rest (spectrum, stereo, noise, clipping) without K-weighting again
            known = rendered.measures
            new_meter = SoundMeter(rate, 2, loudness="loudness_segments" not in known,
                                   true_peak="true_peak" not in known)
            new_meter.process(rendered.samples)
            new_sound = new_meter.result(loudness_segments=known.get("loudness_segments"),
                                         true_peak=known.get("true_peak"))
            y_new = analysis_signal(rendered.samples, rate)
        del rendered

    midi_path = None
    if midi is not None:
        with meter.stage("encode"):
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

    with meter.stage("score"):
        from .analysis.form import analyze_form
        from .analysis.melody import analyze_melody
        from .analysis.tonal import analyze_tonal

        beats_new = np.asarray(the_plan.beats_seconds)
        result_tonal = analyze_tonal(y_new, 22050, beats_seconds=beats_new)
        result_melody = analyze_melody(y_new, 22050)
        spec_new = low_rate_features(y_new, 22050)
        result_form = analyze_form(y_new, 22050, beats_seconds=beats_new,
                                   downbeats_seconds=the_plan.downbeats_seconds,
                                   features=spec_new)
        del y_new
        orig_features = analysis.features if analysis.features is not None \
            else low_rate_features(y, 22050)
        orig_chroma = beat_chroma(orig_features, analysis.rhythm.beats_seconds)
        new_chroma = beat_chroma(spec_new, beats_new)
        identity = identity_score(analysis, the_plan, original_chroma=orig_chroma,
                                  result_chroma=new_chroma, result_tonal=result_tonal,
                                  result_melody=result_melody, result_form=result_form)
        # with --reference the master EQs toward the reference's curve, so that curve is the
        # spectrum target modernity measures against (not the style's)
        target = the_plan.master if ref_curve is None else \
            {**the_plan.master, "curve_db": ref_curve}
        modern_new = modernity_score(new_sound, target)
        modern_orig = modernity_score(analysis.sound, target)
        if ref_curve is not None:
            for score in (modern_new, modern_orig):
                score.details["spectrum_target"] = "reference"
    cost = meter.finish()

    from .analysis import Analysis

    result_analysis = Analysis(duration_seconds=out_frames / rate,
                               sample_rate=rate, channels=2, sound=new_sound,
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
                                              modern_orig.components.items()},
                      "original_details": modern_orig.details},
        "plan": {k: v for k, v in the_plan.to_dict().items() if k != "time_map"},
        "restoration": restore_rep, "master": master_rep,
        "cost": cost.to_dict(),
        "files": {"audio": str(out_path), "midi": str(midi_path) if midi_path else None,
                  "stems": {k: str(v) for k, v in (stem_paths or {}).items()}},
    }
    write_json(report, report_path)
    return RefreshResult(out_path, report_path, report, midi_path, stem_paths)
