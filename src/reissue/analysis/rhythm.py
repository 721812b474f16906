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
1. **Novelty** (≈ 23 ms frames from one 1024-point STFT at 11025 Hz). Log-mel SuperFlux (Böck &
   Widmer 2013: rectified difference against the max-filtered spectrum two frames back) for
   attacks; a *harmonic-change* novelty (rectified rise of smoothed chroma over ≈ 90 ms) for notes
   that enter without an attack (bowed strings, organ, the rendered classical music this is
   measured on); a low-band (< 200 Hz) flux for bass notes. Each is log-compressed
   (``log(1 + x/mean)``) so the first note after silence cannot outvote the song.
   The front end is streamed: soxr's streaming resampler and the STFT run in blocks of 2¹⁸ input
   samples, keeping only the 64 mel bands and 12 chroma bins (float32) — never the power
   spectrogram or a resampled copy of the signal (60 min: ≈ 200 MB traced peak for the whole
   analysis instead of ≈ 1.4 GB).
2. **Reference pulse.** Autocorrelation of the summed novelty in 8 s windows every 0.5 s, read
   as a comb (lags τ … 4τ) over 60–240 BPM, a Viterbi path over log-tempo with a cost per
   tempo step, parabolic refinement. An Ellis (2007) dynamic programme with a *fractional*,
   time-varying period (``_dp_beats``, numba; librosa's rounds the period to whole frames, a 2 %
   tempo error at 220 BPM) places the reference beats, refined to sub-frame peaks. The reference
   is a metrical level, not necessarily the notated beat.
