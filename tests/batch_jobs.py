"""Cheap but real job functions for the batch engine's tests (imported by worker processes).

``measure_job`` follows the protocol of :func:`reissue.batch.refresh_job` — decode the source
with :mod:`reissue.io`, measure it with ``analyze_sound``, write a deterministic "version" (the
decoded audio at -6 dB) and a report carrying the batch provenance, both renamed into place —
at a tiny fraction of a refresh's cost. A source whose name contains a marker misbehaves on
purpose: ``hang`` sleeps for an hour, ``hog`` allocates 3 GB, ``crash`` SIGKILLs its own worker.
``REISSUE_TEST_JOB_SLEEP`` (seconds) slows every job down, so a test can kill a batch partway.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import time
from pathlib import Path

import numpy as np


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def measure_job(args: dict, progress) -> dict:
    from reissue.analysis.sound import analyze_sound
    from reissue.io import Audio, load, save
    from reissue.refresh import write_json

    source, output, staging = Path(args["source"]), Path(args["output"]), Path(args["staging"])
    name = source.name
    if "hang" in name:
        time.sleep(3600)
    if "hog" in name:
        block = np.ones(3 << 30, dtype=np.uint8)  # 3 GB, touched
        return {"bytes": int(block.sum())}
    if "crash" in name:
        os.kill(os.getpid(), signal.SIGKILL)
    progress("decode")
    audio = load(source)
    progress("analyse")
    sound = analyze_sound(audio.samples, audio.sample_rate)
    delay = float(os.environ.get("REISSUE_TEST_JOB_SLEEP", "0"))
    if delay:
        progress("render")
        time.sleep(delay)
    staging.mkdir(parents=True, exist_ok=True)
    try:
        tmp = staging / output.name
        save(Audio(audio.samples * np.float32(0.5), audio.sample_rate), tmp)
        out_sha = _sha256(tmp)
        report = {"input": str(source), "output": str(output),
                  "original": {"duration_seconds": audio.duration_seconds,
                               "integrated_lufs": sound.integrated_lufs},
                  "batch": {"source_sha256": args["sha256"], "output_sha256": out_sha,
                            "settings": args["settings"]},
                  "pid": os.getpid()}
        output.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, output)
        write_json(report, output.with_name(output.name + ".json"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return {"output_sha256": out_sha, "audio_seconds": audio.duration_seconds,
            "style": args["settings"]["style"], "pid": os.getpid()}
