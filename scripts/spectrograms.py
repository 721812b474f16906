"""Listen by looking: an original and its reissued versions as stacked spectrograms in one PNG.

Development tool (needs matplotlib, which the test extra brings with music21). Each panel is the
mel spectrogram (128 bands up to 16 kHz, dB re the panel's own maximum, 80 dB range) of the mid
channel, titled with the file, its integrated loudness and — for a version with a report beside it
(``<version>.json``) — style, identity and modernity. The same colour scale everywhere, so hiss
(a flat floor at the top), a rolled-off top octave, new drums (vertical stripes), a new bass (a
dense bottom) and the limiter's density are visible at a glance.

Run: ``.venv/bin/python scripts/spectrograms.py ORIGINAL VERSION... --out docs/x.png``
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

SAMPLE_RATE = 32000
SECONDS = 60.0


def panel(path: Path, seconds: float):
    import librosa
    import pyloudnorm

    import reissue

    audio = reissue.load(path)
    lufs = pyloudnorm.Meter(audio.sample_rate).integrated_loudness(audio.samples.T.astype(float))
    mid = audio.samples.mean(axis=0)[: int(seconds * audio.sample_rate)]
    mid = reissue.io.resample(mid, audio.sample_rate, SAMPLE_RATE)
    mel = librosa.feature.melspectrogram(y=mid, sr=SAMPLE_RATE, n_fft=2048, hop_length=512,
                                         n_mels=128, fmax=16000)
    db = librosa.power_to_db(mel, ref=np.max, top_db=80.0)
    title = f"{path.name} · {lufs:.1f} LUFS"
    report = Path(str(path) + ".json")
    if report.exists():
        r = json.loads(report.read_text())
        title += (f" · {r['style']} {r['intensity']:.1f} · identity {r['identity']['score']:.2f}"
                  f" · modernity {r['modernity']['score']:.2f}")
    return db, title


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path, help="the original first, then versions")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--seconds", type=float, default=SECONDS, help="how much of each to show")
    args = ap.parse_args()

    import librosa.display
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(args.files), 1, figsize=(12, 2.6 * len(args.files)),
                             sharex=True, squeeze=False)
    for ax, path in zip(axes[:, 0], args.files):
        db, title = panel(path, args.seconds)
        librosa.display.specshow(db, sr=SAMPLE_RATE, hop_length=512, x_axis="time",
                                 y_axis="mel", fmax=16000, ax=ax, vmin=-80, vmax=0,
                                 cmap="magma")
        ax.set_title(title, fontsize=10, loc="left")
        ax.set_xlabel("")
    fig.tight_layout()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    import io

    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, dpi=80)
    buf.seek(0)
    # a 128-colour palette keeps the PNG small enough for a repository (the colour map is smooth)
    Image.open(buf).convert("RGB").quantize(128).save(args.out, optimize=True)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
