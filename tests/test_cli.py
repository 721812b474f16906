"""The command line as a user meets it: real console script in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

import reissue

BIN = Path(sys.executable).parent / "reissue"


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="120", NO_COLOR="1")
    return subprocess.run([str(BIN), *args], capture_output=True, text=True, cwd=cwd, env=env,
                          timeout=300)


def test_help_and_version():
    r = run("--help")
    assert r.returncode == 0 and "analyze" in r.stdout and "demo" in r.stdout
    r = run("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"reissue {reissue.__version__}"


def test_analyze_json_and_table(demo_wav):
    r = run("analyze", "--json", str(demo_wav))
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stdout.splitlines() if line.strip()]
    assert len(lines) == 1
    d = json.loads(lines[0])
    assert d["file"] == str(demo_wav) and d["sample_rate"] == 44100 and d["channels"] == 2
    assert abs(d["sound"]["integrated_lufs"] + 20) < 0.5
    r = run("analyze", str(demo_wav))
    assert r.returncode == 0 and "integrated loudness" in r.stdout and "LUFS" in r.stdout


def test_bad_files_are_reported_and_the_rest_go_on(tmp_path, demo_wav):
    text = tmp_path / "readme.mp3"
    text.write_text("not an mp3")
    missing = tmp_path / "gone.flac"
    r = run("analyze", "--json", str(text), str(demo_wav), str(missing))
    assert r.returncode == 1
    objs = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert [o["file"] for o in objs] == [str(text), str(demo_wav), str(missing)]
    assert "error" in objs[0] and "sound" in objs[1] and objs[2]["error"]["code"] == "audio.missing"
    err_lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(err_lines) == 2
    assert "Traceback" not in r.stderr
    assert str(text) in err_lines[0] and "not a valid MP3" in err_lines[0]
    assert str(missing) in err_lines[1] and "no such file" in err_lines[1]


def test_nan_file_gives_one_line(tmp_path):
    path = tmp_path / "nan.wav"
    x = np.zeros((2, 4410), np.float32)
    x[0, 10] = np.nan
    sf.write(path, x.T, 44100, subtype="FLOAT")
    r = run("analyze", str(path))
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert r.stderr.strip().count("\n") == 0 and "NaN" in r.stderr and str(path) in r.stderr


def test_demo_command_writes_and_analyses(tmp_path):
    r = run("demo", "--out-dir", str(tmp_path / "out"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "demo-song.wav").exists()
    assert "LUFS" in r.stdout


def test_analyze_musical_json_and_jams(demo_wav, tmp_path):
    import jams

    out = tmp_path / "demo.jams"
    r = run("analyze", "--json", "--jams", str(out), str(demo_wav))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert abs(d["rhythm"]["tempo_bpm"] - 96) < 2 and d["rhythm"]["meter"] == "4/4"
    assert d["tonal"]["key"] == "G major" and d["tonal"]["chords"][1]["label"] == "G:maj"
    assert len(d["tonal"]["melody_notes"]) > 40
    assert [s["label"].rstrip("′") for s in d["form"]["sections"]] == ["A", "B", "A"]
    assert -1 <= d["mood"]["valence"] <= 1 and "evidence" in d["mood"]
    assert d["era"]["decade"] <= 1970 and "evidence" in d["era"]
    jam = jams.load(str(out))
    namespaces = {a.namespace for a in jam.annotations}
    assert {"beat", "tempo", "key_mode", "chord", "note_midi", "segment_open"} <= namespaces
    beats = jam.search(namespace="beat")[0].data
    assert sum(1 for o in beats if o.value == 1) >= 18  # a downbeat per bar


def test_analyze_only_sound_is_fast_path(demo_wav):
    r = run("analyze", "--json", "--only", "sound", str(demo_wav))
    assert r.returncode == 0
    d = json.loads(r.stdout.strip().splitlines()[-1])
    assert "sound" in d and "rhythm" not in d
    r = run("analyze", "--only", "sound,tempo", str(demo_wav))
    assert r.returncode == 1 and "unknown analysis part" in r.stderr
