"""Build the accuracy sets (issue 3): ``synthetic`` and ``music21``, audio + truth + manifest.

Usage::

    .venv/bin/python benchmarks/accuracy/build.py [--out DIR] [--set synthetic|music21]
                                                  [--force] [--limit N] [--verify]

Layout (see /work/notes/interfaces.md)::

    <out>/<set>/manifest.json   {"set", "items": [{"id", "audio", "truth", "split", "tags"}]}
    <out>/<set>/<id>.flac       44.1 kHz stereo, 16-bit
    <out>/<set>/<id>.json       truth

Deterministic: the same code gives the same files; existing items are skipped (``--force``
rebuilds). The ``music21`` set needs the music21 package, ``fluidsynth`` and the GM SoundFont
``/usr/share/sounds/sf2/FluidR3_GM.sf2`` (Debian: fluidsynth, fluid-soundfont-gm).

Rendering (music21 set): the note events the truth is computed from are written to a MIDI file with
pretty_midi at the chosen constant tempo (the score's own tempo marks, dynamics, fermatas and
repeats are ignored), then rendered by ``fluidsynth -ni -F out.wav -r 44100 <sf2> in.mid``, peak
normalised to −1 dBFS and stored as FLAC. Music starts ``LEAD_IN_SECONDS`` into the file.
``--verify`` checks every item's truth against its audio: the lag that maximises the onset
envelope at the truth note onsets must be small (the same check on the synthetic set, whose truth
is exact by construction, gives the envelope's own lag as the reference).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import numpy as np  # noqa: E402

DEFAULT_OUT = Path(os.environ.get("REISSUE_ACCURACY_DATA",
                              Path(__file__).resolve().parents[1] / "data" / "accuracy"))
SOUNDFONT = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
LEAD_IN_SECONDS = 0.5
TAIL_SECONDS = 2.0
SAMPLE_RATE = 44100
PEAK_DBFS = -1.0
# FluidSynth 2.3 starts a note 4.0–5.1 ms after its MIDI time (measured: first sample above 2 % of
# the peak, piano and GM drums); the rendered audio is advanced by this much so that truth = MIDI
# time is also the acoustic onset of percussive sounds.
FLUIDSYNTH_LATENCY_SECONDS = 0.004


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _write_json(path: Path, data) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(tmp, path)


def _save_flac(x: np.ndarray, path: Path) -> None:
    from reissue.io import Audio, save

    x = np.asarray(x, np.float32)
    x = x * np.float32(10 ** (PEAK_DBFS / 20) / max(float(np.abs(x).max()), 1e-9))
    save(Audio(x, SAMPLE_RATE), path, subtype="PCM_16")


def _manifest(set_name: str, items: list[dict], out: Path) -> None:
    _write_json(out / "manifest.json", {"set": set_name, "items": items})


# ----------------------------------------------------------------------------------- synthetic
def build_synthetic(out: Path, *, force: bool = False, limit: int | None = None) -> list[dict]:
    import synthetic_set as S

    out.mkdir(parents=True, exist_ok=True)
    specs = list(S.SPECS)[:limit] if limit else list(S.SPECS)
    # split: alternate dev/test inside each meter group (list order)
    counters: dict[str, int] = {}
    items = []
    for spec in specs:
        k = counters.get(spec.meter, 0)
        counters[spec.meter] = k + 1
        split = "dev" if k % 2 == 0 else "test"
        audio, truth_path = out / f"{spec.id}.flac", out / f"{spec.id}.json"
        if force or not (audio.exists() and truth_path.exists()):
            t0 = time.time()
            x, truth = S.build_item(spec)
            truth["split"] = split
            _save_flac(x, audio)
            _write_json(truth_path, truth)
            _log(f"synthetic {spec.id}: {truth['duration_seconds']:.1f} s "
                 f"({time.time() - t0:.1f} s)")
        truth = json.loads(truth_path.read_text())
        items.append({"id": spec.id, "audio": audio.name, "truth": truth_path.name,
                      "split": split, "tags": truth["tags"]})
    _manifest("synthetic", items, out)
    return items


# ------------------------------------------------------------------------------------ music21
def _parse(path: str, number: int | None):
    from music21 import corpus, stream

    s = corpus.parse(path, number=number) if number is not None else corpus.parse(path)
    if isinstance(s, stream.Opus):
        s = s.scores[0]
    try:
        s = s.toSoundingPitch()
    except Exception as err:  # noqa: BLE001 - music21 raises plain Exceptions here
        _log(f"  toSoundingPitch failed for {path} ({err}); using written pitch")
    return s


def _excerpt_measures(score, first: int, tempo_bpm: float) -> tuple[int, float]:
    """(number of whole measures closest to TARGET_SECONDS, their seconds); at most MAX_SECONDS,
    never crossing a time-signature change."""
    from music21 import stream

    from pieces import MAX_SECONDS, MIN_SECONDS, TARGET_SECONDS
    from truth_music21 import _measure_grid

    measures = list(score.parts[0].getElementsByClass(stream.Measure))
    grid = _measure_grid(score.parts[0], first, len(measures) - 1)
    ts0 = grid[0][3].ratioString
    sec_per_ql = 60.0 / tempo_bpm / float(grid[0][3].beatDuration.quarterLength)
    total, best, best_err, best_total = 0.0, 1, math.inf, 0.0
    for n, (_, length, _, ts) in enumerate(grid, start=1):
        if ts.ratioString != ts0:
            break
        total += float(length) * sec_per_ql
        if total > MAX_SECONDS:
            break
        err = abs(total - TARGET_SECONDS)
        if err < best_err:
            best, best_err, best_total = n, err, total
    return best, best_total


def _drum_notes(truth: dict, meter: str) -> list[tuple[float, int, int]]:
    """(time_s, GM drum key, velocity): kick/snare on beats, closed hat on every eighth."""
    beats, downs = truth["beats"], set(truth["downbeats"])
    if not truth["downbeats"]:
        return []
    first = truth["downbeats"][0]
    per_bar = {"4/4": 4, "3/4": 3, "2/4": 2, "6/8": 2, "9/8": 3, "12/8": 4}[meter]
    sub = 3 if meter in ("6/8", "9/8", "12/8") else 2
    out = []
    ibi = float(np.median(np.diff(beats)))
    pos = 0
    for i, b in enumerate(beats):
        if b < first - 1e-6:
            continue
        if b in downs:
            pos = 0
        if pos == 0 or (per_bar == 4 and pos == 2):
            out.append((b, 36, 96 if pos == 0 else 84))
        else:
            out.append((b, 38, 80 if per_bar != 3 else 62))
        nxt = beats[i + 1] if i + 1 < len(beats) else b + ibi
        for k in range(sub):
            out.append((b + k * (nxt - b) / sub, 42, 64 if k == 0 else 48))
        pos += 1
    return out


def _write_midi(truth: dict, parts_sec: list[list[tuple[float, float, int]]], rule,
                path: Path) -> None:
    import pretty_midi

    pm = pretty_midi.PrettyMIDI(resolution=960, initial_tempo=120.0)
    n_parts = len(parts_sec)
    for i, events in enumerate(parts_sec):
        if i == 0:
            prog, vel = rule.melody_program, 100
        elif i == n_parts - 1 and n_parts >= 3:
            prog, vel = rule.bass_program, 72
        else:
            prog, vel = rule.accomp_program, 68
        inst = pretty_midi.Instrument(program=prog, name=f"part{i}")
        for s, e, m in events:
            inst.notes.append(pretty_midi.Note(velocity=vel, pitch=int(m), start=s, end=e))
        pm.instruments.append(inst)
    if rule.drums:
        drums = pretty_midi.Instrument(program=0, is_drum=True, name="drums")
        for t, key, vel in _drum_notes(truth, rule.meter):
            drums.notes.append(pretty_midi.Note(velocity=vel, pitch=key, start=t, end=t + 0.1))
        pm.instruments.append(drums)
    pm.write(str(path))


def _fluidsynth(mid: Path, wav: Path, gain: float) -> None:
    cmd = ["fluidsynth", "-ni", "-g", f"{gain}", "-F", str(wav), "-r", str(SAMPLE_RATE),
           str(SOUNDFONT), str(mid)]
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0 or not wav.exists():
        raise RuntimeError(f"fluidsynth failed ({res.returncode}): {res.stderr[-500:]}")


def check_renderer() -> str | None:
    """None if FluidSynth and the SoundFont are there, else a message saying what to install."""
    if shutil.which("fluidsynth") is None:
        return "fluidsynth not found: install the Debian package 'fluidsynth'"
    if not SOUNDFONT.exists():
        return f"{SOUNDFONT} not found: install the Debian package 'fluid-soundfont-gm'"
    return None


def build_music21_item(rule, out: Path, *, truth_only: bool = False) -> dict:
    """Render one piece; returns its truth dict (also written). ``truth_only`` rewrites the truth
    JSON and keeps the audio (valid when only the truth extraction changed, not the notes)."""
    from truth_music21 import extract_truth, to_seconds

    from reissue.io import load

    from pieces import MIN_SECONDS

    score = _parse(rule.path, rule.number)
    n_meas, seconds = _excerpt_measures(score, rule.first_measure, rule.tempo_bpm)
    expanded = False
    if seconds < MIN_SECONDS:
        # a short piece (chorale, folk tune): play its repeats, as a performance would
        try:
            longer = score.expandRepeats()
            n2, s2 = _excerpt_measures(longer, rule.first_measure, rule.tempo_bpm)
            if s2 > seconds:
                score, n_meas, seconds, expanded = longer, n2, s2, True
        except Exception as err:  # noqa: BLE001 - music21 raises plain Exceptions
            _log(f"  {rule.id}: expandRepeats failed ({err}); keeping the written form")
    st = extract_truth(score, first_measure=rule.first_measure, n_measures=n_meas)
    if st.meter != rule.meter:
        raise ValueError(f"{rule.id}: excerpt meter {st.meter} != expected {rule.meter}")
    truth = to_seconds(st, tempo_bpm=rule.tempo_bpm, lead_in_seconds=LEAD_IN_SECONDS,
                       tail_seconds=TAIL_SECONDS)
    sec_per_ql = 60.0 / rule.tempo_bpm / st.beat_ql
    parts_sec = [[(LEAD_IN_SECONDS + s * sec_per_ql, LEAD_IN_SECONDS + e * sec_per_ql, m)
                  for s, e, m in evs] for evs in st.parts]
    monophonic = sum(1 for evs in st.parts if evs) <= 1
    tags = [f"meter:{rule.meter}"]
    if rule.drums:
        tags.append("drums")
    if monophonic:
        tags.append("monophonic")
    truth.update({
        "tags": tags,
        "split": rule.split,
        "source": {"corpus_path": rule.path, "number": rule.number,
                   "first_measure": rule.first_measure, "n_measures": n_meas,
                   "repeats_expanded": expanded,
                   "parts": st.part_names, "melody_program": rule.melody_program,
                   "accomp_program": rule.accomp_program, "bass_program": rule.bass_program,
                   "soundfont": SOUNDFONT.name},
    })
    if truth_only and (out / f"{rule.id}.flac").exists():
        _write_json(out / f"{rule.id}.json", truth)
        return truth
    with tempfile.TemporaryDirectory(prefix="reissue-acc-") as tmp:
        mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
        _write_midi(truth, parts_sec, rule, mid)
        gain = 0.5
        for _ in range(4):
            _fluidsynth(mid, wav, gain)
            audio = load(wav)
            if float(np.abs(audio.samples).max()) < 0.99:
                break
            gain *= 0.5  # clipped inside fluidsynth's 16-bit output: render quieter
        x = audio.samples[:, int(round(FLUIDSYNTH_LATENCY_SECONDS * SAMPLE_RATE)):]
        if x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)
        n = int(round(truth["duration_seconds"] * SAMPLE_RATE))
        if x.shape[1] < n:
            x = np.pad(x, ((0, 0), (0, n - x.shape[1])))
        x = x[:, :n]
        _save_flac(x, out / f"{rule.id}.flac")
    _write_json(out / f"{rule.id}.json", truth)
    return truth


def build_music21(out: Path, *, force: bool = False, limit: int | None = None,
                  truth_only: bool = False) -> list[dict]:
    from pieces import rules

    msg = check_renderer()
    if msg:
        raise SystemExit(f"cannot build the music21 set: {msg}")
    out.mkdir(parents=True, exist_ok=True)
    rs = rules()
    if limit:
        # keep the meter stratification when limiting: round-robin over meter groups
        groups: dict[str, list] = {}
        for r in rs:
            groups.setdefault(r.meter, []).append(r)
        picked, i = [], 0
        while len(picked) < min(limit, len(rs)):
            for g in groups.values():
                if i < len(g) and len(picked) < limit:
                    picked.append(g[i])
            i += 1
        rs = [r for r in rs if r in picked]
    items = []
    for rule in rs:
        audio, truth_path = out / f"{rule.id}.flac", out / f"{rule.id}.json"
        if force or truth_only or not (audio.exists() and truth_path.exists()):
            t0 = time.time()
            try:
                truth = build_music21_item(rule, out, truth_only=truth_only)
            except Exception as err:  # noqa: BLE001 - report and go on with the other pieces
                _log(f"music21 {rule.id}: FAILED ({type(err).__name__}: {err})")
                continue
            _log(f"music21 {rule.id}: {truth['duration_seconds']:.1f} s, {rule.tempo_bpm:g} BPM, "
                 f"{truth['key']} ({truth['key_source']}) ({time.time() - t0:.1f} s)")
        truth = json.loads(truth_path.read_text())
        items.append({"id": rule.id, "audio": audio.name, "truth": truth_path.name,
                      "split": rule.split, "tags": truth["tags"]})
    _manifest("music21", items, out)
    return items


# ------------------------------------------------------------------------------------- verify
def onset_lag_ms(audio_path: Path, truth: dict) -> tuple[float, float]:
    """(lag in ms that maximises the mean onset envelope at the truth note onsets, ratio of that
    mean to the envelope's overall mean). Onsets = melody notes + beats."""
    import librosa

    from reissue.io import load

    a = load(audio_path, sample_rate=22050, mono=True)
    y = a.samples[0]
    hop = 128
    env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=hop)
    times = np.array(sorted({round(b, 4) for b in truth["beats"]}
                            | {round(m[0], 4) for m in truth["melody"]}))
    frame_t = librosa.frames_to_time(np.arange(len(env)), sr=22050, hop_length=hop)
    best, best_v = 0.0, -1.0
    for lag_ms in range(-120, 121, 2):
        v = float(np.mean(np.interp(times + lag_ms / 1000.0, frame_t, env)))
        if v > best_v:
            best, best_v = float(lag_ms), v
    return best, best_v / max(float(np.mean(env)), 1e-9)


