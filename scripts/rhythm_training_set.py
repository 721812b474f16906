"""Render a training set for the rhythm analysis's meter model: music21 corpus excerpts, FluidSynth.

Development tool, not part of the package: needs ``music21`` (pip) and the ``fluidsynth`` program
with the GM SoundFont ``/usr/share/sounds/sf2/FluidR3_GM.sf2``. Pieces listed in the accuracy
benchmark's manifests (``--exclude``; dev *and* test) are skipped, so the model never sees a
benchmark piece.

Each item: ``<id>.flac`` (22.05 kHz mono) and ``<id>.json`` with ``meter``, ``tempo_bpm`` (notated
beats), ``beats``, ``downbeats`` (seconds). Excerpts are up to ``--seconds`` long at a random
notated tempo of 70–160 BPM, played by random General MIDI instruments, a quarter of them with an
added drum part (kick on the downbeat, snare on the back beats, hats on the beat subdivisions).

Run: ``.venv/bin/python scripts/rhythm_training_set.py OUT_DIR --count 300 --seed 1``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from fractions import Fraction
from pathlib import Path

import numpy as np

SOUNDFONT = "/usr/share/sounds/sf2/FluidR3_GM.sf2"
METERS = {"2/4", "3/4", "4/4", "6/8", "9/8", "12/8"}
# GM programs: piano, harpsichord, organ, guitar, strings, violin, cello, choir, flute, oboe,
# clarinet, horn, bassoon, vibraphone, accordion, harp
PROGRAMS = [0, 6, 19, 24, 48, 40, 42, 52, 73, 68, 71, 60, 70, 11, 21, 46]
SOURCES = ("ryansMammoth", "bach", "oneills1850", "essenFolksong", "haydn", "mozart",
           "beethoven", "monteverdi", "airdsAirs", "schumann", "demos", "miscFolk", "handel",
           "corelli", "joplin")


def _q(x) -> Fraction:
    return Fraction(x).limit_denominator(10080)


def _grid(part, bar_ql: Fraction, beat_ql: Fraction):
    """Beats and downbeats (ql) of a single-meter part, pickup handled by the first bar's phase."""
    from music21 import stream

    beats, downs = [], []
    measures = list(part.getElementsByClass(stream.Measure))
    phase = Fraction(0)
    for i, m in enumerate(measures):
        start, length = _q(m.offset), _q(m.duration.quarterLength)
        if i == 0 and length < bar_ql:
            phase = bar_ql - length
        k = -((-phase) // beat_ql) if phase % beat_ql else phase // beat_ql
        pos = k * beat_ql
        while pos < phase + length:
            t = start + pos - phase
            beats.append(t)
            if pos % bar_ql == 0:
                downs.append(t)
            pos += beat_ql
        phase = (phase + length) % bar_ql
    return beats, downs


def _events(score):
    out = []
    for part in score.parts:
        ev = []
        for n in part.stripTies(inPlace=False).flatten().notes:
            if n.duration.isGrace or n.quarterLength == 0:
                continue
            s, e = _q(n.offset), _q(n.offset) + _q(n.quarterLength)
            for p in (n.pitches if n.isChord else (n.pitch,)):
                ev.append((s, e, int(round(p.ps))))
        if ev:
            out.append(ev)
    return out


def _candidates(exclude: set[str]) -> list[tuple[str, int | None]]:
    from music21 import corpus

    items = []
    for p in corpus.getPaths():
        rel = str(p).split("/corpus/")[-1]
        if not rel.startswith(SOURCES) or rel.endswith((".mxl.orig",)):
            continue
        if Path(rel).stem in exclude or rel in exclude:
            continue
        items.append((rel, None))
    return items


def _load(rel: str, rng: np.random.Generator):
    from music21 import corpus, stream

    s = corpus.parse(rel)
    if isinstance(s, stream.Opus):
        scores = list(s.scores)
        if not scores:
            return None, rel
        j = int(rng.integers(len(scores)))
        s = scores[j]
        rel = f"{rel}#{j}"
    return s, rel


def render_one(rel: str, out: Path, rng: np.random.Generator, seconds: float, exclude: set[str]
               ) -> dict | None:
    import pretty_midi
    from music21 import meter

    score, rid = _load(rel, rng)
    if score is None or rid in exclude:
        return None
    sigs = {t.ratioString for t in score.recurse().getElementsByClass(meter.TimeSignature)}
    if len(sigs) != 1 or not sigs <= METERS or not score.parts:
        return None
    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)))
    bar_ql, beat_ql = _q(ts.barDuration.quarterLength), _q(ts.beatDuration.quarterLength)
    beats, downs = _grid(score.parts[0], bar_ql, beat_ql)
    parts = _events(score)
    if len(downs) < 6 or not parts:
        return None
    bpm = float(rng.uniform(70, 160))
    sec_per_ql = 60.0 / bpm / float(beat_ql)
    end_ql = min(max(e for p in parts for _, e, _ in p), _q(seconds / sec_per_ql))
    lead_in = float(rng.uniform(0.2, 1.5))

    def t(q) -> float:
        return lead_in + float(q) * sec_per_ql

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    for ev in parts:
        inst = pretty_midi.Instrument(program=int(rng.choice(PROGRAMS)))
        vel = int(rng.integers(70, 110))
        for s, e, p in ev:
            if s >= end_ql:
                continue
            inst.notes.append(pretty_midi.Note(velocity=int(np.clip(vel + rng.integers(-8, 9),
                                                                    30, 127)),
                                               pitch=p, start=t(s), end=t(min(e, end_ql))))
        midi.instruments.append(inst)
    drums = bool(rng.random() < 0.25)
    beats = [b for b in beats if b < end_ql]
    downs = [d for d in downs if d < end_ql]
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        sub = beat_ql / (3 if beat_ql % 3 == 0 or float(beat_ql) == 1.5 else 2)
        q = downs[0] - ((downs[0] // sub) * sub)
        per_bar = int(bar_ql / beat_ql)
        while q < end_ql:
            pos = (q - downs[0]) % bar_ql
            if pos == 0:
                kit.notes.append(pretty_midi.Note(100, 36, t(q), t(q) + 0.1))
            elif pos % beat_ql == 0 and (per_bar == 3 or (pos // beat_ql) % 2 == 1):
                kit.notes.append(pretty_midi.Note(85, 38, t(q), t(q) + 0.1))
            kit.notes.append(pretty_midi.Note(60 if pos % beat_ql else 75, 42, t(q), t(q) + 0.05))
            q += sub
        midi.instruments.append(kit)
    truth = {"id": rid, "meter": ts.ratioString, "tempo_bpm": bpm, "drums": drums,
             "beats": [t(b) for b in beats], "downbeats": [t(d) for d in downs]}
    name = f"{len(list(out.glob('*.json'))):04d}"
    with tempfile.TemporaryDirectory() as tmp:
        mid = Path(tmp) / "x.mid"
        wav = Path(tmp) / "x.wav"
        midi.write(str(mid))
        subprocess.run(["fluidsynth", "-ni", "-g", "0.6", "-r", "22050", "-F", str(wav),
                        SOUNDFONT, str(mid)], check=True, capture_output=True)
        subprocess.run(["sox", str(wav), "-c", "1", str(out / f"{name}.flac")], check=True)
    (out / f"{name}.json").write_text(json.dumps(truth))
    return truth


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--seconds", type=float, default=40.0)
    ap.add_argument("--exclude", type=Path, nargs="*", default=[],
                    help="accuracy manifests whose pieces must not be used")
    args = ap.parse_args(argv)
    exclude: set[str] = set()
    for m in args.exclude:
        for item in json.loads(m.read_text())["items"]:
            for key in ("source", "piece", "id"):
                if key in item:
                    exclude.add(str(item[key]))
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cands = _candidates(exclude)
    order = rng.permutation(len(cands))
    made = 0
    for i in order:
        if made >= args.count:
            break
        try:
            if render_one(cands[i][0], args.out, rng, args.seconds, exclude):
                made += 1
                print(made, cands[i][0], file=sys.stderr)
        except Exception as err:  # noqa: BLE001 - a corpus file music21 cannot handle is skipped
            print("skip", cands[i][0], type(err).__name__, err, file=sys.stderr)


if __name__ == "__main__":
    main()
