"""Rhythm analysis: tempo, beats, downbeats, meter and a local-tempo curve.

Conventions
-----------
* Input is mono ``y`` ``float32 [shape=(n,)]`` at any ``sample_rate``; it is resampled (soxr) to
  11025 Hz, which keeps everything a beat tracker needs (≤ 5.5 kHz) at half the cost of 22.05 kHz.
* Times are seconds from the first sample, increasing. Beats are at the *notated* beat level:
  quarter notes in 2/4, 3/4 and 4/4, dotted quarters in 6/8, 9/8 and 12/8; ``tempo_bpm`` counts
  those beats per minute.
* Meters are ``"2/4"``, ``"3/4"``, ``"4/4"``, ``"6/8"``, ``"9/8"`` or ``"12/8"``. Input without a
  pulse (silence, noise, under ~3 s) gives an empty result: tempo 0, meter ``""``, no beats,
  confidence 0.

Method
------
1. **Novelty.** One 1024-point STFT (hop 256 ≈ 23 ms). Log-mel SuperFlux (Böck & Widmer 2013:
   rectified difference against the max-filtered spectrum two frames back) catches attacks;
   a *harmonic-change* novelty (rectified increase of smoothed chroma over ≈ 90 ms) catches notes
   that enter without an attack (bowed strings, organ), which are common in orchestral and
   rendered classical music. A low-band flux (< 200 Hz) supports downbeats.
2. **Reference pulse.** Autocorrelation of the novelty in 8 s windows every 0.5 s, read as a
   comb (lags τ, 2τ, 3τ, 4τ) so that a level with metrical support wins over an isolated
   periodicity; a Viterbi path over log-tempo with a cost on tempo jumps gives a local-tempo
   curve, and Ellis' dynamic programme (``librosa.beat.beat_track`` with that time-varying
   tempo) places the reference beats.
3. **Metrical structure** (Gainza 2009-style beat-similarity, plus Klapuri et al. 2006-style
   level priors). Relative to the reference beats: the onset profile *inside* a beat says
   whether it divides in 2 or 3; the similarity of beat descriptors (intra-beat onset pattern,
   chroma, timbre) at lags 2, 3, 4, 6 and 8 beats says how beats group into bars. Every
   consistent hypothesis (notated-beat level, subdivision, beats per bar) is scored with this
   evidence and a log-normal prior on the notated tempo; the winner fixes tempo and meter.
4. **Beats and downbeats.** The DP runs again at the chosen level; a constant lag of the flux
   peak behind the attack is removed. Downbeats are the bar phase that maximises bass onsets,
   harmonic change and accents on the first beat.
5. **Tempo curve and confidence.** Inter-beat intervals, median-smoothed over 5 beats, give
   ``tempo_curve_bpm`` (one point per beat). Confidence combines pulse clarity, how well beats
   sit on onsets and the margin of the meter decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np
import scipy.fft
import scipy.ndimage
import soxr

from ..errors import ParameterError

__all__ = ["Rhythm", "analyze_rhythm"]

_SR = 11025
_N_FFT = 1024
_HOP = 256
_FPS = _SR / _HOP
_MIN_SECONDS = 3.0
_BPM_GRID = np.geomspace(40.0, 320.0, 97)  # 32 bins per octave
_METERS = {(2, 2): "2/4", (3, 2): "3/4", (4, 2): "4/4", (2, 3): "6/8", (3, 3): "9/8",
           (4, 3): "12/8"}


@dataclass(frozen=True)
class Rhythm:
    """The rhythm of a recording.

    Attributes
    ----------
    tempo_bpm : float
        Global tempo in notated beats per minute (0.0 when no pulse was found).
    meter : str
        Time signature (``"4/4"``, ``"3/4"``, ``"2/4"``, ``"6/8"``, ``"9/8"``, ``"12/8"``), or
        ``""`` when no pulse was found.
    beats_seconds : tuple of float
        Notated beats, increasing.
    downbeats_seconds : tuple of float
        First beats of bars (a subset of ``beats_seconds``).
    tempo_curve_bpm : tuple of (float, float)
        ``(time_seconds, bpm)`` local tempo, one point per beat.
    confidence : float
        In [0, 1]: how sure the analysis is of the beat grid and meter.
    """

    tempo_bpm: float
    meter: str
    beats_seconds: tuple[float, ...]
    downbeats_seconds: tuple[float, ...]
    tempo_curve_bpm: tuple[tuple[float, float], ...]
    confidence: float

    def to_dict(self) -> dict:
        """JSON-ready plain types, times rounded to 1 ms and tempi to 0.01 BPM."""
        return {
            "tempo_bpm": round(float(self.tempo_bpm), 2),
            "meter": self.meter,
            "beats_seconds": [round(float(t), 3) for t in self.beats_seconds],
            "downbeats_seconds": [round(float(t), 3) for t in self.downbeats_seconds],
            "tempo_curve_bpm": [[round(float(t), 3), round(float(b), 2)]
                                for t, b in self.tempo_curve_bpm],
            "confidence": round(float(self.confidence), 3),
        }


_EMPTY = Rhythm(0.0, "", (), (), (), 0.0)


# ----------------------------------------------------------------------------------- features
_WINDOW = np.hanning(_N_FFT + 1)[:-1].astype(np.float32)
_MEL = librosa.filters.mel(sr=_SR, n_fft=_N_FFT, n_mels=64, fmin=30.0, fmax=5000.0).astype(
    np.float32)
_MEL_FREQS = librosa.mel_frequencies(n_mels=66, fmin=30.0, fmax=5000.0)[1:-1]
_LOW_BANDS = int(np.searchsorted(_MEL_FREQS, 200.0))
_CHROMA = librosa.filters.chroma(sr=_SR, n_fft=_N_FFT, ctroct=5.0, octwidth=2.0).astype(
    np.float32)


@dataclass
class _Features:
    flux: np.ndarray  # SuperFlux novelty, frames
    low: np.ndarray  # low-band flux
    harm: np.ndarray  # harmonic-change novelty
    chroma: np.ndarray  # (12, frames), log-compressed
    logmel: np.ndarray  # (64, frames), dB
    n_frames: int


def _power_spectrogram(y: np.ndarray, sample_rate: float) -> np.ndarray:
    if sample_rate != _SR:
        y = soxr.resample(y, sample_rate, _SR).astype(np.float32)
    y = np.pad(y, _N_FFT // 2)
    frames = librosa.util.frame(y, frame_length=_N_FFT, hop_length=_HOP, axis=0)
    spec = scipy.fft.rfft(frames * _WINDOW, axis=1)
    return (spec.real ** 2 + spec.imag ** 2).T  # (bins, frames), frame t centred at t·hop


def _features(y: np.ndarray, sample_rate: float) -> _Features | None:
    power = _power_spectrogram(y, sample_rate)
    mel = _MEL @ power
    top = float(mel.max())
    if top <= 1e-12:
        return None
    logmel = 10.0 * np.log10(np.maximum(mel, top * 1e-8))
    flux = librosa.onset.onset_strength(S=logmel, lag=2, max_size=3, center=False)
    low = librosa.onset.onset_strength(S=logmel[:_LOW_BANDS], lag=2, max_size=1, center=False)
    chroma = _CHROMA @ np.sqrt(power)
    chroma = np.log1p(100.0 * chroma / max(float(chroma.max()), 1e-12))
    smooth = scipy.ndimage.uniform_filter1d(chroma, 4, axis=1)
    harm = np.zeros(power.shape[1], np.float32)
    harm[2:-2] = np.maximum(smooth[:, 4:] - smooth[:, :-4], 0.0).sum(axis=0)
    return _Features(flux.astype(np.float32), low.astype(np.float32), harm, chroma, logmel,
                     power.shape[1])


def _unit(x: np.ndarray) -> np.ndarray:
    s = float(np.std(x))
    return x / s if s > 1e-12 else np.zeros_like(x)


# ------------------------------------------------------------------------------ reference pulse
def _local_acf(nov: np.ndarray, win: int = 344, hop: int = 22, max_lag: int = 240
               ) -> tuple[np.ndarray, np.ndarray]:
    """Normalised autocorrelation of the (locally mean-removed) novelty in Hann windows."""
    n = len(nov)
    x = np.maximum(nov - scipy.ndimage.uniform_filter1d(nov, 43), 0.0)
    win = min(win, n)
    starts = np.arange(0, n - win + 1, hop)
    if starts[-1] + win < n:
        starts = np.append(starts, n - win)
    frames = librosa.util.frame(x, frame_length=win, hop_length=1, axis=0)[starts]
    frames = frames * np.hanning(win)
    spec = scipy.fft.rfft(frames, n=2 * win, axis=1)
    acf = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2, axis=1)[:, :max_lag + 1]
    acf = acf / np.maximum(acf[:, :1], 1e-12)
    return starts + win // 2, acf


def _interp_lags(acf: np.ndarray, lags: np.ndarray) -> np.ndarray:
    """``acf[:, lags]`` at fractional lags (0 beyond the last lag)."""
    ok = lags < acf.shape[1] - 1
    out = np.zeros((acf.shape[0], len(lags)))
    i = np.floor(lags[ok]).astype(int)
    f = lags[ok] - i
    out[:, ok] = (1 - f) * acf[:, i] + f * acf[:, i + 1]
    return out


def _comb_salience(acf: np.ndarray) -> np.ndarray:
    lag = 60.0 * _FPS / _BPM_GRID
    return sum(_interp_lags(acf, k * lag) for k in range(1, 5))


def _viterbi_tempo(sal: np.ndarray, jump_cost: float = 0.5) -> np.ndarray:
    """Best tempo-bin path through ``sal`` (windows × bins) with a cost per 1/32-octave step."""
    steps = np.arange(len(_BPM_GRID))
    trans = -jump_cost * np.abs(steps[:, None] - steps[None, :]) / 2.67
    score = sal[0].copy()
    back = np.zeros(sal.shape, np.int64)
    for t in range(1, len(sal)):
        cand = score[:, None] + trans
        back[t] = cand.argmax(axis=0)
        score = cand[back[t], steps] + sal[t]
    path = np.empty(len(sal), np.int64)
    path[-1] = int(score.argmax())
    for t in range(len(sal) - 1, 0, -1):
        path[t - 1] = back[t, path[t]]
    return path


def _track(nov: np.ndarray, bpm_frames: np.ndarray, tightness: float = 100.0) -> np.ndarray:
    """Ellis DP beats (fractional frame indices) for a per-frame tempo."""
    _, beats = librosa.beat.beat_track(onset_envelope=nov, sr=_FPS, hop_length=1,
                                       bpm=bpm_frames, tightness=tightness, trim=True)
    return beats.astype(float)


# --------------------------------------------------------------------------- metrical analysis
def _sample(x: np.ndarray, frames: np.ndarray) -> np.ndarray:
    """Values of ``x`` (…, n) at fractional frames, after a 3-frame max filter."""
    xm = scipy.ndimage.maximum_filter1d(x, 3, axis=-1)
    i = np.clip(np.floor(frames).astype(int), 0, x.shape[-1] - 2)
    f = frames - i
    return (1 - f) * xm[..., i] + f * xm[..., i + 1]


def _beat_grid(beats: np.ndarray, per_beat: int) -> np.ndarray:
    """``per_beat`` equally spaced points in every inter-beat interval: (n_beats − 1, per_beat)."""
    u = np.arange(len(beats) - 1)[:, None] + np.arange(per_beat)[None, :] / per_beat
    return np.interp(u, np.arange(len(beats)), beats)


def _segment_means(x: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """Mean of ``x`` (d, frames) over each inter-beat interval: (d, n_beats − 1)."""
    b = np.round(beats).astype(int)
    csum = np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)
    lo, hi = b[:-1], np.maximum(b[1:], b[:-1] + 1)
    return (csum[:, hi] - csum[:, lo]) / (hi - lo)


def _lag_similarity(v: np.ndarray, lags) -> dict[int, float]:
    """Mean cosine similarity of centred descriptor columns ``v`` (d, n) at beat lags."""
    v = v - v.mean(axis=1, keepdims=True)
    v = v / np.maximum(np.linalg.norm(v, axis=0, keepdims=True), 1e-9)
    return {lag: float((v[:, :-lag] * v[:, lag:]).sum(axis=0).mean()) if v.shape[1] > lag + 2
            else 0.0 for lag in lags}


@dataclass(frozen=True)
class _Hypothesis:
    """Notated beat = ``factor`` reference beats, ``subdivision`` tatums a beat, ``beats_per_bar``."""

    factor: float
    beats_per_bar: int
    subdivision: int


def _hypotheses() -> list[_Hypothesis]:
    out = []
    for factor in (1 / 3, 1 / 2, 1.0, 2.0, 3.0, 4.0):
        for m in (2, 3, 4):
            bar = factor * m
            if bar < 1 - 1e-9 or abs(bar - round(bar)) > 1e-9:
                continue
            for s in (2, 3):
                out.append(_Hypothesis(factor, m, s))
    return out


_HYPOTHESES = _hypotheses()
_GRID = 12  # profile points per reference beat


def _grid_acf(seq: np.ndarray) -> np.ndarray:
    """Normalised autocorrelation of a tempo-normalised novelty (``_GRID`` points per beat)."""
    x = seq - seq.mean()
    spec = scipy.fft.rfft(x, n=2 * len(x))
    acf = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2)[: len(x)]
    return acf / max(float(acf[0]), 1e-12)


@dataclass
class _MeterEvidence:
    acf: np.ndarray  # tempo-normalised novelty ACF, lag in 1/_GRID reference beats
    sim: dict  # beat-descriptor similarity at integer reference-beat lags
    ref_period_seconds: float


def _meter_evidence(feats: _Features, nov: np.ndarray, ref: np.ndarray) -> _MeterEvidence:
    grid = _beat_grid(ref, _GRID)  # (n − 1, G)
    prof = _sample(nov, grid)
    acf = _grid_acf(prof.ravel())
    pat = prof / np.maximum(np.linalg.norm(prof, axis=1, keepdims=True), 1e-9)
    chroma = _segment_means(feats.chroma, ref)
    chroma = chroma / np.maximum(np.linalg.norm(chroma, axis=0, keepdims=True), 1e-9)
    mel = _segment_means(feats.logmel[::4], ref)
    mel = mel - mel.mean(axis=0, keepdims=True)
    mel = mel / np.maximum(np.linalg.norm(mel, axis=0, keepdims=True), 1e-9)
    desc = np.concatenate([pat.T, chroma, mel], axis=0)
    sim = _lag_similarity(desc, range(1, 17))
    return _MeterEvidence(acf, sim, float(np.median(np.diff(ref))) / _FPS)


def _acf_at(acf: np.ndarray, lag_beats: float) -> float:
    lag = lag_beats * _GRID
    if lag >= len(acf) - 1:
        return 0.0
    i = int(lag)
    f = lag - i
    return float((1 - f) * acf[i] + f * acf[i + 1])


def _hypothesis_features(h: _Hypothesis, ev: _MeterEvidence) -> np.ndarray:
    bpm = 60.0 / (ev.ref_period_seconds * h.factor)
    other_s = 5 - h.subdivision
    sub = _acf_at(ev.acf, h.factor / h.subdivision) - _acf_at(ev.acf, h.factor / other_s)
    bar = int(round(h.factor * h.beats_per_bar))
    sims = np.array([ev.sim.get(k, 0.0) for k in range(1, 17)])
    s_bar = ev.sim.get(bar, 0.0) - float(np.mean(sims[:8]))
    s_bar2 = ev.sim.get(2 * bar, 0.0) - float(np.mean(sims[:8]))
    beat = ev.sim.get(int(round(h.factor)), 0.0) if h.factor >= 1 else 0.0
    x = np.log2(bpm / 110.0)
    return np.array([-x * x, x, sub, s_bar, s_bar2, beat,
                     float(h.subdivision == 3), float(h.beats_per_bar == 3),
                     float(h.beats_per_bar == 2)])


_WEIGHTS = np.array([2.0, 0.0, 4.0, 4.0, 2.0, 0.0, -0.5, -0.2, -0.3])


# ------------------------------------------------------------------------ beats and downbeats
def _accents(feats: _Features, beats: np.ndarray) -> np.ndarray:
    """Bar-start evidence per beat: bass onset + harmonic change + overall onset (z-scored sum)."""
    win = np.arange(-2, 3)
    idx = np.clip(np.round(beats).astype(int)[:, None] + win[None, :], 0, feats.n_frames - 1)
    low = feats.low[idx].max(axis=1)
    flux = feats.flux[idx].max(axis=1)
    edges = np.concatenate([[2 * beats[0] - beats[1]], beats, [2 * beats[-1] - beats[-2]]])
    edges = np.clip(edges, 0, feats.n_frames - 1)
    seg = _segment_means(feats.chroma, edges)  # (12, n + 1): segment before/after each beat
    seg = seg / np.maximum(np.linalg.norm(seg, axis=0, keepdims=True), 1e-9)
    change = 1.0 - (seg[:, :-1] * seg[:, 1:]).sum(axis=0)

    def z(v):
        return (v - v.mean()) / max(float(v.std()), 1e-9)

    return z(low) + z(change) + 0.5 * z(flux)


def _best_phase(acc: np.ndarray, period: int) -> tuple[int, float]:
    """Phase (0 … period−1) whose positions carry the most accent, and its margin in std units."""
    if period <= 1 or len(acc) < 2 * period:
        return 0, 0.0
    means = np.array([acc[p::period].mean() for p in range(period)])
    order = np.sort(means)
    return int(means.argmax()), float(order[-1] - order[-2])


def _beats_at_level(ref: np.ndarray, factor: float, feats: _Features) -> np.ndarray:
    """Notated beats from reference beats: subsample (factor ≥ 1) or subdivide (factor < 1)."""
    if factor >= 1:
        f = int(round(factor))
        phase, _ = _best_phase(_accents(feats, ref), f)
        return ref[phase::f]
    k = int(round(1 / factor))
    u = np.arange((len(ref) - 1) * k + 1) / k
    return np.interp(u, np.arange(len(ref)), ref)


def _tempo_curve(beats_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ibi = np.diff(beats_s)
    if len(ibi) >= 5:
        ibi = scipy.ndimage.median_filter(ibi, 5, mode="nearest")
    bpm = 60.0 / ibi
    times = beats_s[:-1]
    return times, bpm


# ---------------------------------------------------------------------------------- the entry
def _check(y, sample_rate) -> np.ndarray:
    if not isinstance(sample_rate, (int, float, np.integer, np.floating)) or not (
            np.isfinite(sample_rate) and sample_rate > 0):
        raise ParameterError(f"sample_rate={sample_rate!r} must be a positive number of Hz")
    y = np.asarray(y)
    if y.ndim != 1:
        raise ParameterError(f"y has shape {y.shape}; analyze_rhythm expects mono 1-D samples "
                             "(mix down with samples.mean(axis=0))")
    if not np.issubdtype(y.dtype, np.floating):
        raise ParameterError(f"y has dtype {y.dtype}; expected float samples in [-1, 1]")
    if y.size and not np.all(np.isfinite(y)):
        raise ParameterError("y contains NaN or infinite samples")
    return y.astype(np.float32, copy=False)


def analyze_rhythm(y: np.ndarray, sample_rate: float) -> Rhythm:
    """Tempo, beats, downbeats, meter and local tempo of a mono signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,), float]
        Mono audio.
    sample_rate : float
        Sample rate of ``y`` in Hz (any; analysed at 11025 Hz).

    Returns
    -------
    Rhythm
        Empty (tempo 0, meter ``""``, no beats) for silence or input shorter than 3 s.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 22050
    >>> y = np.zeros(10 * sr, np.float32)
    >>> for t in np.arange(0.5, 9.5, 0.5):  # a 120 BPM click
    ...     y[int(t * sr):int(t * sr) + 64] = 0.5
    >>> r = analyze_rhythm(y, sr)
    >>> round(r.tempo_bpm)
    120
    """
    return _analyze(_check(y, sample_rate), float(sample_rate))[0]


def _analyze(y: np.ndarray, sample_rate: float, weights: np.ndarray | None = None
             ) -> tuple[Rhythm, dict]:
    weights = _WEIGHTS if weights is None else weights
    if y.size < _MIN_SECONDS * sample_rate:
        return _EMPTY, {}
    feats = _features(y, sample_rate)
    if feats is None:
        return _EMPTY, {}
    nov = _unit(feats.flux) + _unit(feats.harm)
    if not np.any(nov > 0):
        return _EMPTY, {}
    centres, acf = _local_acf(nov)
    sal = _comb_salience(acf)
    path = _viterbi_tempo(sal / max(float(sal.max()), 1e-9))
    ref_bpm = np.interp(np.arange(feats.n_frames), centres, _BPM_GRID[path])
    ref = _track(nov, ref_bpm)
    if len(ref) < 8:
        return _EMPTY, {}
    ev = _meter_evidence(feats, nov, ref)
    X = np.stack([_hypothesis_features(h, ev) for h in _HYPOTHESES])
    scores = X @ weights
    p = np.exp(scores - scores.max())
    p /= p.sum()
    best = int(scores.argmax())
    h = _HYPOTHESES[best]
    beats = _beats_at_level(ref, h.factor, feats)
    if len(beats) < 4:
        return _EMPTY, {}
    acc = _accents(feats, beats)
    phase, _ = _best_phase(acc, h.beats_per_bar)
    beats_s = beats / _FPS
    downbeats_s = beats_s[phase::h.beats_per_bar]
    times, bpm = _tempo_curve(beats_s)
    tempo = 60.0 / float(np.median(np.diff(beats_s)))
    on = nov[np.clip(np.round(beats).astype(int), 0, feats.n_frames - 1)].mean()
    clarity = float(np.clip((on / max(float(nov.mean()), 1e-9) - 1.0) / 3.0, 0.0, 1.0))
    same_level = sum(p[i] for i, g in enumerate(_HYPOTHESES) if g.factor == h.factor)
    confidence = clarity * (0.5 + 0.5 * float(p[best])) * (0.5 + 0.5 * float(same_level))
    rhythm = Rhythm(
        tempo_bpm=tempo,
        meter=_METERS[(h.beats_per_bar, h.subdivision)],
        beats_seconds=tuple(float(t) for t in beats_s),
        downbeats_seconds=tuple(float(t) for t in downbeats_s),
        tempo_curve_bpm=tuple((float(t), float(b)) for t, b in zip(times, bpm)),
        confidence=float(np.clip(confidence, 0.0, 1.0)),
    )
    debug = dict(ref=ref, ref_bpm=ref_bpm, X=X, scores=scores, best=best, evidence=ev)
    return rhythm, debug
