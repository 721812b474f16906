"""reissue.analysis.sound against signals whose measures are known."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import scipy.signal

from reissue.analysis import analyze
from reissue.analysis import sound as S

RATES = [44100, 48000]


def sine(freq, seconds, sample_rate, amplitude=1.0, phase=0.0):
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    return (amplitude * np.sin(2 * np.pi * freq * t + phase)).astype(np.float32)


def fade(x, sample_rate, seconds=0.05):
    n = int(seconds * sample_rate)
    ramp = np.sin(np.linspace(0, np.pi / 2, n)) ** 2
    y = x.copy()
    y[..., :n] *= ramp
    y[..., -n:] *= ramp[::-1]
    return y


def test_k_weighting_matches_bs1770_table_at_48k():
    sos = S.k_weighting_sos(48000)
    np.testing.assert_allclose(sos[0, :3], [1.53512485958697, -2.69169618940638,
                                            1.19839281085285], atol=1e-9)
    np.testing.assert_allclose(sos[0, 4:], [-1.69065929318241, 0.73248077421585], atol=1e-9)
    np.testing.assert_allclose(sos[1, 4:], [-1.99004745483398, 0.99007225036621], atol=1e-9)


@pytest.mark.parametrize("sample_rate", RATES)
def test_stereo_1khz_sine_at_minus_20_dbfs_is_minus_20_lufs(sample_rate):
    x = sine(1000, 10, sample_rate, 0.1)
    assert S.integrated_loudness(np.stack([x, x]), sample_rate) == pytest.approx(-20.0, abs=0.1)
    # one channel of a 0 dBFS sine reads −3.01 LKFS (BS.1770's reference relation)
    assert S.integrated_loudness(sine(997, 10, sample_rate)[None], sample_rate) == \
        pytest.approx(-3.01, abs=0.1)


def test_integrated_loudness_agrees_with_pyloudnorm(rng):
    sr = 44100
    t = np.arange(sr * 20) / sr
    env = (0.5 + 0.5 * np.sin(2 * np.pi * 0.1 * t)) ** 3  # quiet passages exercise the gates
    x = (rng.standard_normal((2, t.size)) * 0.2 * env).astype(np.float32)
    ours = S.integrated_loudness(x, sr)
    ref = pyloudnorm.Meter(sr).integrated_loudness(x.T.astype(np.float64))
    assert ours == pytest.approx(ref, abs=0.15)


def test_gating_ignores_silence():
    """20 s of silence after a −20 LUFS tone hardly move the result (blocks straddling the end
    still pass the relative gate, as BS.1770 specifies, so it reads ≈ −20.1)."""
    sr = 48000
    tone = sine(1000, 5, sr, 0.1)
    x = np.stack([np.concatenate([tone, np.zeros(sr * 20, np.float32)])] * 2)
    ours = S.integrated_loudness(x, sr)
    assert ours == pytest.approx(-20.0, abs=0.2)
    assert ours == pytest.approx(pyloudnorm.Meter(sr).integrated_loudness(x.T), abs=0.1)


def test_short_term_and_loudness_range_follow_tech_3342():
    """20 s at −20 LUFS then 20 s at −30 LUFS: LRA 10 LU (EBU Tech 3342 test case 1 style)."""
    sr = 48000
    a = sine(1000, 20, sr, 0.1)
    b = sine(1000, 20, sr, 0.1 * 10 ** (-10 / 20))
    x = np.concatenate([a, b])
    x = np.stack([x, x])
    assert S.loudness_range(x, sr) == pytest.approx(10.0, abs=0.2)
    st = S.short_term_loudness(x, sr)
    assert st[50] == pytest.approx(-20.0, abs=0.1)   # window ending at 8 s
    assert st[-1] == pytest.approx(-30.0, abs=0.1)
    assert len(st) == int((40 - 3) * 10) + 1


def test_constant_signal_has_zero_range():
    sr = 44100
    x = sine(440, 12, sr, 0.3)
    assert S.loudness_range(np.stack([x, x]), sr) == pytest.approx(0.0, abs=0.1)


@pytest.mark.parametrize("sample_rate", RATES)
def test_inter_sample_peak_is_above_sample_peak(sample_rate):
    # fs/4 at 45°: every sample sits at ±0.707 while the waveform peaks at 1.0
    n = np.arange(sample_rate)
    x = fade(np.sin(2 * np.pi * n / 4 + np.pi / 4).astype(np.float32), sample_rate)[None]
    sample_peak = 20 * np.log10(np.abs(x).max())
    tp = S.true_peak_dbtp(x, sample_rate)
    assert sample_peak == pytest.approx(-3.01, abs=0.01)
    assert tp == pytest.approx(0.0, abs=0.1)
    assert tp > sample_peak + 2.5


def test_true_peak_equals_full_oversampling(rng):
    """The pruned search returns exactly the peak of full 4× oversampling, and agrees with scipy."""
    sr = 44100
    x = (rng.standard_normal((2, sr * 4)) * 0.2).astype(np.float32)
    x[1, 50_000:50_200] *= 3.0  # a hot spot in one channel
    kernels = S._true_peak_kernels(4)
    brute = max(np.abs(x).max(), max(np.abs(np.convolve(ch, k[::-1])).max()
                                      for ch in x for k in kernels))
    assert S.true_peak_dbtp(x, sr) == pytest.approx(20 * np.log10(brute), abs=1e-4)
    scipy_tp = 20 * np.log10(np.abs(scipy.signal.resample_poly(x, 4, 1, axis=1)).max())
    assert S.true_peak_dbtp(x, sr) == pytest.approx(scipy_tp, abs=0.15)
    assert S.true_peak_dbtp(x, sr) >= 20 * np.log10(np.abs(x).max())


@pytest.mark.parametrize("cutoff", [5000.0, 8000.0, 16000.0])
@pytest.mark.parametrize("method", ["fft", "elliptic"])
def test_bandwidth_of_band_limited_noise(rng, cutoff, method):
    sr = 44100
    n = sr * 10
    white = rng.standard_normal((2, n))
    if method == "fft":
        spec = np.fft.rfft(white, axis=1)
        spec[:, np.fft.rfftfreq(n, 1 / sr) > cutoff] = 0
        x = np.fft.irfft(spec, n, axis=1)
    else:  # a steep anti-alias-style filter, as encoders and resamplers use
        sos = scipy.signal.ellip(10, 0.1, 90, cutoff, fs=sr, output="sos")
        x = scipy.signal.sosfilt(sos, white, axis=1)
    x = (0.1 * x / x.std()).astype(np.float32)
    bw = analyze(x, sr).sound.bandwidth_hz
    assert bw == pytest.approx(cutoff, rel=0.10)


def test_full_band_noise_has_full_bandwidth(rng):
    sr = 48000
    x = (rng.standard_normal((2, sr * 5)) * 0.1).astype(np.float32)
    assert analyze(x, sr).sound.bandwidth_hz > 0.9 * sr / 2


def test_stereo_image():
    sr = 44100
    rng = np.random.default_rng(3)
    m = (rng.standard_normal(sr * 3) * 0.1).astype(np.float32)
    width, corr = S.stereo_image(np.stack([m, m]))
    assert width == pytest.approx(0.0, abs=1e-6) and corr == pytest.approx(1.0, abs=1e-6)
    other = (rng.standard_normal(sr * 3) * 0.1).astype(np.float32)
    width, corr = S.stereo_image(np.stack([m, other]))
    assert width == pytest.approx(1.0, abs=0.05) and corr == pytest.approx(0.0, abs=0.05)
    width, corr = S.stereo_image(np.stack([m, -m]))
    assert corr == pytest.approx(-1.0, abs=1e-6) and width > 100
    assert S.stereo_image(m[None]) == (0.0, 1.0)


def test_spectral_tilt_of_white_and_pink_noise(rng):
    sr = 44100
    n = sr * 10
    white = rng.standard_normal((1, n))
    spec = np.fft.rfft(white, axis=1)
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[:, 1:] /= np.sqrt(f[1:])
    pink = np.fft.irfft(spec, n, axis=1)
    for x, slope in ((white, 3.0), (pink, 0.0)):
        x = (0.1 * x / x.std()).astype(np.float32)
        assert analyze(x, sr).sound.spectral_tilt_db_per_octave == pytest.approx(slope, abs=0.3)


def test_third_octave_band_holds_a_sine():
    sr = 48000
    x = sine(1000, 5, sr, 0.1)
    s = analyze(np.stack([x, x]), sr).sound
    levels = dict(zip(s.band_centres_hz, s.band_levels_db))
    assert levels["1000"] == pytest.approx(10 * np.log10(0.005), abs=0.2)  # −23.0 dB
    assert levels["800"] < levels["1000"] - 40 and levels["1250"] < levels["1000"] - 40
    assert s.band_centres_hz[0] == "25" and s.band_centres_hz[-1] == "20000"


def test_noise_floor_under_music(rng):
    sr = 44100
    n = sr * 30
    t = np.arange(n) / sr
    music = np.zeros(n)
    for k, f in enumerate((220.0, 277.2, 329.6, 440.0)):  # a sustained A major chord
        music += 0.1 * np.sin(2 * np.pi * f * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.2 * t + k))
    hiss = 10 ** (-60 / 20) * rng.standard_normal((2, n))
    x = (music[None] + hiss).astype(np.float32)
    assert S.noise_floor_dbfs(x, sr) == pytest.approx(-60.0, abs=1.5)
    clean = np.repeat(music[None], 2, axis=0).astype(np.float32)
    assert S.noise_floor_dbfs(clean, sr) < -80


def test_crest_clipping_and_plr():
    sr = 44100
    x = sine(100, 4, sr, 1.0)
    s = analyze(np.stack([x, x]), sr).sound
    assert s.crest_db == pytest.approx(3.01, abs=0.02)
    assert s.clipped_samples == 0
    assert s.plr_db == pytest.approx(s.true_peak_dbtp - s.integrated_lufs, abs=1e-9)
    clipped = np.clip(2.0 * x, -1.0, 1.0)
    expected = int(np.sum(np.abs(clipped) >= 1.0))
    s = analyze(np.stack([clipped, clipped]), sr).sound
    assert s.clipped_samples == pytest.approx(2 * expected, rel=0.02)
    assert s.crest_db < 3.0


def test_silence_is_floored_not_nan():
    s = analyze(np.zeros((2, 44100 * 2), np.float32), 44100).sound
    assert s.integrated_lufs == S.LOUDNESS_FLOOR_LUFS
    assert s.true_peak_dbtp == S.LEVEL_FLOOR_DB
    d = s.to_dict()
    assert all(np.isfinite(v) for v in d.values() if isinstance(v, float))


def test_very_short_signal():
    x = sine(1000, 0.05, 44100, 0.1)
    s = analyze(np.stack([x, x]), 44100).sound
    assert np.isfinite(s.integrated_lufs) and s.short_term_lufs


def test_json_schema_keys(rng):
    x = (rng.standard_normal((2, 44100 * 4)) * 0.1).astype(np.float32)
    d = analyze(x, 44100).to_dict()
    assert {"file", "duration_seconds", "sample_rate", "channels", "sound"} <= set(d)
    keys = {"integrated_lufs", "true_peak_dbtp", "loudness_range_lu", "crest_db", "plr_db",
            "spectral_tilt_db_per_octave", "bandwidth_hz", "stereo_width", "lr_correlation",
            "noise_floor_dbfs", "clipped_samples", "band_levels_db", "short_term_lufs"}
    assert keys <= set(d["sound"])
    assert isinstance(d["sound"]["band_levels_db"], dict)
    assert isinstance(d["sound"]["clipped_samples"], int)


@pytest.mark.parametrize("sample_rate", [44100, 11025])
def test_streaming_result_does_not_depend_on_block_size(rng, sample_rate):
    """SoundMeter fed in odd-sized blocks gives the one-block answer (a 60-minute file can then
    be measured in a few MB)."""
    n = sample_rate * 9 + 123
    t = np.arange(n) / sample_rate
    x = (rng.standard_normal((2, n)) * 0.05 * (1 + np.sin(2 * np.pi * 0.3 * t))).astype(np.float32)
    x[0, 5000:5010] = 0.9  # a flat top (clipping) and an inter-sample-peak region
    x[1, 20000:20100] = np.sin(np.pi / 2 * np.arange(100) + np.pi / 4) * 0.3
    whole = S.analyze_sound(x, sample_rate)
    meter = S.SoundMeter(sample_rate, 2)
    bounds = [0, 1, 17, 4410, 4411, 9000, 30000, 30001, n]
    for a, b in zip(bounds, bounds[1:]):
        meter.process(x[:, a:b])
    parts = meter.result()
    for field in ("integrated_lufs", "true_peak_dbtp", "loudness_range_lu", "crest_db",
                  "bandwidth_hz", "stereo_width", "lr_correlation", "clipped_samples",
                  "spectral_tilt_db_per_octave"):
        assert getattr(parts, field) == pytest.approx(getattr(whole, field), abs=1e-3), field
    assert parts.noise_floor_dbfs == pytest.approx(whole.noise_floor_dbfs, abs=0.01)
    np.testing.assert_allclose(parts.short_term_lufs, whole.short_term_lufs, atol=1e-3)
    assert whole.clipped_samples == 10


def test_meter_with_master_measures_matches_full_meter():
    """The master's own output measures (K-weighted segments, exact true peak) stand in for the
    meter's loudness and true-peak passes: same integrated loudness (±0.05 LU), LRA (±0.1 LU),
    short-term curve (±0.1 LU) and true peak (exact)."""
    from reissue.demo import render_demo
    from reissue.produce.master import MasterTarget, master

    y, rep = master(render_demo(noise=False), 44100, MasterTarget(loudness_lufs=-10.0))
    full = S.SoundMeter(44100, 2)
    full.process(y)
    a = full.result()
    fast = S.SoundMeter(44100, 2, loudness=False, true_peak=False)
    fast.process(y)
    b = fast.result(**rep.output_measures)
    assert abs(a.integrated_lufs - b.integrated_lufs) < 0.05
    assert abs(a.loudness_range_lu - b.loudness_range_lu) < 0.1
    assert np.abs(np.array(a.short_term_lufs) - np.array(b.short_term_lufs)).max() < 0.1
    assert a.true_peak_dbtp == pytest.approx(b.true_peak_dbtp, abs=1e-6)
    assert (a.band_levels_db, a.noise_floor_dbfs) == (b.band_levels_db, b.noise_floor_dbfs)
    with pytest.raises(ValueError):
        S.SoundMeter(44100, 2, loudness=False).result()