def verify(out_root: Path) -> None:
    for set_name in ("synthetic", "music21"):
        man = out_root / set_name / "manifest.json"
        if not man.exists():
            continue
        lags = []
        for it in json.loads(man.read_text())["items"]:
            truth = json.loads((out_root / set_name / it["truth"]).read_text())
            lag, ratio = onset_lag_ms(out_root / set_name / it["audio"], truth)
            lags.append(lag)
            flag = "" if abs(lag) <= 40 and ratio > 1.5 else "   <-- CHECK"
            print(f"{set_name:10s} {it['id']:52s} onset lag {lag:+5.0f} ms, "
                  f"envelope at truth / mean {ratio:4.1f}{flag}")
        print(f"{set_name}: median lag {np.median(lags):+.0f} ms over {len(lags)} items")


def plot_item(out_root: Path, set_name: str, item_id: str, png: Path, seconds: float = 12.0
              ) -> Path:
    """Looking instead of listening: the first ``seconds`` of an item's waveform and onset
    envelope with the truth beats (grey), downbeats (black) and melody onsets (red ticks)."""
    import librosa
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from reissue.io import load

    truth = json.loads((out_root / set_name / f"{item_id}.json").read_text())
    y = load(out_root / set_name / f"{item_id}.flac", sample_rate=22050, mono=True).samples[0]
    y = y[: int(seconds * 22050)]
    env = librosa.onset.onset_strength(y=y, sr=22050, hop_length=128)
    t_env = librosa.frames_to_time(np.arange(len(env)), sr=22050, hop_length=128)
    fig, ax = plt.subplots(2, 1, figsize=(14, 5), sharex=True)
    ax[0].plot(np.arange(len(y)) / 22050, y, lw=0.3, color="tab:blue")
    ax[1].plot(t_env, env / max(env.max(), 1e-9), lw=0.8, color="tab:blue")
    for a in ax:
        for b in truth["beats"]:
            if b < seconds:
                a.axvline(b, color="0.6", lw=0.8)
        for d in truth["downbeats"]:
            if d < seconds:
                a.axvline(d, color="k", lw=1.4)
    for s, _, _ in truth["melody"]:
        if s < seconds:
            ax[1].plot([s, s], [0.9, 1.0], color="red", lw=1.5)
    ax[0].set_title(f"{item_id}: {truth['meter']} {truth['tempo_bpm']:g} BPM {truth['key']}")
    ax[1].set_xlabel("seconds")
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(png, dpi=80)
    plt.close(fig)
    return png


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--set", choices=("synthetic", "music21", "all"), default="all")
    ap.add_argument("--force", action="store_true", help="rebuild existing items")
    ap.add_argument("--limit", type=int, default=None, help="first N items of each set")
    ap.add_argument("--truth-only", action="store_true",
                    help="music21 set: re-extract the truth JSON, keep the audio")
    ap.add_argument("--verify", action="store_true", help="check truth vs audio onsets")
    ap.add_argument("--plot", metavar="SET/ID", action="append", default=[],
                    help="draw waveform + onset envelope + truth beats to benchmarks/out/")
    args = ap.parse_args(argv)
    if args.set in ("synthetic", "all"):
        items = build_synthetic(args.out / "synthetic", force=args.force, limit=args.limit)
        _log(f"synthetic: {len(items)} items in {args.out / 'synthetic'}")
    if args.set in ("music21", "all"):
        items = build_music21(args.out / "music21", force=args.force, limit=args.limit,
                              truth_only=args.truth_only)
        _log(f"music21: {len(items)} items in {args.out / 'music21'}")
    if args.verify:
        verify(args.out)
    for spec in args.plot:
        set_name, item_id = spec.split("/", 1)
        png = plot_item(args.out, set_name, item_id,
                        HERE.parent / "out" / f"accuracy-{item_id}.png")
        _log(f"wrote {png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