3. **Metrical hypotheses.** Notated beat = ``factor`` × reference beat (¼ … 4, including 3:2 for
   compound music tracked at the quarter), × subdivision {2, 3} × beats per bar {2, 3, 4}. Each
   is scored on the novelty streams resampled on the reference grid (12 cells a beat, so tempo
   drift does not blur anything): correlation of the mean bar pattern with a learned per-meter
   template at every bar phase, chord-change / chord-stability / bass-level contrasts at the
   candidate downbeats, adjusted R² of a bar-periodic vs beat-periodic pattern (novelty and
   chroma: Gainza-style bar self-similarity), beat-descriptor similarity at 2/3/4-beat lags,
   autocorrelation at the 2- vs 3-fold subdivision (``tempogram_ratio``'s question), and a
   learned log-tempo prior. A small conditional-logit model (``_rhythm_model.py``: 22 + 7
   weights and the templates) turns these into probabilities; it was fitted by
   ``scripts/train_rhythm_model.py`` on 475 music21-corpus excerpts rendered with FluidSynth by
   ``scripts/rhythm_training_set.py`` — none of them a piece of the accuracy benchmark. The beat
   level is the one with the most probability summed over meters; the meter is the best at that
   level; the bar phase the best of its phases (which may move the beats off the DP's beats).
4. **Output.** Beats and downbeats follow from the chosen level and phase on the reference grid;
   the model's fitted lag of novelty peaks behind the true beats (≈ 9 ms) is removed. The tempo
   curve is 60 / inter-beat interval, median-smoothed over 5 beats, one point per beat; the
   global tempo is 60 / median interval. Confidence = how far beats stand above the mean novelty
   × the model's probability of the chosen meter and level.

Limits: one meter per song (no meter changes); the bar phase of music without drums and with
constant note velocities is often a beat off (downbeat F ≈ 0.55 on rendered classical music);
rubato beyond the DP's tightness (≈ ±10 % per beat) loses beats.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import librosa
import numba
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


_BLOCK_SAMPLES = 1 << 18  # input samples per block of the streamed front end (12 s at 22.05 kHz)


def _resampled_blocks(y: np.ndarray, sample_rate: float):
    """``y`` at 11025 Hz in consecutive blocks (soxr's streaming resampler: the same samples as a
    one-shot resampling, without a second copy of a long signal)."""
    if sample_rate == _SR:
        for i in range(0, len(y), _BLOCK_SAMPLES):
            yield y[i:i + _BLOCK_SAMPLES]
        return
    stream = soxr.ResampleStream(sample_rate, _SR, 1, dtype="float32")
    for i in range(0, len(y), _BLOCK_SAMPLES):
        yield stream.resample_chunk(y[i:i + _BLOCK_SAMPLES],
                                    last=i + _BLOCK_SAMPLES >= len(y))


def _spectral_bands(y: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Mel power (64, frames) and chroma (12, frames) of the 1024-point STFT at 11025 Hz, frame
    t centred at t·hop (zero padding at both ends), computed block by block so that the power
    spectrogram of a long input never exists whole (60 min: ≈ 320 MB saved)."""
    pad = np.zeros(_N_FFT // 2, np.float32)
    buf = pad
    mel, chroma = [], []

    def frames_of(buf: np.ndarray) -> int:
        if len(buf) < _N_FFT:
            return 0
        n = (len(buf) - _N_FFT) // _HOP + 1
        frames = librosa.util.frame(buf, frame_length=_N_FFT, hop_length=_HOP, axis=0)[:n]
        spec = scipy.fft.rfft(frames * _WINDOW, axis=1)
        power = spec.real ** 2 + spec.imag ** 2  # (n, bins) float32
        mel.append(_MEL @ power.T)
        chroma.append(_CHROMA @ np.sqrt(power.T))
        return n

    for block in _resampled_blocks(y, sample_rate):
        buf = np.concatenate([buf, block.astype(np.float32, copy=False)])
        buf = buf[frames_of(buf) * _HOP:]
    frames_of(np.concatenate([buf, pad]))
    return np.concatenate(mel, axis=1), np.concatenate(chroma, axis=1)


def _features(y: np.ndarray, sample_rate: float) -> _Features | None:
    mel, chroma = _spectral_bands(y, sample_rate)
    top = float(mel.max())
    if top <= 1e-12:
        return None
    logmel = np.log10(np.maximum(mel, np.float32(top * 1e-8)), out=mel)
    logmel *= np.float32(10.0)
    del mel
    flux = librosa.onset.onset_strength(S=logmel, lag=2, max_size=3, center=False)
    low = librosa.onset.onset_strength(S=logmel[:_LOW_BANDS], lag=2, max_size=1, center=False)
    chroma = np.log1p(np.float32(100.0 / max(float(chroma.max()), 1e-12)) * chroma)
    smooth = scipy.ndimage.uniform_filter1d(chroma, 4, axis=1)
    n_frames = chroma.shape[1]
    harm = np.zeros(n_frames, np.float32)
    harm[2:-2] = np.maximum(smooth[:, 4:] - smooth[:, :-4], 0.0).sum(axis=0)
    return _Features(flux.astype(np.float32), low.astype(np.float32), harm, chroma, logmel,
                     n_frames)


def _unit(x: np.ndarray) -> np.ndarray:
    s = float(np.std(x))
    return x / s if s > 1e-12 else np.zeros_like(x)


def _compress(x: np.ndarray) -> np.ndarray:
    """log(1 + x/mean): one huge onset (the first note after silence) cannot outvote a song."""
    return np.log1p(x / max(float(x.mean()), 1e-9))


def _novelty(feats: _Features) -> np.ndarray:
    """The beat tracker's novelty: attacks, harmonic change and (half-weighted) bass onsets,
    each compressed to unit std."""
    return (_unit(_compress(feats.flux)) + _unit(_compress(feats.harm))
            + 0.5 * _unit(_compress(feats.low)))


# ------------------------------------------------------------------------------ reference pulse
_REF_BPM = np.geomspace(60.0, 240.0, 97)  # 48 bins per octave


def _local_acf(nov: np.ndarray, win: int = 344, hop: int = 22, max_lag: int = 200
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


def _interp_cols(a: np.ndarray, pos: np.ndarray) -> np.ndarray:
    """``a[..., pos]`` at fractional positions (0 beyond the end)."""
    ok = pos < a.shape[-1] - 1
    out = np.zeros(a.shape[:-1] + (len(pos),))
    i = np.floor(pos[ok]).astype(int)
    f = pos[ok] - i
    out[..., ok] = (1 - f) * a[..., i] + f * a[..., i + 1]
    return out


def _reference_tempo(nov: np.ndarray, jump_cost: float = 0.5) -> np.ndarray:
    """Local tempo (BPM per frame) of the most salient metrical level in 60–240 BPM.

    Comb salience (ACF at τ, 2τ, 3τ, 4τ) per 8 s window, a Viterbi path over log-tempo with a
    cost per tempo step, and parabolic refinement of each window's peak.
    """
    centres, acf = _local_acf(nov)
    lag = 60.0 * _FPS / _REF_BPM
    sal = sum(_interp_cols(acf, k * lag) for k in range(1, 5))
    sal = sal / max(float(sal.max()), 1e-9)
    steps = np.arange(len(_REF_BPM))
    trans = -jump_cost * np.abs(steps[:, None] - steps[None, :]) / 4.0
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
    # parabolic interpolation around each window's chosen bin (in log-tempo)
    i = np.clip(path, 1, len(_REF_BPM) - 2)
    rows = np.arange(len(sal))
    a, b, c = sal[rows, i - 1], sal[rows, i], sal[rows, i + 1]
    den = a - 2 * b + c
    shift = np.where(den < -1e-9, 0.5 * (a - c) / np.where(den < -1e-9, den, 1.0), 0.0)
    log_bpm = np.log(_REF_BPM[i]) + np.clip(shift, -0.5, 0.5) * np.log(_REF_BPM[1] / _REF_BPM[0])
    return np.exp(np.interp(np.arange(len(nov)), centres, log_bpm))


@numba.njit(cache=True, nogil=True)
def _dp_beats(local, period, tightness):  # pragma: no cover - JIT-compiled
    """Ellis (2007) dynamic programme with a fractional, time-varying beat period.

    ``score[t] = local[t] + max(0, max_s score[s] − tightness·log²((t − s)/period[t]))`` over
    predecessors s ∈ [t − 2·period, t − period/2]; returns the backtracked beat frames.
    """
    n = local.shape[0]
    score = np.empty(n)
    back = np.full(n, -1, np.int64)
    for t in range(n):
        p = period[t]
        lo = max(0, int(t - 2.0 * p))
        hi = int(t - 0.5 * p)
        best = 0.0
        arg = -1
        for s_ in range(lo, hi + 1):
            d = np.log((t - s_) / p)
            v = score[s_] - tightness * d * d
            if v > best:
                best = v
                arg = s_
        score[t] = local[t] + best
        back[t] = arg
    # the path ends at the best score within the last beat period
    p = period[n - 1]
    start = max(0, int(n - 1.5 * p))
    end = start
    for t in range(start, n):
        if score[t] > score[end]:
            end = t
    out = np.empty(n, np.int64)
    k = 0
    t = end
    while t >= 0:
        out[k] = t
        k += 1
        t = back[t]
    return out[:k][::-1]


def _track(nov: np.ndarray, bpm: np.ndarray, tightness: float = 300.0) -> np.ndarray:
    """Beats (fractional frames) of the DP for a per-frame tempo, refined to sub-frame peaks."""
    local = scipy.ndimage.gaussian_filter1d(nov / max(float(nov.std()), 1e-9), 1.0)
    beats = _dp_beats(local.astype(np.float64), (60.0 * _FPS / bpm).astype(np.float64),
                      float(tightness)).astype(float)
    i = np.clip(beats.astype(int), 1, len(local) - 2)
    a, b, c = local[i - 1], local[i], local[i + 1]
    den = a - 2 * b + c
    shift = np.where(den < -1e-9, 0.5 * (a - c) / np.where(den < -1e-9, den, 1.0), 0.0)
    return i + np.clip(shift, -0.5, 0.5)


def _active_span(feats: _Features) -> tuple[float, float]:
    """First and last frame within 50 dB of the loudest frame (the DP fills silence with beats)."""
    level = feats.logmel.max(axis=0)
    active = np.flatnonzero(level > level.max() - 50.0)
    return float(active[0]), float(active[-1])


# --------------------------------------------------------------------------- metrical analysis
_CELLS = 12  # pattern cells per notated beat (divisible by 2, 3 and 4)


@dataclass(frozen=True)
class _Hypothesis:
    """Notated beat = ``factor`` reference beats; ``subdivision`` tatums a beat; bar length."""

    factor: float
    beats_per_bar: int
    subdivision: int

    @property
    def meter(self) -> str:
        return _METERS[(self.beats_per_bar, self.subdivision)]


_FACTORS = (1 / 4, 1 / 3, 1 / 2, 2 / 3, 1.0, 3 / 2, 2.0, 3.0, 4.0)
_HYPOTHESES = tuple(_Hypothesis(f, m, s) for f in _FACTORS for m in (2, 3, 4) for s in (2, 3))


def _frames_at(ref: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Frames at positions ``u`` measured in reference beats (linear within, extrapolated out)."""
    idx = np.arange(len(ref))
    out = np.interp(u, idx, ref)
    lo, hi = u < 0, u > len(ref) - 1
    out[lo] = ref[0] + u[lo] * (ref[1] - ref[0])
    out[hi] = ref[-1] + (u[hi] - len(ref) + 1) * (ref[-1] - ref[-2])
    return out


def _sample(x: np.ndarray, frames: np.ndarray, *, peaks: bool = True) -> np.ndarray:
    """Values of ``x`` (…, n) at fractional frames, after a 3-frame max filter (``peaks``)."""
    xm = scipy.ndimage.maximum_filter1d(x, 3, axis=-1) if peaks else x
    frames = np.clip(frames, 0, x.shape[-1] - 1.001)
    i = np.floor(frames).astype(int)
    f = frames - i
    return (1 - f) * xm[..., i] + f * xm[..., i + 1]


def _cumsum(x: np.ndarray) -> np.ndarray:
    return np.concatenate([np.zeros((x.shape[0], 1)), np.cumsum(x, axis=1)], axis=1)


def _segment_means(csum: np.ndarray, bounds: np.ndarray) -> np.ndarray:
    """Mean between consecutive frame bounds of the signal whose :func:`_cumsum` is ``csum``:
    (d, len(bounds) − 1)."""
    b = np.clip(np.round(bounds).astype(int), 0, csum.shape[1] - 2)
    lo, hi = b[:-1], np.maximum(b[1:], b[:-1] + 1)
    return (csum[:, hi] - csum[:, lo]) / (hi - lo)


def _zrows(a: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    return a / np.maximum(np.linalg.norm(a, axis=-1, keepdims=True), 1e-9)


def _lag_similarity(v: np.ndarray, lags) -> np.ndarray:
    """Mean cosine similarity of centred, normalised columns of ``v`` (d, n) at the given lags."""
    v = v - v.mean(axis=1, keepdims=True)
    v = v / np.maximum(np.linalg.norm(v, axis=0, keepdims=True), 1e-9)
    return np.array([float((v[:, :-lag] * v[:, lag:]).sum(axis=0).mean())
                     if v.shape[1] > lag + 2 else 0.0 for lag in lags])


@dataclass
class _Context:
    """Everything the hypotheses are scored on."""

    ref: np.ndarray  # reference beats, frames
    ref_period_s: float
    streams: np.ndarray  # (3, frames): flux, harmonic change, low-band flux; max-filtered
    descriptors: np.ndarray  # cumulative sums (d, frames + 1) of chroma, coarse log-mel, bass
    acf: np.ndarray  # ACF of the novelty sampled _CELLS per reference beat
    chroma: np.ndarray  # (12, frames) unit-norm chroma, smoothed over ≈ 0.1 s
    levels: dict = field(default_factory=dict)  # per beat level: shared intermediate results


def _context(feats: _Features, nov: np.ndarray, ref: np.ndarray) -> _Context:
    streams = np.stack([_unit(_compress(x)) for x in (feats.flux, feats.harm, feats.low)])
    streams = scipy.ndimage.maximum_filter1d(streams, 3, axis=-1)
    top = float(feats.logmel.max())
    desc = np.concatenate([feats.chroma / max(float(feats.chroma.max()), 1e-9),
                           (feats.logmel[::4] - top) / 40.0,
                           (feats.logmel[None, :_LOW_BANDS].mean(axis=1) - top) / 40.0])
    u = np.arange((len(ref) - 1) * _CELLS) / _CELLS
    seq = _sample(nov, _frames_at(ref, u))
    seq = seq - seq.mean()
    spec = scipy.fft.rfft(seq, n=2 * len(seq))
    acf = scipy.fft.irfft(spec.real ** 2 + spec.imag ** 2)[: len(seq)]
    acf = acf / max(float(acf[0]), 1e-12)
    chroma = feats.chroma / np.maximum(np.linalg.norm(feats.chroma, axis=0, keepdims=True), 1e-9)
    return _Context(ref, float(np.median(np.diff(ref))) / _FPS, streams, _cumsum(desc), acf,
                    scipy.ndimage.uniform_filter1d(chroma, 5, axis=1))


def _acf_at(acf: np.ndarray, lag_ref_beats: float) -> float:
    return float(_interp_cols(acf[None, :], np.array([lag_ref_beats * _CELLS]))[0, 0])


@dataclass
class _Scored:
    features: np.ndarray  # hypothesis features (the meter model's input)
    phase_features: np.ndarray  # (phases, k) per candidate bar phase
    phases: np.ndarray  # candidate offsets of a downbeat, in cells from reference beat 0
    phase_cells: int  # the chosen one
    cells: float  # cell length in reference beats


def _beat_phase_features(h: _Hypothesis, ctx: _Context, first: int, cell: float,
                         n_cells: int) -> np.ndarray:
    """Per downbeat offset k (0 … m−1) of the beats at cells ``first + 12·j``: how much more
    chord change, chord stability after the beat and bass level the beats ≡ k carry."""
    m = h.beats_per_bar
    cells = np.arange(first, n_cells, _CELLS)
    if len(cells) < 2 * m + 2:
        return np.zeros((m, 3))
    frames = _frames_at(ctx.ref, cells * cell)
    seg = _segment_means(ctx.descriptors, frames)  # (d, n − 1): segment j starts at beat j
    chroma = seg[:12] / np.maximum(np.linalg.norm(seg[:12], axis=0, keepdims=True), 1e-9)
    sim = (chroma[:, :-1] * chroma[:, 1:]).sum(axis=0)  # sim[j]: segment j vs j + 1
    change = np.concatenate([[np.nan], 1.0 - sim])  # change into segment j
    stable = np.concatenate([sim, [np.nan]])  # segment j continues into j + 1
    bass = seg[-1]
    v = np.stack([change, stable, bass])  # (3, n)
    n = v.shape[1] // m * m
    v = v[:, :n].reshape(3, n // m, m)
    spread = np.maximum(np.nanstd(v, axis=(1, 2)), 1e-9)[:, None]
    return ((np.nanmean(v, axis=1) - np.nanmean(v, axis=(1, 2))[:, None]) / spread).T


def _periodic_r2(x: np.ndarray, period: int) -> np.ndarray:
    """Adjusted R² of a ``period``-cell repeating pattern fitted to each row of ``x`` (d, n)."""
    n = x.shape[1] // period * period
    if n < 3 * period:
        return np.zeros(x.shape[0])
    v = x[:, :n].reshape(x.shape[0], n // period, period)
    resid = ((v - v.mean(axis=1, keepdims=True)) ** 2).sum(axis=(1, 2)) / (n - period)
    total = ((v - v.mean(axis=(1, 2), keepdims=True)) ** 2).sum(axis=(1, 2)) / (n - 1)
    return 1.0 - resid / np.maximum(total, 1e-12)


def _score_hypothesis(h: _Hypothesis, ctx: _Context, model) -> _Scored | None:
    bpm = 60.0 / (ctx.ref_period_s * h.factor)
    span = len(ctx.ref) - 1  # reference beats available
    bar_ref = h.factor * h.beats_per_bar
    if not 40.0 <= bpm <= 250.0 or span < 2.5 * bar_ref:
        return None
    cell = h.factor / _CELLS
    per_bar = _CELLS * h.beats_per_bar
    n_cells = int(span / cell)
    level = ctx.levels.get(h.factor)
    if level is None:  # what depends on the beat level only is computed once per level
        x = _sample(ctx.streams, _frames_at(ctx.ref, np.arange(n_cells) * cell), peaks=False)
        beat_frames = _frames_at(ctx.ref, np.arange(0, span, h.factor))
        sim = (_lag_similarity(_segment_means(ctx.descriptors, beat_frames), (2, 3, 4))
               if len(beat_frames) > 12 else np.zeros(3))
        c = _sample(ctx.chroma, _frames_at(ctx.ref, np.arange(0, span, h.factor / 4)),
                    peaks=False)  # 4 points a beat
        level = ctx.levels[h.factor] = (x, sim, c, _periodic_r2(x, _CELLS),
                                        float(_periodic_r2(c, 4).mean()), {})
    x, sim, c, r2_beat, c_beat, firsts = level
    tmpl = model.templates[h.meter]  # (3, per_bar), rows centred and normalised
    step = _CELLS // h.subdivision
    phases = np.arange(0, per_bar, step)
    by_first = {}
    for f in range(0, _CELLS, step):
        key = (f, h.beats_per_bar)
        if key not in firsts:
            firsts[key] = _beat_phase_features(h, ctx, f, cell, n_cells)
        by_first[f] = firsts[key]
    phi = []
    for p in phases:
        n_bars = (n_cells - p) // per_bar
        pat = x[:, p:p + n_bars * per_bar].reshape(3, n_bars, per_bar).mean(axis=1)
        # share of this phase's beats that fall on reference (DP) beats
        u = (p % _CELLS + _CELLS * np.arange(12)) * cell
        on_ref = float(np.mean(np.abs(u - np.round(u)) < 1e-6))
        phi.append(np.concatenate([(_zrows(pat) * tmpl).sum(axis=1),
                                   by_first[p % _CELLS][p // _CELLS], [on_ref]]))
    phi = np.array(phi)
    logit = phi @ model.phase_weights
    best = int(logit.argmax())
    finite = np.sort(logit[np.isfinite(logit)])
    margin = float(finite[-1] - finite[-2]) if len(finite) > 1 else 0.0
    # beat-descriptor similarity at bar lags, on this hypothesis' own beats
    s_bar = float(sim[h.beats_per_bar - 2] - sim.mean())
    other = 5 - h.subdivision
    sub = _acf_at(ctx.acf, h.factor / h.subdivision) - _acf_at(ctx.acf, h.factor / other)
    x_bpm = np.log2(bpm / 110.0)
    compound = float(h.subdivision == 3)
    r2_bar = _periodic_r2(x, per_bar)
    c_bar = float(_periodic_r2(c, 4 * h.beats_per_bar).mean())
    feats = np.array([-x_bpm * x_bpm, x_bpm, -x_bpm * x_bpm * compound, x_bpm * compound,
                      float(logit[best]), margin, *phi[best, :3], sub, s_bar, compound,
                      float(h.beats_per_bar == 3), float(h.beats_per_bar == 2),
                      *r2_bar, *(r2_bar - r2_beat), c_bar, c_bar - c_beat])
    return _Scored(feats, phi, phases, int(phases[best]), cell)


@dataclass
class _Model:
    """The fitted meter model (see ``_rhythm_model.py`` and ``scripts/train_rhythm_model.py``)."""

    templates: dict
    phase_weights: np.ndarray
    weights: np.ndarray
    lag_seconds: float

    @classmethod
    def load(cls, module=None) -> "_Model":
        if module is None:
            from . import _rhythm_model as module
        return cls({k: _zrows(np.asarray(v, float)) for k, v in module.TEMPLATES.items()},
                   np.asarray(module.PHASE_WEIGHTS, float), np.asarray(module.WEIGHTS, float),
                   float(module.LAG_SECONDS))


# ---------------------------------------------------------------------------------- the entry
def _check(y, sample_rate) -> np.ndarray:
    if isinstance(sample_rate, bool) or not isinstance(
            sample_rate, (int, float, np.integer, np.floating)) or not (
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

    Raises
    ------
    ParameterError
        ``y`` is not a 1-D float array of finite samples, or ``sample_rate`` is not positive.

    Examples
    --------
    >>> import numpy as np
    >>> sr = 22050
    >>> y = np.zeros(12 * sr, np.float32)
    >>> for t in np.arange(0.5, 11.5, 0.5):  # a 120 BPM click
    ...     y[int(t * sr):int(t * sr) + 64] = 0.5
    >>> round(analyze_rhythm(y, sr).tempo_bpm)
    120
    """
    return _analyze(_check(y, sample_rate), float(sample_rate))[0]


def _analyze(y: np.ndarray, sample_rate: float, model: _Model | None = None
             ) -> tuple[Rhythm, dict]:
    model = _Model.load() if model is None else model
    if y.size < _MIN_SECONDS * sample_rate:
        return _EMPTY, {}
    feats = _features(y, sample_rate)
    if feats is None:
        return _EMPTY, {}
    nov = _novelty(feats)
    if not np.any(nov > 0):
        return _EMPTY, {}
    ref = _track(nov, _reference_tempo(nov))
    first, last = _active_span(feats)
    ref = ref[(ref >= first - 2) & (ref <= last)]
    if len(ref) < 8:
        return _EMPTY, {}
    ctx = _context(feats, nov, ref)
    cands = [(h, _score_hypothesis(h, ctx, model)) for h in _HYPOTHESES]
    cands = [(h, s) for h, s in cands if s is not None]
    if not cands:
        return _EMPTY, {}
    logits = np.array([float(s.features @ model.weights) for _, s in cands])
    prob = np.exp(logits - logits.max())
    prob /= prob.sum()
    # the beat level is the one with the most probability summed over meters (a 4/4-vs-3/4 doubt
    # must not hand the beat to a competing level); the meter is then the best at that level
    factors = np.array([g.factor for g, _ in cands])
    level_prob = {f: float(prob[factors == f].sum()) for f in np.unique(factors)}
    factor = max(level_prob, key=level_prob.get)
    best = int(np.argmax(np.where(factors == factor, prob, -1.0)))
    h, sc = cands[best]
    span = len(ref) - 1
    first = sc.phase_cells % _CELLS
    u = (first + _CELLS * np.arange(int((span / sc.cells - first) // _CELLS) + 1)) * sc.cells
    beats = _frames_at(ref, u) / _FPS - model.lag_seconds
    is_down = ((np.arange(len(u)) * _CELLS + first - sc.phase_cells) // _CELLS) \
        % h.beats_per_bar == 0
    keep = beats >= 0
    beats, is_down = beats[keep], is_down[keep]
    if len(beats) < 4:
        return _EMPTY, {}
    ibi = np.diff(beats)
    smooth = scipy.ndimage.median_filter(ibi, 5, mode="nearest") if len(ibi) >= 5 else ibi
    tempo = 60.0 / float(np.median(ibi))
    on = nov[np.clip(np.round((beats + model.lag_seconds) * _FPS).astype(int), 0,
                     feats.n_frames - 1)].mean()
    clarity = float(np.clip((on / max(float(nov.mean()), 1e-9) - 1.0) / 3.0, 0.0, 1.0))
    confidence = clarity * (0.4 + 0.3 * float(prob[best]) + 0.3 * level_prob[factor])
    rhythm = Rhythm(
        tempo_bpm=tempo,
        meter=h.meter,
        beats_seconds=tuple(float(t) for t in beats),
        downbeats_seconds=tuple(float(t) for t in beats[is_down]),
        tempo_curve_bpm=tuple((float(t), float(60.0 / d)) for t, d in zip(beats, smooth)),
        confidence=float(np.clip(confidence, 0.0, 1.0)),
    )
    return rhythm, dict(ref=ref, ctx=ctx, cands=cands, prob=prob, best=best, feats=feats)
