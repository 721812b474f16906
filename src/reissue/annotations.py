"""Analyses as JAMS files (the MIR annotation format), so MIR tools can read them.

Conventions
-----------
One JAMS file per analysed recording, with one annotation per kind, each tagged with
``annotator.name = "reissue"`` and the software version:

* ``beat`` — every beat; value = position in the bar (1 = downbeat), from the downbeats;
* ``tempo`` — the global tempo, confidence = rhythm confidence;
* ``key_mode`` — one observation per section key (``"F#:minor"``);
* ``chord`` — Harte labels (``"F#:min"``, ``"N"``);
* ``note_midi`` — the melody's notes (value = MIDI pitch);
* ``segment_open`` — sections with their labels.
The file is written atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["to_jams", "save_jams"]


def _key_mode(key: str) -> str:
    tonic, _, mode = key.partition(" ")
    return f"{tonic}:{mode}" if mode else tonic


def to_jams(analysis):
    """Build a ``jams.JAMS`` object from an :class:`~reissue.analysis.Analysis`."""
    import bisect

    import jams

    from . import __version__

    jam = jams.JAMS()
    jam.file_metadata.duration = float(analysis.duration_seconds)
    if analysis.file:
        jam.file_metadata.title = Path(analysis.file).stem

    def annotation(namespace: str):
        ann = jams.Annotation(namespace=namespace, duration=float(analysis.duration_seconds))
        ann.annotation_metadata.annotator.name = "reissue"
        ann.annotation_metadata.version = __version__
        ann.annotation_metadata.data_source = "reissue analyze"
        return ann

    r = analysis.rhythm
    if r is not None:
        beats = annotation("beat")
        downs = sorted(r.downbeats_seconds)
        position = 0  # 0 = pickup beats before the first downbeat
        for t in r.beats_seconds:
            i = bisect.bisect_left(downs, t - 0.02)
            if i < len(downs) and abs(downs[i] - t) <= 0.02:
                position = 1
            elif position:
                position += 1
            beats.append(time=float(t), duration=0.0, value=int(position), confidence=None)
        jam.annotations.append(beats)
        tempo = annotation("tempo")
        tempo.append(time=0.0, duration=float(analysis.duration_seconds),
                     value=float(r.tempo_bpm), confidence=float(r.confidence))
        jam.annotations.append(tempo)
    t = analysis.tonal
    if t is not None:
        keys = annotation("key_mode")
        for start, end, key in (t.section_keys or ((0.0, analysis.duration_seconds, t.key),)):
            keys.append(time=float(start), duration=float(end - start), value=_key_mode(key),
                        confidence=float(t.key_confidence))
        jam.annotations.append(keys)
        chords = annotation("chord")
        for start, end, label in t.chords:
            chords.append(time=float(start), duration=float(end - start), value=label)
        jam.annotations.append(chords)
    m = analysis.melody
    if m is not None:
        notes = annotation("note_midi")
        for start, end, pitch in m.notes:
            notes.append(time=float(start), duration=float(end - start), value=float(pitch))
        jam.annotations.append(notes)
    f = analysis.form
    if f is not None:
        segs = annotation("segment_open")
        for s in f.sections:
            segs.append(time=s.start_seconds, duration=s.end_seconds - s.start_seconds,
                        value=s.label)
        jam.annotations.append(segs)
    return jam


def save_jams(analysis, path: str | os.PathLike) -> Path:
    """Write :func:`to_jams` to ``path`` atomically; returns the path."""
    path = Path(path)
    jam = to_jams(analysis)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".part.jams",
                               dir=path.parent if str(path.parent) else ".")
    os.close(fd)
    try:
        jam.save(tmp, strict=False)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
