"""librosa baselines the reissue estimators are compared with (issue 3).

Conventions
-----------
* Input ``y``: mono float32 at ``sample_rate`` (22050 Hz in the benchmark). Outputs are plain
  Python values in seconds / Hz / labels.
* ``beat_track``: ``librosa.beat.beat_track`` with its defaults (Ellis 2007 dynamic programming,
  tempo from the autocorrelation tempogram with the 120 BPM log-normal prior). librosa has no
  downbeat tracker, so the baseline has no downbeat score.
* ``ks_key``: ``librosa.feature.chroma_cqt`` averaged over the whole signal, Pearson-correlated
  with the 24 rotations of the Krumhansl–Kessler (1982) profiles; the best is the key.
* ``template_chords``: the same chroma (hop 2048 ≈ 93 ms), cosine similarity with 24 binary
  major/minor triad templates plus a "no chord" state for near-silent frames, softmax, Viterbi
  smoothing (``librosa.sequence.viterbi_discriminative`` with a 0.9 self-loop per frame).
* ``salience_melody``: the top of ``librosa.salience`` (harmonics 1–5, weights 0.8^(h−1)) on a
  CQT magnitude (hop 256, 36 bins/octave, C2–C8), argmax over 110–1400 Hz; a frame is voiced if
  its peak salience exceeds 0.25 × the 95th percentile of peak salience. Crude on purpose.
* ``pyin_melody``: ``librosa.pyin`` (110–1760 Hz, its own voicing decision) — a monophonic f0
  tracker run on the full mix; measured ≈ 3.5 CPU s per minute of audio with librosa 1.0, cheap
  enough to run on every item.
"""

from __future__ import annotations

import numpy as np

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])


def beat_track(y: np.ndarray, sample_rate: int) -> dict:
    import librosa

    tempo, beats = librosa.beat.beat_track(y=y, sr=sample_rate, units="time")
    return {"tempo_bpm": float(np.atleast_1d(tempo)[0]), "beats": [float(b) for b in beats]}


def ks_key(y: np.ndarray, sample_rate: int) -> dict:
    import librosa

    chroma = librosa.feature.chroma_cqt(y=y, sr=sample_rate)
    prof = chroma.mean(axis=1)
    best, best_r = "C major", -np.inf
    for mode, tmpl in (("major", KK_MAJOR), ("minor", KK_MINOR)):
        for tonic in range(12):
            r = np.corrcoef(prof, np.roll(tmpl, tonic))[0, 1]
            if r > best_r:
                best, best_r = f"{PITCH_NAMES[tonic]} {mode}", r
    return {"key": best}


def _templates() -> tuple[np.ndarray, list[str]]:
    tm, labels = [], []
    for q, third in (("maj", 4), ("min", 3)):
        for r in range(12):
            t = np.zeros(12)
            t[[r, (r + third) % 12, (r + 7) % 12]] = 1.0
            tm.append(t / np.linalg.norm(t))
            labels.append(f"{PITCH_NAMES[r]}:{q}")
    return np.array(tm), labels


def template_chords(y: np.ndarray, sample_rate: int) -> dict:
    import librosa

    hop = 2048
    chroma = librosa.feature.chroma_cqt(y=y, sr=sample_rate, hop_length=hop)
    rms = librosa.feature.rms(y=y, frame_length=4096, hop_length=hop)[0]
    n = min(chroma.shape[1], rms.shape[0])
    chroma, rms = chroma[:, :n], rms[:n]
    tm, labels = _templates()
    cn = chroma / np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    sim = tm @ cn  # (24, n)
    silent = rms < 0.01 * max(float(rms.max()), 1e-9)
    no_chord = np.where(silent, 1.0, 0.3)[None, :]
    scores = np.vstack([sim, no_chord]) * 12.0
    prob = np.exp(scores - scores.max(axis=0, keepdims=True))
    prob /= prob.sum(axis=0, keepdims=True)
    trans = librosa.sequence.transition_loop(25, 0.9)
    path = librosa.sequence.viterbi_discriminative(prob, trans)
    times = librosa.frames_to_time(np.arange(n + 1), sr=sample_rate, hop_length=hop)
    labels = labels + ["N"]
    out = []
    for i, s in enumerate(path):
        lab = labels[s]
        if out and out[-1][2] == lab:
            out[-1][1] = float(times[i + 1])
        else:
            out.append([float(times[i]), float(times[i + 1]), lab])
    return {"chords": [tuple(c) for c in out]}


def salience_melody(y: np.ndarray, sample_rate: int) -> dict:
    import librosa

    hop, bpo = 256, 36
    fmin = librosa.note_to_hz("C2")
    n_bins = bpo * 6
    C = np.abs(librosa.cqt(y, sr=sample_rate, hop_length=hop, fmin=fmin, n_bins=n_bins,
                           bins_per_octave=bpo))
    freqs = librosa.cqt_frequencies(n_bins, fmin=fmin, bins_per_octave=bpo)
    harmonics = [1, 2, 3, 4, 5]
    weights = [0.8 ** (h - 1) for h in harmonics]
    sal = librosa.salience(C, freqs=freqs, harmonics=harmonics, weights=weights, fill_value=0.0,
                           filter_peaks=False)
    band = (freqs >= 110.0) & (freqs <= 1400.0)
    sb = np.nan_to_num(sal[band])
    idx = np.argmax(sb, axis=0)
    peak = sb[idx, np.arange(sb.shape[1])]
    thr = 0.25 * np.percentile(peak, 95)
    f0 = np.where(peak > thr, freqs[band][idx], 0.0)
    times = librosa.frames_to_time(np.arange(len(f0)), sr=sample_rate, hop_length=hop)
    return {"times": times, "f0_hz": f0}


def pyin_melody(y: np.ndarray, sample_rate: int) -> dict:
    import librosa

    f0, voiced, _ = librosa.pyin(y, fmin=110.0, fmax=1760.0, sr=sample_rate)
    f0 = np.where(voiced & np.isfinite(f0), f0, 0.0)
    times = librosa.times_like(f0, sr=sample_rate)
    return {"times": times, "f0_hz": f0}
