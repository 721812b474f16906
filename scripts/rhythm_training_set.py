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
MELODY_PROGRAMS = [73, 68, 40, 71, 56, 74, 0, 60, 41, 11]
ACCOMP_PROGRAMS = [0, 48, 19, 46, 24, 6, 52, 21, 42]
BASS_PROGRAMS = [32, 42, 0, 19, 70, 33]
# polyphonic sources first; folk tunes (monophonic) bring most of the compound meters
SOURCES = ("bach", "haydn", "mozart", "beethoven", "schumann", "monteverdi", "corelli", "handel",
           "joplin", "schubert", "verdi", "cpebach", "chopin", "ryansMammoth", "oneills1850",
           "essenFolksong", "airdsAirs", "miscFolk")
SKIP = ("choraleAnalyses", ".rntxt", "bach/bwv248.23-2")


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
        if not rel.startswith(SOURCES) or any(k in rel for k in SKIP):
            continue
        stem = rel.rsplit(".", 1)[0] if rel.endswith((".mxl", ".abc", ".xml", ".krn")) else rel
        if rel in exclude or stem in exclude:
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


def render_one(rel: str, out: Path, rng: np.random.Generator, seconds: float, exclude: set[str],
               meters: set[str] = METERS) -> dict | None:
    import pretty_midi
    from music21 import meter

    score, rid = _load(rel, rng)
    if score is None or rid in exclude:
        return None
    if rel.startswith(("ryansMammoth", "oneills", "essen", "airds", "miscFolk")) and \
            rng.random() < 0.5:
        return None  # keep the folk tunes (monophonic) a minority
    sigs = {t.ratioString for t in score.recurse().getElementsByClass(meter.TimeSignature)}
    if len(sigs) != 1 or not sigs <= meters or not score.parts:
        return None
    ts = next(iter(score.recurse().getElementsByClass(meter.TimeSignature)))
    bar_ql, beat_ql = _q(ts.barDuration.quarterLength), _q(ts.beatDuration.quarterLength)
    beats, downs = _grid(score.parts[0], bar_ql, beat_ql)
    parts = _events(score)
    if len(downs) < 6 or not parts:
        return None
    compound = ts.ratioString in ("6/8", "9/8", "12/8")
    bpm = float(rng.uniform(70, 120 if compound else 160))
    sec_per_ql = 60.0 / bpm / float(beat_ql)
    total_ql = max(e for p in parts for _, e, _ in p)
    # a random whole-bar excerpt of at most `seconds`
    span_ql = _q(seconds / sec_per_ql)
    starts = [d for d in downs if d + span_ql * Fraction(2, 3) <= total_ql] or [downs[0]]
    q0 = starts[int(rng.integers(len(starts)))] if rng.random() < 0.6 else Fraction(0)
    q1 = min(total_ql, q0 + span_ql)
    lead_in = float(rng.uniform(0.2, 1.5))

    def t(q) -> float:
        return lead_in + float(q - q0) * sec_per_ql

    midi = pretty_midi.PrettyMIDI(initial_tempo=120.0)
    mel, acc, bass = (int(rng.choice(MELODY_PROGRAMS)), int(rng.choice(ACCOMP_PROGRAMS)),
                      int(rng.choice(BASS_PROGRAMS)))
    for i, ev in enumerate(parts):
        if i == 0:
            prog, vel = mel, int(rng.integers(85, 110))
        elif i == len(parts) - 1 and len(parts) >= 3:
            prog, vel = bass, int(rng.integers(60, 85))
        else:
            prog, vel = acc, int(rng.integers(55, 80))
        inst = pretty_midi.Instrument(program=prog)
        for s, e, p in ev:
            if s >= q1 or e <= q0:
                continue
            inst.notes.append(pretty_midi.Note(velocity=vel, pitch=p, start=t(max(s, q0)),
                                               end=t(min(e, q1))))
        midi.instruments.append(inst)
    end_ql = q1
    drums = bool(rng.random() < 0.25)
    beats = [b for b in beats if q0 <= b < end_ql]
    downs = [d for d in downs if q0 <= d < end_ql]
    if len(downs) < 6:
        return None
    if drums:
        kit = pretty_midi.Instrument(program=0, is_drum=True)
        sub = beat_ql / (3 if beat_ql % 3 == 0 or float(beat_ql) == 1.5 else 2)
        q = downs[0] - (((downs[0] - q0) // sub) * sub)
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
    ap.add_argument("--meters", default=",".join(sorted(METERS)),
                    help="comma-separated meters to render (default: all)")
    ap.add_argument("--exclude", type=Path, nargs="*", default=[],
                    help="accuracy truth JSONs (files or directories) or .txt lists of corpus "
                         "paths whose pieces must not be used")
    args = ap.parse_args(argv)
    exclude: set[str] = set()
    for m in args.exclude:  # accuracy truth files, a directory of them, or a list of paths
        if m.suffix == ".txt":
            for line in m.read_text().split():
                exclude.update({line, line.rsplit(".", 1)[0]})
            continue
        files = sorted(m.glob("*.json")) if m.is_dir() else [m]
        for f in files:
            src = json.loads(f.read_text()).get("source") or {}
            if "corpus_path" in src:
                path = src["corpus_path"]
                exclude.add(path.rsplit(".", 1)[0] if path.endswith((".mxl", ".abc")) else path)
                exclude.add(path)
    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    cands = _candidates(exclude)
    order = rng.permutation(len(cands))
    made = 0
    for i in order:
        if made >= args.count:
            break
        try:
            if render_one(cands[i][0], args.out, rng, args.seconds, exclude,
                          set(args.meters.split(","))):
                made += 1
                print(made, cands[i][0], file=sys.stderr)
        except Exception as err:  # noqa: BLE001 - a corpus file music21 cannot handle is skipped
            print("skip", cands[i][0], type(err).__name__, err, file=sys.stderr)


if __name__ == "__main__":
    main()
