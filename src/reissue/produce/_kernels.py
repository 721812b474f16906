"""Compiled inner loops shared by the production stages (private).

Conventions
-----------
* Signals are ``float32 (channels, n)``; control-rate series have one value per *block* of
  ``block`` consecutive samples (block ``k`` covers samples ``[k·block, (k+1)·block)``, the last one
  may be short).
* Gain curves are given at control *points*: point ``k`` sits at sample ``k·block``, there are
  ``n_blocks + 1`` of them, and the gain of sample ``n`` is the linear interpolation between the
  two points around it. :func:`apply_gain` and :func:`mix_bands` do that interpolation.
* Everything here is deterministic (no parallel reductions), so the same input gives the same bytes.

Why compiled: every pass over a 3-minute stereo track is 16 M samples; a numpy expression that
needs three temporaries costs more than the fused loop here (measured in ``benchmarks/master.py``).
(The K-weighting pass is :func:`reissue.analysis.sound.k_weighted_block_energy`, shared with the
sound meter.)
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

_TINY = 1e-30


@njit(cache=True, nogil=True, fastmath=True)
def _fir3(pad, kernels, m, a0, a1, a2):  # pragma: no cover - compiled
    """Three interpolation phases at once (each loaded sample feeds all three)."""
    for i in range(m):
        a0[i] = 0.0
        a1[i] = 0.0
        a2[i] = 0.0
    for j in range(kernels.shape[1]):
        k0 = kernels[0, j]
        k1 = kernels[1, j]
        k2 = kernels[2, j]
        for i in range(m):
            v = pad[j + i]
            a0[i] += v * k0
            a1[i] += v * k1
            a2[i] += v * k2


@njit(cache=True, nogil=True, fastmath=True)
def _fir1(pad, kernels, m, a0):  # pragma: no cover - compiled
    for i in range(m):
        a0[i] = 0.0
    for j in range(kernels.shape[1]):
        k0 = kernels[0, j]
        for i in range(m):
            a0[i] += pad[j + i] * k0


@njit(cache=True, nogil=True, fastmath=True)
def _peaks_into(pad, kernels, left, m, a0, a1, a2, out, kb, block):  # pragma: no cover
    """Block maxima of |x| and its interpolations for the ``m`` samples held in ``pad``."""
    phases = kernels.shape[0]
    if phases == 3:
        _fir3(pad, kernels, m, a0, a1, a2)
    elif phases == 1:
        _fir1(pad, kernels, m, a0)
    for k in range(kb, kb + (m + block - 1) // block):
        mx = out[k]
        i0 = (k - kb) * block
        i1 = min(m, i0 + block)
        for i in range(i0, i1):
            mx = max(mx, max(abs(pad[i + left]), max(abs(a0[i]), max(abs(a1[i]), abs(a2[i])))))
        out[k] = mx


@njit(cache=True, nogil=True, fastmath=True)
def _fill(pad, xc, lo, width, n):  # pragma: no cover - compiled
    """``pad[:width] = xc[lo : lo + width]`` with zeros outside ``[0, n)``."""
    if lo >= 0 and lo + width <= n:
        pad[:width] = xc[lo: lo + width]
    else:
        for j in range(width):
            idx = lo + j
            pad[j] = xc[idx] if (idx >= 0 and idx < n) else np.float32(0.0)


@njit(cache=True, nogil=True, fastmath=True)
def block_peak_sums(x, block, sums):  # pragma: no cover - compiled
    """One pass over ``x``, per block: the sample peak over channels (float32) and, if ``sums``,
    per channel ``Σ x`` and ``Σ j·x`` (``j`` = index within the block; float64 (channels,
    n_blocks)), from which the mean of ``x`` times any piecewise-linear gain follows exactly."""
    channels, n = x.shape
    nb = (n + block - 1) // block
    peak = np.zeros(nb, np.float32)
    s0 = np.zeros((channels, nb if sums else 0))
    s1 = np.zeros((channels, nb if sums else 0))
    for c in range(channels):
        xc = x[c]
        for k in range(nb):
            lo = k * block
            hi = min(n, lo + block)
            mx = peak[k]
            t0 = 0.0
            t1 = 0.0
            for i in range(lo, hi):
                v = xc[i]
                mx = max(mx, abs(v))
                if sums:
                    t0 += v
                    t1 += (i - lo) * np.float64(v)
            peak[k] = mx
            if sums:
                s0[c, k] = t0
                s1[c, k] = t1
    return peak, s0, s1


@njit(cache=True, nogil=True, fastmath=True)
def true_peak_blocks(x, kernels, left, block, need):  # pragma: no cover - compiled
    """Largest |value| of the oversampled signal in each block, over all channels (float32).

    Each sample ``i`` contributes ``|x[i]|`` and its fractional-delay interpolations
    ``x(i + p/os) = Σ_j x[i − left + j] · kernels[p − 1, j]`` (zeros outside the signal): the
    same interpolator as the true-peak meter, so a block's value is exactly what the meter
    sees. ``kernels`` has 3 rows (4×), 1 row (2×) or 0 rows (sample peak only). Only chunks
    holding a block with ``need[k]`` are interpolated (``need`` empty = all); other blocks
    get 0.
    """
    channels, n = x.shape
    taps = kernels.shape[1]
    nb = (n + block - 1) // block
    out = np.zeros(nb, np.float32)
    per = max(1, 1024 // block)
    chunk = block * per
    pad = np.zeros(chunk + taps, np.float32)
    a0 = np.zeros(chunk, np.float32)
    a1 = np.zeros(chunk, np.float32)
    a2 = np.zeros(chunk, np.float32)
    every = need.shape[0] == 0
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        kb = s // block
        if not every:
            wanted = False
            for k in range(kb, min(nb, kb + per)):
                if need[k]:
                    wanted = True
                    break
            if not wanted:
                continue
        for c in range(channels):
            _fill(pad, x[c], s - left, m + taps - 1, n)
            _peaks_into(pad, kernels, left, m, a0, a1, a2, out, kb, block)
    return out


@njit(cache=True, nogil=True, fastmath=True)
def block_power(x, block):  # pragma: no cover - compiled
    """Mean over channels and samples of x² in each block (float64, ``n_blocks``)."""
    channels, n = x.shape
    nb = (n + block - 1) // block
    out = np.zeros(nb)
    for k in range(nb):
        lo = k * block
        hi = min(n, lo + block)
        acc = 0.0
        for c in range(channels):
            for i in range(lo, hi):
                v = np.float64(x[c, i])
                acc += v * v
        out[k] = acc / ((hi - lo) * channels)
    return out


@njit(cache=True, nogil=True, fastmath=True)
def add_band_power(y, offset, count, band_of, block, power, k0):  # pragma: no cover
    """``power[band_of[i], k0 + q] += mean(y[i, offset + block q]²)`` over ``count`` samples
    of every row (``y`` C-contiguous, so the inner loop vectorises)."""
    rows = y.shape[0]
    for i in range(rows):
        b = band_of[i]
        row = y[i]
        for q in range((count + block - 1) // block):
            lo = offset + q * block
            hi = min(offset + count, lo + block)
            acc = 0.0
            for t in range(lo, hi):
                v = np.float64(row[t])
                acc += v * v
            power[b, k0 + q] += acc / (hi - lo)


@njit(cache=True, nogil=True)
def output_peak_bounds(gain, peak_hi, peak_lo, bound, reach, dc):  # pragma: no cover
    """Upper and lower bounds of each block's true peak after the gain (see
    ``master._output_peak_candidates``): the gain over points ``k − reach − 1 … k + reach + 1``
    lies in ``[lo, hi]``; ``upper = mid·peak_hi + half·bound + dc``, ``lower = mid·peak_lo −
    half·bound − dc``."""
    nb = peak_hi.shape[0]
    npts = gain.shape[0]
    upper = np.empty(nb)
    lower = np.empty(nb)
    for k in range(nb):
        hi = -1e300
        lo = 1e300
        for j in range(max(0, k - reach - 1), min(npts, k + reach + 2)):
            g = gain[j]
            hi = max(hi, g)
            lo = min(lo, g)
        mid = 0.5 * (hi + lo)
        half = 0.5 * (hi - lo)
        upper[k] = mid * peak_hi[k] + half * bound[k] + dc
        lower[k] = mid * peak_lo[k] - half * bound[k] - dc
    return upper, lower


@njit(cache=True, nogil=True)
def rms_level_db(power, coef):  # pragma: no cover - compiled
    """One-pole smoothed power (``e ← coef·e + (1 − coef)·p``) in dB, floored at −300 dB."""
    out = np.empty(power.shape[0])
    e = 0.0
    for k in range(power.shape[0]):
        e = coef * e + (1.0 - coef) * power[k]
        out[k] = 10.0 * math.log10(e + 1e-30)
    return out


@njit(cache=True, nogil=True, fastmath=True)
def masked_mean(values, mask):  # pragma: no cover - compiled
    """Mean of ``values`` where ``mask`` (0 if none)."""
    acc = 0.0
    count = 0
    for k in range(values.shape[0]):
        if mask[k]:
            acc += values[k]
            count += 1
    return acc / count if count else 0.0


@njit(cache=True, nogil=True, fastmath=True)
def makeup_and_points(gain_db, power, restore):  # pragma: no cover - compiled
    """Make-up (dB) restoring the long-term power if ``restore``, and the linear gain at the
    control points (``n_blocks + 1``, the last repeated) with it applied."""
    n = gain_db.shape[0]
    lin = np.empty(n + 1)
    total = 0.0
    kept = 0.0
    scale = math.log(10.0) / 20.0
    for k in range(n):
        g = math.exp(scale * gain_db[k])
        lin[k] = g
        total += power[k]
        kept += power[k] * g * g
    makeup = 10.0 * math.log10(total / kept) if (restore and kept > 0.0) else 0.0
    m = math.exp(scale * makeup)
    for k in range(n):
        lin[k] *= m
    lin[n] = lin[n - 1] if n else 1.0
    return makeup, lin


@njit(cache=True, nogil=True)
def compressor_gain_db(level_db, threshold_db, ratio, knee_db, attack_coef,
                       release_coef):  # pragma: no cover - compiled
    """Feed-forward compressor gain (dB, ≤ 0) per control point.

    Static curve with a quadratic soft knee of width ``knee_db`` (Giannoulis, Massberg & Reiss
    2012, eq. 4), then a branching one-pole smoother in the gain domain: ``attack_coef`` while the
    gain falls, ``release_coef`` while it recovers (their "smooth branching" detector, which has
    no level-dependent attack and returns exactly to 0 dB).
    """
    n = level_db.shape[0]
    out = np.empty(n)
    slope = 1.0 / ratio - 1.0
    half = 0.5 * knee_db
    g = 0.0
    for k in range(n):
        over = level_db[k] - threshold_db
        if over <= -half:
            target = 0.0
        elif over < half:
            d = over + half
            target = slope * d * d / (2.0 * knee_db)
        else:
            target = slope * over
        if target < g:
            g = attack_coef * g + (1.0 - attack_coef) * target
        else:
            g = release_coef * g + (1.0 - release_coef) * target
        out[k] = g
    return out


@njit(cache=True, nogil=True)
def limiter_gain_db(peak_db, offset_db, ceiling_db, lookahead, release_coef, out, work,
                    dq):  # pragma: no cover - compiled
    """Look-ahead limiter gain (dB, ≤ 0) at control points, never above the ceiling.

    ``peak_db[k] + offset_db`` is the peak (dB) the gain at point ``k`` must bring under
    ``ceiling_db``. With ``r = min(0, ceiling − peak − offset)``:

    1. ``m[k] = min r[k … k + lookahead − 1]`` (forward window: the gain starts falling before
       the peak; monotone deque, O(n));
    2. release: ``m'[k] = min(m[k], release_coef · m'[k − 1])`` (exponential return to 0 dB);
    3. two moving averages of lengths ``a + b − 1 = lookahead`` (a quadratic-spline attack).

    Every value averaged into point ``k`` comes from a window containing ``k``, so the result is
    ≤ ``r[k]``: the ceiling holds by construction, not by iteration. ``out``, ``work`` (float64)
    and ``dq`` (int64) are caller-provided buffers of ``len(peak_db)``; ``out`` is returned.
    """
    n = peak_db.shape[0]
    limit = ceiling_db - offset_db
    r = work
    for k in range(n):
        r[k] = min(0.0, limit - peak_db[k])
    m = out
    head = 0
    tail = 0
    j = 0
    for k in range(n):
        hi = min(n, k + lookahead)
        while j < hi:
            while tail > head and r[dq[tail - 1]] >= r[j]:
                tail -= 1
            dq[tail] = j
            tail += 1
            j += 1
        while dq[head] < k:
            head += 1
        m[k] = r[dq[head]]
    g = 0.0
    for k in range(n):
        g = min(m[k], release_coef * g)
        m[k] = g
    a = (lookahead + 1) // 2
    b = lookahead - a + 1
    _moving_average(m, a, r)
    _moving_average(r, b, out)
    return out


@njit(cache=True, nogil=True)
def _moving_average(src, length, dst):  # pragma: no cover - compiled
    """``dst[k] = mean(src[k − length + 1 … k])`` with ``src[j < 0] = src[0]``."""
    n = src.shape[0]
    if n == 0:
        return
    first = src[0]
    acc = first * length
    for k in range(n):
        acc += src[k] - (src[k - length] if k >= length else first)
        dst[k] = acc / length


@njit(cache=True, nogil=True)
def segment_energy(energy, point_db, seg_of, n_seg):  # pragma: no cover - compiled
    """Σ per 100 ms segment of block energies × the mean square of the block's gain ramp.

    ``point_db`` (n_blocks + 1) is the gain at control points in dB; within a block the linear
    gain ramps from ``a`` to ``b``, whose mean square is ``(a² + ab + b²)/3``. Blocks with
    ``seg_of == n_seg`` (the incomplete last segment) are dropped.
    """
    out = np.zeros(n_seg)
    scale = math.log(10.0) / 20.0
    prev_db = point_db[0]
    a = math.exp(scale * prev_db)
    for k in range(energy.shape[0]):
        nxt_db = point_db[k + 1]
        b = a if nxt_db == prev_db else math.exp(scale * nxt_db)
        s = seg_of[k]
        if s < n_seg:
            out[s] += energy[k] * (a * a + a * b + b * b) / 3.0
        a = b
        prev_db = nxt_db
    return out


_CHUNK = 4096


@njit(cache=True, nogil=True, fastmath=True)
def _ramp(gain, k0, count, block, buf):  # pragma: no cover - compiled
    """Fill ``buf[:count·block]`` with the interpolated gain of blocks ``k0 … k0+count−1``."""
    inv = np.float32(1.0 / block)
    for q in range(count):
        g0 = np.float32(gain[k0 + q])
        step = (np.float32(gain[k0 + q + 1]) - g0) * inv
        base = q * block
        for i in range(block):
            buf[base + i] = g0 + step * np.float32(i)


@njit(cache=True, nogil=True, fastmath=True)
def apply_gain(x, gain, block, out, offset):  # pragma: no cover - compiled
    """``out = x · g − offset`` with ``g`` linearly interpolated between control points
    (n_blocks + 1) and ``offset`` per channel. ``out`` may be ``x`` itself (in place)."""
    channels, n = x.shape
    per = max(1, _CHUNK // block)
    span = per * block
    buf = np.empty(span, np.float32)
    for s in range(0, n, span):
        m = min(span, n - s)
        k0 = s // block
        _ramp(gain, k0, (m + block - 1) // block, block, buf)
        for c in range(channels):
            xc = x[c, s: s + m]
            oc = out[c, s: s + m]
            off = np.float32(offset[c])
            for i in range(m):
                oc[i] = xc[i] * buf[i] - off
    return out


@njit(cache=True, nogil=True, fastmath=True)
def mix_bands(bands, band_of, side, gains, block, channels):  # pragma: no cover - compiled
    """Sum band signals with per-band time-varying gains into L/R (or mono).

    ``bands[i]`` is a mid (``side[i] == 0``) or side (``side[i] == 1``) signal of band
    ``band_of[i]``; ``gains[b]`` are the control-point gains (linear) of band ``b``. Output
    ``L = Σ g·(M + S)``, ``R = Σ g·(M − S)``; with ``channels == 1`` just ``Σ g·M``. Also
    returns the output's mean square per block (mean over channels), for a following
    compressor's detector.
    """
    count, n = bands.shape
    nbands = gains.shape[0]
    out = np.empty((channels, n), np.float32)
    power = np.zeros((n + block - 1) // block)
    per = max(1, _CHUNK // block)
    span = per * block
    g = np.empty((nbands, span), np.float32)
    mid = np.empty(span, np.float32)
    sid = np.empty(span, np.float32)
    for s in range(0, n, span):
        m = min(span, n - s)
        k0 = s // block
        for b in range(nbands):
            _ramp(gains[b], k0, (m + block - 1) // block, block, g[b])
        mid[:m] = 0.0
        sid[:m] = 0.0
        for i in range(count):
            src = bands[i, s: s + m]
            gb = g[band_of[i]]
            acc = sid if side[i] else mid
            for t in range(m):
                acc[t] += src[t] * gb[t]
        o0 = out[0, s: s + m]
        if channels == 2:
            o1 = out[1, s: s + m]
            for t in range(m):
                o0[t] = mid[t] + sid[t]
                o1[t] = mid[t] - sid[t]
        else:
            for t in range(m):
                o0[t] = mid[t]
        for q in range((m + block - 1) // block):
            lo = q * block
            hi = min(m, lo + block)
            acc2 = 0.0
            for t in range(lo, hi):
                acc2 += np.float64(mid[t]) * mid[t] + np.float64(sid[t]) * sid[t]
            power[k0 + q] = acc2 / (hi - lo)
    return out, power
