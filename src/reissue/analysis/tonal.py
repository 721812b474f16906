"""Tonal analysis: tuning, key (global and per section) and chords.

Conventions
-----------
* Input is a mono float32 signal ``y`` (1-D) at ``sample_rate`` Hz; any rate works (22.05 kHz in
  the pipeline). Optional ``beats_seconds`` (increasing, seconds) make the chords
  beat-synchronous; without them the analysis runs on its own fixed frames (92.9 ms).
* Times are seconds from the start of ``y``. Segments are ``(start_s, end_s, label)``,
  contiguous, covering ``[0, duration]``.
* Keys are mir_eval key strings: ``"F# minor"``, ``"Eb major"``, tonics spelled
  ``C C# D Eb E F F# G Ab A Bb B``; ``"X"`` (mir_eval's "no key") when nothing pitched is
  heard. Chords are Harte labels from the 24 major/minor triads plus ``"N"`` (no chord):
  ``"F#:min"``, ``"C:maj"``, ``"N"``. Seventh chords are reported as their triad (``G:7`` →
  ``G:maj``, ``A:min7`` → ``A:min``), the reduction ``mir_eval.chord.majmin`` scores.
* ``tuning_cents`` is the offset of the recording's reference from A4 = 440 Hz, in (−50, 50].
* ``key_confidence`` in [0, 1] is the probability that the key (tonic *and* mode) is exactly
  right: a soft-max over the 24 key correlations whose temperature was calibrated on the dev
  split (β = 20: mean confidence 0.90 for 0.92 exact accuracy, the lowest Brier score of the
  temperatures tried), times a clarity factor (0 when the accumulated chroma is flat: noise,
  drums) and the fraction of pitched frames (×2, capped at 1). Silence and noise give 0 and
  ``"X"``; an ambiguous C major / A minor vamp gets ≈0.5.

Method (design notes)
---------------------
1. **Front end** (0.03 s CPU per minute on one core, 0.09 s for 3 minutes including the whole
   analysis; librosa's ``chroma_cqt`` alone is 1.4 s). The signal is resampled (soxr) to
   5512.5 Hz — everything tonal sits below 2.7 kHz — and analysed with a 2048-point Hann STFT
   (372 ms window, 2.7 Hz bins, hop 512), in blocks so memory stays small for long files. That
   window resolves semitones down to ≈E2 directly, the resolution of the NNLS-chroma front end
   (Mauch & Dixon 2010, "Approximate note transcription for the improved identification of
   difficult chords", ISMIR), at a fraction of the cost of a CQT.
2. **Tuning**: spectral peaks (80–2000 Hz, within 26 dB of the frame maximum, ≈600 frames spread
   over the signal) are located to a fraction of a bin by parabolic interpolation of the log
   magnitude; their deviations from the equal-tempered grid (mod 100 cents) are histogrammed with
   magnitude weights; the circular mean of the deviations within ±15 cents of the histogram's
   mode is the tuning. The mode makes it robust to the 5th and 7th harmonics (−14 and −31 cents
   off the grid). ±1 cent on synthetic tones (tests).
3. **Semitone spectrum**: triangular kernels centred on the *tuned* pitches (76 pitches, C1–D#7)
   map each magnitude frame to one value per semitone; log-compressed, then whitened along pitch
   (minus a running mean, over a running standard deviation, 18 semitones, negatives clipped) —
   NNLS chroma's spectral whitening, which removes broadband energy (drums, noise) and levels out
   timbre. For the key, harmonics are also removed: scanning pitches upwards, each pitch's
   partials 2–6 (amplitudes 0.9·0.6^(h−1)) are subtracted from the pitches above it (a clipped
   forward substitution of the unit-triangular harmonic dictionary, a one-pass stand-in for
   NNLS). Without it every note's 3rd harmonic votes for the key a fifth up, the commonest error.
4. **Chroma**: pitches folded to 12 classes with Gaussian register weights — treble centred on
   F#4 (σ 11 semitones), bass on E2 (σ 7), Mauch & Dixon's treble/bass split. A frame is
   *pitched* to the degree its treble chroma, averaged over the surrounding second, is peaked
   (max/mean ≥ 2.4; noise and drums stay ≤ 2.2).
5. **Key**: per-frame max-normalised treble + 0.5·bass chroma (harmonics removed), summed over
   pitched frames with the opening weighted up (×3 at t = 0, decaying over 6 s: openings
   establish the tonic, excerpts and songs wander to the dominant later), Pearson-correlated with
   the 24 rotations of a major and a minor profile. Each profile is the mean of Temperley's
   (1999, "What's key for key?", Music Perception) and one measured with this front end on the
   *dev* split of the accuracy sets (music21 renderings and synthetic songs, 37 items;
   ``benchmarks/tonal_profiles.py`` recomputes them; test items were never opened). Audio
   profiles differ from symbolic ones (harmonics, sustain); mixing in Temperley's keeps them from
   over-fitting 37 pieces (leave-one-out dev score 0.92 vs 0.90 for Temperley alone).
6. **Section keys**: a 24-state HMM over 1 s blocks (evidence: 10 × the key correlation of the
   block chroma smoothed over ±4 s), Viterbi with a switch cost of 30, so a new key must win by
   ≈0.2 in correlation for ≈15 s (≈8 bars) to open a section — tonicisations do not;
   boundaries snap to the nearest beat. One section when nothing modulates.
7. **Chords**: treble chroma (harmonics kept) averaged per beat — the beat grid extended by its
   median period over the lead-in and the tail — or per frame; cosine with the 24 triad
   templates, max-pooled with the seventh chords that reduce to each triad (maj7/7 → maj,
   min7 → min; 7th weighted 0.5, 0.03 cosine handicap); plus 0.5 × the log prior of the chord in
   the local section key (I, V, IV, vi, ii, iii, secondary dominants, borrowed iv, bVII …);
   "N" for segments 30 dB below the loud parts or without peaked chroma; Viterbi with a
   self-transition probability exp(−6 changes/s × segment length) (0.05 per beat at 120 BPM,
   0.57 per frame). Chordino's bass-root bonus was measured and hurt on the dev set (inversions
   and moving basses in the classical pieces), so ``chord_bass_weight`` is 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.fft
import scipy.ndimage

from ..errors import ParameterError

__all__ = [
    "CHORD_LABELS",
    "KEY_NAMES",
    "PITCH_NAMES",
    "Tonal",
    "analyze_tonal",
    "estimate_tuning_cents",
]

PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
KEY_NAMES = tuple(f"{p} major" for p in PITCH_NAMES) + tuple(f"{p} minor" for p in PITCH_NAMES)
CHORD_LABELS = (tuple(f"{p}:maj" for p in PITCH_NAMES) + tuple(f"{p}:min" for p in PITCH_NAMES)
                + ("N",))
NO_KEY = "X"

TONAL_RATE_HZ = 5512.5
N_FFT = 2048
HOP = 512
FRAME_SECONDS = HOP / TONAL_RATE_HZ
MIDI_LO, MIDI_HI = 24, 100  # C1 … D#7
PITCHES = np.arange(MIDI_LO, MIDI_HI)
N_PITCHES = len(PITCHES)

#: Temperley (1999) key profiles, tonic first.
TEMPERLEY_MAJOR = np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0])
TEMPERLEY_MINOR = np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 1.5, 4.0])
#: Mean accumulated key chroma of the 37 dev-split items (30 major, 7 minor) rotated to their
#: tonic, z-normalised: ``benchmarks/tonal_profiles.py`` (module notes, step 5).
MEASURED_MAJOR = np.array([0.511, -0.285, 0.107, -0.344, 0.249, 0.033, -0.220, 0.469, -0.273,
                           0.046, -0.342, 0.048])
MEASURED_MINOR = np.array([0.399, -0.279, 0.154, 0.357, -0.361, 0.134, -0.308, 0.419, 0.064,
                           -0.395, -0.180, -0.005])

_TUNING_FRAMES = 600  # frames spread over the signal that the tuning estimate looks at
_BLOCK_FRAMES = 1024  # STFT frames computed at a time (8 MB) for long signals
_ONE_PASS_FRAMES = 4096  # up to this many frames (6.3 min) the STFT is computed in one go

#: Soft-max temperature turning key correlations into a probability (calibrated on dev).
_KEY_CONFIDENCE_BETA = 20.0

# relative chord (root above the tonic, 0 = major / 1 = minor triad) -> prior weight, per mode
_CHORD_PRIOR = {
    "major": {(0, 0): 1.0, (7, 0): 0.8, (5, 0): 0.7, (9, 1): 0.6, (2, 1): 0.6, (4, 1): 0.4,
              (2, 0): 0.25, (4, 0): 0.25, (9, 0): 0.2, (10, 0): 0.2, (5, 1): 0.15, (0, 1): 0.1},
    "minor": {(0, 1): 1.0, (7, 0): 0.8, (5, 1): 0.7, (8, 0): 0.6, (3, 0): 0.5, (10, 0): 0.45,
              (7, 1): 0.3, (5, 0): 0.25, (0, 0): 0.2, (1, 0): 0.15},
}


@dataclass(frozen=True)
class _Params:
    """Tunable constants (defaults chosen on the dev split; see module notes)."""

    compress: float = 10.0
    whiten_semitones: int = 18
    harmonic_decay: float = 0.6
    n_harmonics: int = 6
    subtract_fraction: float = 0.9
    treble_centre: float = 66.0
    treble_sigma: float = 11.0
    bass_centre: float = 40.0
    bass_sigma: float = 7.0
    silence_db: float = -30.0
    # key
    profile_mix: float = 0.5
    key_bass_weight: float = 0.5
    key_start_weight: float = 2.0
    key_start_seconds: float = 6.0
    key_block_seconds: float = 1.0
    key_smooth_seconds: float = 4.0
    key_hmm_beta: float = 10.0
    key_switch_log: float = -30.0
    # chords
    chord_beta: float = 20.0
    chord_bass_weight: float = 0.0
    chord_key_weight: float = 0.5
    chord_switch_per_second: float = 6.0
    no_chord_score: float = 0.35
    seventh_weight: float = 0.5
    seventh_penalty: float = 0.03  # ≥ 1 disables the seventh-chord templates
    no_chord_atonal: float = 0.5
    noise_peakiness: float = 1.9


@dataclass(frozen=True)
class Tonal:
    """Tuning, key and chords of a recording.

    Attributes
    ----------
    tuning_cents : float
        Reference offset from A4 = 440 Hz, in (−50, 50].
    key : str
        Global key (``"F# minor"``), or ``"X"`` when nothing pitched is heard.
    key_confidence : float
        Probability in [0, 1] that ``key`` is exactly right (see the module Conventions).
    section_keys : tuple of (float, float, str)
        ``(start_seconds, end_seconds, key)``; one entry if the music never modulates.
    chords : tuple of (float, float, str)
        ``(start_seconds, end_seconds, Harte label)``, contiguous, ``"N"`` where no chord sounds.
    """

    tuning_cents: float
    key: str
    key_confidence: float
    section_keys: tuple[tuple[float, float, str], ...]
    chords: tuple[tuple[float, float, str], ...]

    def to_dict(self) -> dict:
        """JSON-ready dict in the ``reissue analyze --json`` schema."""
        return {
            "tuning_cents": round(float(self.tuning_cents), 2),
            "key": self.key,
            "key_confidence": round(float(self.key_confidence), 3),
            "section_keys": [{"start_seconds": round(a, 3), "end_seconds": round(b, 3), "key": k}
                             for a, b, k in self.section_keys],
            "chords": [{"start_seconds": round(a, 3), "end_seconds": round(b, 3), "label": lab}
                       for a, b, lab in self.chords],
        }


# ----------------------------------------------------------------------------- front end

@dataclass
class _Spectrum:
    times: np.ndarray  # frame centres, seconds
    semitone: np.ndarray  # (frames, N_PITCHES) magnitude on the tuned semitone grid
    tuning_cents: float
    duration_seconds: float


def _resample(y: np.ndarray, sample_rate: float) -> np.ndarray:
    import soxr

    if sample_rate == TONAL_RATE_HZ:
        return np.asarray(y, np.float32)
    return np.asarray(soxr.resample(y, sample_rate, TONAL_RATE_HZ, quality="HQ"), np.float32)


_WINDOW = np.hanning(N_FFT + 1)[:-1].astype(np.float32)


def _frame_view(x: np.ndarray) -> np.ndarray:
    """Read-only (frames, N_FFT) view of the zero-padded signal; frame ``i`` is centred at
    sample ``i·HOP``."""
    pad = N_FFT // 2
    n_frames = 1 + len(x) // HOP
    padded = np.concatenate([np.zeros(pad, np.float32), x, np.zeros(pad + N_FFT, np.float32)])
    return np.lib.stride_tricks.as_strided(padded, (n_frames, N_FFT),
                                           (padded.strides[0] * HOP, padded.strides[0]),
                                           writeable=False)


def _magnitudes(view: np.ndarray, frames: np.ndarray | slice = slice(None)) -> np.ndarray:
    """|STFT| (frames, N_FFT//2+1) of the selected frames of a :func:`_frame_view`."""
    return np.abs(scipy.fft.rfft(view[frames] * _WINDOW, axis=1, workers=1))


def _tuning_frames(n_frames: int) -> np.ndarray:
    """≈_TUNING_FRAMES frame indices spread evenly over the signal."""
    return np.arange(0, n_frames, max(1, n_frames // _TUNING_FRAMES))


def _tuning_from_magnitudes(mag: np.ndarray, *, fmin_hz: float = 80.0, fmax_hz: float = 2000.0
                            ) -> float:
    df = TONAL_RATE_HZ / N_FFT
    k0, k1 = int(fmin_hz / df), int(fmax_hz / df)
    m = mag[:, k0 - 1:k1 + 2]
    lm = np.log(m + 1e-9)
    a, b, c = lm[:, :-2], lm[:, 1:-1], lm[:, 2:]
    centre = m[:, 1:-1]
    floor = 0.05 * m.max(axis=1, keepdims=True)
    fi, ki = np.nonzero((b > a) & (b >= c) & (centre > floor) & (centre > 1e-6))
    if fi.size == 0:
        return 0.0
    aa, bb, cc = a[fi, ki], b[fi, ki], c[fi, ki]
    curvature = aa - 2.0 * bb + cc
    delta = np.where(curvature < 0, 0.5 * (aa - cc) / np.minimum(curvature, -1e-12), 0.0)
    freq = (k0 + ki + np.clip(delta, -0.5, 0.5)) * df
    weight = centre[fi, ki]
    dev = 1200.0 * np.log2(freq / 440.0)
    hist = np.bincount(np.round(dev).astype(np.int64) % 100, weights=weight, minlength=100)
    kernel = np.exp(-0.5 * (np.arange(-10, 11) / 4.0) ** 2)
    smooth = np.convolve(np.concatenate([hist[-10:], hist, hist[:10]]), kernel, "valid")
    mode = float(np.argmax(smooth))
    near = np.abs((dev - mode + 50.0) % 100.0 - 50.0) < 15.0
    z = np.sum(weight[near] * np.exp(2j * np.pi * dev[near] / 100.0))
    cents = float(np.angle(z) * 100.0 / (2.0 * np.pi))
    return 50.0 if cents <= -50.0 else cents


def _semitone_matrix(tuning_cents: float) -> np.ndarray:
    """(bins, pitches) triangular kernels on the tuned semitone grid (≥ one bin wide)."""
    df = TONAL_RATE_HZ / N_FFT
    fk = np.arange(N_FFT // 2 + 1) * df
    fp = 440.0 * 2.0 ** ((PITCHES - 69) / 12.0 + tuning_cents / 1200.0)
    with np.errstate(divide="ignore"):
        semis = 12.0 * np.log2(np.maximum(fk, 1e-3)[:, None] / fp[None, :])
    w_log = np.maximum(0.0, 1.0 - np.abs(semis))
    w_lin = np.maximum(0.0, 1.0 - np.abs(fk[:, None] - fp[None, :]) / df)
    return np.maximum(w_log, w_lin).astype(np.float32)


def _front_end(y: np.ndarray, sample_rate: float) -> _Spectrum:
    """Tuning, then the tuned semitone spectrum; long signals go block by block so that memory
    stays at a few MB whatever the length (an hour is 39k frames)."""
    view = _frame_view(_resample(y, sample_rate))
    n_frames = len(view)
    if n_frames <= _ONE_PASS_FRAMES:  # up to ≈6 min: one STFT, kept (≤ 17 MB)
        mag = _magnitudes(view)
        tuning = _tuning_from_magnitudes(mag[_tuning_frames(n_frames)])
        semitone = mag @ _semitone_matrix(tuning)
    else:  # longer: the tuning frames first, then the spectrum block by block
        tuning = _tuning_from_magnitudes(_magnitudes(view, _tuning_frames(n_frames)))
        W = _semitone_matrix(tuning)
        semitone = np.empty((n_frames, N_PITCHES), np.float32)
        for i in range(0, n_frames, _BLOCK_FRAMES):
            block = slice(i, min(n_frames, i + _BLOCK_FRAMES))
            semitone[block] = _magnitudes(view, block) @ W
    times = np.arange(n_frames) * FRAME_SECONDS
    return _Spectrum(times, semitone, tuning, len(y) / float(sample_rate))


# ----------------------------------------------------------------------------- features

def _whiten(S: np.ndarray, p: _Params) -> np.ndarray:
    X = np.log1p(p.compress * S / (float(S.max()) + 1e-12)) if p.compress else S
    mu = scipy.ndimage.uniform_filter1d(X, p.whiten_semitones, axis=1, mode="nearest")
    X = X - mu
    sd = np.sqrt(scipy.ndimage.uniform_filter1d(X * X, p.whiten_semitones, axis=1,
                                                mode="nearest"))
    X = X / (sd + 1e-3 * (float(sd.max()) + 1e-12))
    return np.maximum(X, 0.0)


def _remove_harmonics(X: np.ndarray, p: _Params) -> np.ndarray:
    """Clipped forward substitution of the harmonic dictionary (module notes, step 3)."""
    offsets = np.round(12.0 * np.log2(np.arange(2, p.n_harmonics + 1))).astype(int)
    amps = p.subtract_fraction * p.harmonic_decay ** np.arange(1, p.n_harmonics)
    A = np.ascontiguousarray(X.T)  # (pitches, frames): rows are contiguous
    for j in range(N_PITCHES - 1):
        row = A[j]
        for o, w in zip(offsets, amps):
            if j + o < N_PITCHES:
                A[j + o] -= w * row
        np.maximum(A[j + 1], 0.0, out=A[j + 1])
    return A.T


def _fold(A: np.ndarray, centre: float, sigma: float) -> np.ndarray:
    w = np.exp(-0.5 * ((PITCHES - centre) / sigma) ** 2)
    fold = np.zeros((N_PITCHES, 12))
    fold[np.arange(N_PITCHES), PITCHES % 12] = w
    return A @ fold


def _max_normalise(C: np.ndarray) -> np.ndarray:
    return C / (C.max(axis=1, keepdims=True) + 1e-12)


def _aggregate(X: np.ndarray, times: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean of the frames centred inside each segment (the nearest frame if none is)."""
    lo = np.searchsorted(times, bounds[:-1], side="left")
    hi = np.searchsorted(times, bounds[1:], side="left")
    cs = np.concatenate([np.zeros((1, X.shape[1])), np.cumsum(X, axis=0)])
    n = hi - lo
    out = np.empty((len(bounds) - 1, X.shape[1]))
    has = n > 0
    out[has] = (cs[hi[has]] - cs[lo[has]]) / n[has, None]
    if not has.all():
        mid = 0.5 * (bounds[:-1] + bounds[1:])[~has]
        out[~has] = X[np.clip(np.round(mid / FRAME_SECONDS).astype(int), 0, len(X) - 1)]
    return out


def _segment_bounds(duration: float, beats: np.ndarray | None) -> np.ndarray:
    """Segment boundaries: the beat grid extended to both ends, else one segment per frame."""
    if beats is None or len(beats) < 2:
        n = max(1, int(round(duration / FRAME_SECONDS)))
        b = (np.arange(n + 1) - 0.5) * FRAME_SECONDS
        b[0], b[-1] = 0.0, duration
        return b[np.concatenate([[True], np.diff(b) > 0])]
    period = float(np.median(np.diff(beats)))
    before = beats[0] - period * np.arange(int(beats[0] / period) + 1, 0, -1)
    after = beats[-1] + period * np.arange(1, int((duration - beats[-1]) / period) + 1)
    b = np.unique(np.concatenate([[0.0], before[before > 0], beats, after[after < duration],
                                  [duration]]))
    keep = np.concatenate([[True], np.diff(b) >= 0.1])  # merge slivers into the previous one
    keep[-1] = True
    b = b[keep]
    if len(b) > 2 and b[-1] - b[-2] < 0.1:
        b = np.delete(b, -2)
    return b


def _runs(path: np.ndarray, bounds: np.ndarray, names) -> list[tuple[float, float, str]]:
    out = []
    start = 0
    for i in range(1, len(path) + 1):
        if i == len(path) or path[i] != path[start]:
            out.append((float(bounds[start]), float(bounds[i]), names[int(path[start])]))
            start = i
    return out


def _viterbi(log_emit: np.ndarray, log_stay: float, log_switch: float) -> np.ndarray:
    """Most likely path of an HMM whose transitions are "stay" or "switch to any other state".

    With that structure (and ``log_stay ≥ log_switch``) the best predecessor of state ``j`` is
    either ``j`` itself or the overall best state, so each step is O(states) instead of
    O(states²): 1,940 frames × 25 chords take ≈5 ms in numpy, with no JIT start-up cost
    (librosa's ``viterbi`` is numba-compiled: ≈0.4 s to load in a fresh worker process).
    """
    if log_switch > log_stay:
        raise ParameterError(f"log_switch={log_switch} must not exceed log_stay={log_stay}")
    n, k = log_emit.shape
    delta = log_emit[0].copy()
    psi = np.empty((n, k), np.int32)
    states = np.arange(k, dtype=np.int32)
    for t in range(1, n):
        best = int(np.argmax(delta))
        stay = delta + log_stay
        switch = delta[best] + log_switch
        moved = switch > stay
        psi[t] = np.where(moved, best, states)
        delta = np.where(moved, switch, stay) + log_emit[t]
    path = np.empty(n, np.int32)
    path[-1] = int(np.argmax(delta))
    for t in range(n - 1, 0, -1):
        path[t - 1] = psi[t, path[t]]
    return path


# ----------------------------------------------------------------------------- key

def _key_profiles(mix: float) -> np.ndarray:
    """(24, 12) zero-mean unit-norm profiles: 12 major then 12 minor keys."""
    def z(v):
        v = np.asarray(v, float) - np.mean(v)
        return v / np.linalg.norm(v)

    major = z(mix * z(MEASURED_MAJOR) + (1.0 - mix) * z(TEMPERLEY_MAJOR))
    minor = z(mix * z(MEASURED_MINOR) + (1.0 - mix) * z(TEMPERLEY_MINOR))
    return np.stack([np.roll(major, k) for k in range(12)] + [np.roll(minor, k) for k in range(12)])


def _key_correlations(C: np.ndarray, profiles: np.ndarray) -> np.ndarray:
    C = np.atleast_2d(C)
    Z = C - C.mean(axis=1, keepdims=True)
    Z = Z / (np.linalg.norm(Z, axis=1, keepdims=True) + 1e-12)
    return Z @ profiles.T


def _chord_key_prior(floor: float = 0.05) -> np.ndarray:
    """(24 keys, 24 chords) prior probabilities; chord index = root + 12·minor."""
    P = np.full((24, 24), floor)
    for k in range(24):
        tonic, mode = k % 12, ("major" if k < 12 else "minor")
        for (offset, q), w in _CHORD_PRIOR[mode].items():
            P[k, (tonic + offset) % 12 + 12 * q] = w
    return P / P.sum(axis=1, keepdims=True)


@dataclass
class _KeyResult:
    key: str
    confidence: float
    sections: list = field(default_factory=list)  # (start, end, key index)


def _analyze_key(key_chroma: np.ndarray, pitched: np.ndarray, times: np.ndarray,
                 duration: float, beats: np.ndarray | None, p: _Params) -> _KeyResult:
    profiles = _key_profiles(p.profile_mix)
    total = (_key_weights(times, pitched, p)[:, None] * key_chroma).sum(axis=0)
    if pitched.sum() < 1.0 or total.max() <= 0:
        return _KeyResult(NO_KEY, 0.0, [])
    r = _key_correlations(total, profiles)[0]
    best = int(np.argmax(r))
    post = np.exp(_KEY_CONFIDENCE_BETA * (r - r[best]))
    # clarity: a flat accumulated chroma (noise, drums) carries no key information
    cv = float(total.std() / (total.mean() + 1e-12))
    clarity = float(np.clip((cv - 0.15) / 0.2, 0.0, 1.0))
    confidence = float(post[best] / post.sum()) * clarity * float(min(1.0, 2.0 * pitched.mean()))
    if clarity == 0.0:
        return _KeyResult(NO_KEY, 0.0, [])

    # section keys: HMM over 1 s blocks of smoothed chroma
    n_blocks = max(1, int(np.ceil(duration / p.key_block_seconds)))
    bounds = np.minimum(np.arange(n_blocks + 1) * p.key_block_seconds, duration)
    blocks = _aggregate(key_chroma * pitched[:, None], times, bounds)
    sigma = p.key_smooth_seconds / p.key_block_seconds
    smooth = scipy.ndimage.gaussian_filter1d(blocks, sigma, axis=0, mode="nearest")
    R = _key_correlations(smooth, profiles)
    path = _viterbi(p.key_hmm_beta * R, 0.0, p.key_switch_log)
    runs = _runs(path, bounds, range(24))
    if len(runs) > 1 and beats is not None and len(beats):
        snapped = [float(beats[np.argmin(np.abs(beats - a))]) for _, a, _ in runs[:-1]]
        edges = [0.0] + snapped + [duration]
        runs = [(edges[i], edges[i + 1], k) for i, (_, _, k) in enumerate(runs)
                if edges[i + 1] > edges[i]]
        merged: list[tuple[float, float, int]] = []
        for a, b, k in runs:  # snapping can empty a section and make neighbours equal
            if merged and merged[-1][2] == k:
                merged[-1] = (merged[-1][0], b, k)
            else:
                merged.append((a, b, k))
        runs = [(0.0, merged[0][1], merged[0][2])] + merged[1:]
        runs[-1] = (runs[-1][0], duration, runs[-1][2])
    if len(runs) == 1:
        runs = [(0.0, duration, best)]
    return _KeyResult(KEY_NAMES[best], confidence, runs)


# ----------------------------------------------------------------------------- chords

def _chord_templates() -> np.ndarray:
    T = np.zeros((24, 12))
    for q, third in ((0, 4), (1, 3)):
        for r in range(12):
            T[r + 12 * q, [r, (r + third) % 12, (r + 7) % 12]] = 1.0 / np.sqrt(3.0)
    return T


def _seventh_templates(weight: float) -> np.ndarray:
    """(24, 12): per triad, the best-fitting seventh chord reducing to it is scored separately
    and max-pooled (rows: maj7 and dominant 7 for major triads, minor 7 for minor triads)."""
    out = np.zeros((3, 24, 12))
    for r in range(12):
        for slot, (q, ivs) in enumerate(((0, (0, 4, 7, 11)), (0, (0, 4, 7, 10)),
                                         (1, (0, 3, 7, 10)))):
            t = np.zeros(12)
            t[[(r + i) % 12 for i in ivs[:3]]] = 1.0
            t[(r + ivs[3]) % 12] = weight
            out[slot, r + 12 * q] = t / np.linalg.norm(t)
    return out.reshape(-1, 12)


def _decode_chords(treble: np.ndarray, bass: np.ndarray, voiced: np.ndarray,
                   tonal: np.ndarray, seg_key: np.ndarray | None, durations: np.ndarray,
                   p: _Params) -> np.ndarray:
    """Chord index per segment (24 triads, 24 = "N"); module notes, step 7."""
    tn = treble / (np.linalg.norm(treble, axis=1, keepdims=True) + 1e-12)
    cos = tn @ _chord_templates().T
    if p.seventh_penalty < 1.0:
        sevenths = (tn @ _seventh_templates(p.seventh_weight).T).reshape(len(tn), 3, 24)
        cos = np.maximum(cos, sevenths.max(axis=1) - p.seventh_penalty)
    score = p.chord_beta * cos
    if p.chord_bass_weight:
        roots = np.tile(np.arange(12), 2)
        score += p.chord_beta * p.chord_bass_weight * _max_normalise(bass)[:, roots]
    no_chord = p.chord_beta * (p.no_chord_score + p.no_chord_atonal * (1.0 - tonal))
    if seg_key is not None and p.chord_key_weight:
        score += p.chord_key_weight * np.log(_chord_key_prior()[seg_key])
        no_chord += p.chord_key_weight * np.log(0.05 / 6.0)
    no_chord[~voiced] = 1e3
    score = np.concatenate([score, no_chord[:, None]], axis=1)
    k = score.shape[1]
    p_switch = min(1.0 - np.exp(-p.chord_switch_per_second * float(np.median(durations))),
                   (k - 1.0) / k)
    return _viterbi(score, np.log(1.0 - p_switch), np.log(p_switch / (k - 1)))


# ----------------------------------------------------------------------------- entry points

def _check(y, sample_rate, beats_seconds) -> tuple[np.ndarray, float, np.ndarray | None]:
    if not isinstance(y, np.ndarray) or y.ndim != 1:
        shape = getattr(y, "shape", None)
        raise ParameterError(f"y must be a 1-D numpy array (mono), got "
                             f"{type(y).__name__} with shape {shape}; mix down first")
    if not (isinstance(sample_rate, (int, float, np.integer, np.floating))
            and np.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive number")
    y = np.asarray(y, np.float32)
    if not np.isfinite(y).all():
        raise ParameterError(f"y contains {int(np.size(y) - np.isfinite(y).sum())} NaN or "
                             "infinite samples")
    beats = None
    if beats_seconds is not None:
        beats = np.asarray(beats_seconds, float).ravel()
        if not np.isfinite(beats).all() or np.any(np.diff(beats) <= 0):
            raise ParameterError("beats_seconds must be finite and strictly increasing "
                                 f"(seconds), got {beats[:8].tolist()}…")
        duration = len(y) / float(sample_rate)
        beats = beats[(beats >= 0.0) & (beats <= duration)]
    return y, float(sample_rate), beats


def estimate_tuning_cents(y: np.ndarray, sample_rate: float) -> float:
    """Tuning offset of ``y`` from A4 = 440 Hz in cents, in (−50, 50] (0.0 if nothing pitched).

    Examples
    --------
    >>> sr = 22050
    >>> t = np.arange(2 * sr) / sr
    >>> y = np.sin(2 * np.pi * 440 * 2 ** (30 / 1200) * t).astype(np.float32)
    >>> round(estimate_tuning_cents(y, sr))
    30
    """
    y, sample_rate, _ = _check(y, sample_rate, None)
    view = _frame_view(_resample(y, sample_rate))
    return _tuning_from_magnitudes(_magnitudes(view, _tuning_frames(len(view))))


def _peakiness(C: np.ndarray) -> np.ndarray:
    """max / mean of each chroma row; averaged over 1 s: ≤ 2.2 for noise, ≥ 2.4 for music."""
    return C.max(axis=1) / (C.mean(axis=1) + 1e-12)


@dataclass
class _Evidence:
    """Per-frame quantities shared by the key and chord stages."""

    audible: np.ndarray  # (frames,) bool: within 30 dB of the loud parts
    tonality: np.ndarray  # (frames,) [0, 1]: chroma peaked over the surrounding second
    treble: np.ndarray  # (frames, 12) chord chroma (whitened, harmonics kept)
    bass: np.ndarray  # (frames, 12)
    key_chroma: np.ndarray  # (frames, 12) treble + bass, harmonics removed, max-normalised


def _evidence(spec: _Spectrum, p: _Params) -> _Evidence | None:
    S = spec.semitone
    level_db = 10.0 * np.log10((S * S).sum(axis=1) + 1e-20)
    loud_db = float(np.percentile(level_db, 90)) if len(level_db) else -200.0
    audible = (level_db > loud_db + p.silence_db) & (level_db > -150.0)
    if not audible.any():
        return None
    X = _whiten(S, p)
    treble = _fold(X, p.treble_centre, p.treble_sigma)
    width = max(1, int(round(1.0 / FRAME_SECONDS)))
    tonality = np.clip((_peakiness(scipy.ndimage.uniform_filter1d(treble, width, axis=0))
                        - p.noise_peakiness) / 0.5, 0.0, 1.0)
    A = _remove_harmonics(X, p)
    key_chroma = (_max_normalise(_fold(A, p.treble_centre, p.treble_sigma))
                  + p.key_bass_weight * _max_normalise(_fold(A, p.bass_centre, p.bass_sigma)))
    return _Evidence(audible, tonality, treble, _fold(X, p.bass_centre, p.bass_sigma),
                     key_chroma)


def _key_weights(times: np.ndarray, pitched: np.ndarray, p: _Params) -> np.ndarray:
    """Frame weights of the global key profile: pitched frames, the opening weighted up."""
    return pitched * (1.0 + p.key_start_weight * np.exp(-times / p.key_start_seconds))


def _analyze(spec: _Spectrum, beats: np.ndarray | None, p: _Params) -> Tonal:
    duration = spec.duration_seconds
    ev = _evidence(spec, p)
    if ev is None:
        return Tonal(0.0, NO_KEY, 0.0, ((0.0, duration, NO_KEY),), ((0.0, duration, "N"),))
    pitched = ev.audible * ev.tonality
    key = _analyze_key(ev.key_chroma, pitched, spec.times, duration, beats, p)

    bounds = _segment_bounds(duration, beats)
    seg_t = _aggregate(ev.treble, spec.times, bounds)
    seg_b = _aggregate(ev.bass, spec.times, bounds)
    seg_audible = _aggregate(ev.audible[:, None].astype(float), spec.times, bounds)[:, 0] > 0.5
    seg_tonal = _aggregate(ev.tonality[:, None], spec.times, bounds)[:, 0]
    seg_key = None
    if key.sections:
        centres = 0.5 * (bounds[:-1] + bounds[1:])
        starts = np.array([a for a, _, _ in key.sections])
        idx = np.clip(np.searchsorted(starts, centres, side="right") - 1, 0, len(starts) - 1)
        seg_key = np.array([key.sections[i][2] for i in idx])
    path = _decode_chords(seg_t, seg_b, seg_audible, seg_tonal, seg_key, np.diff(bounds), p)
    chords = tuple(_runs(path, bounds, CHORD_LABELS))
    sections = tuple((a, b, KEY_NAMES[k]) for a, b, k in key.sections) or \
        ((0.0, duration, key.key),)
    return Tonal(float(spec.tuning_cents), key.key, key.confidence, sections, chords)


def analyze_tonal(y: np.ndarray, sample_rate: float, *, beats_seconds=None) -> Tonal:
    """Tuning, key (global and per section) and chord sequence of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)], float
        Mono audio.
    sample_rate : float
        Rate of ``y`` in Hz (any; 22050 in the pipeline).
    beats_seconds : sequence of float, optional
        Beat times (increasing). Chords are then one label per beat at most and change on beats;
        without them the chords run on ≈93 ms frames.

    Returns
    -------
    Tonal

    Examples
    --------
    >>> from reissue.demo import render_demo
    >>> tonal = analyze_tonal(render_demo(sample_rate=22050).mean(axis=0), 22050)
    >>> tonal.key
    'G major'
    """
    y, sample_rate, beats = _check(y, sample_rate, beats_seconds)
    if len(y) == 0:
        return Tonal(0.0, NO_KEY, 0.0, ((0.0, 0.0, NO_KEY),), ((0.0, 0.0, "N"),))
    return _analyze(_front_end(y, sample_rate), beats, _Params())
