"""Mood: valence and arousal in [−1, 1] from documented, inspectable musical features.

Conventions
-----------
* A transparent linear model, not a black box: each feature is mapped to a z-score against a
  stated reference (typical of commercial popular music), multiplied by a signed weight, summed,
  and squashed with tanh. ``evidence`` lists every feature's value, z-score, weight and
  contribution, so a user sees *why* a song reads as calm or sad.
* Features: mode (major +1 / minor −1, scaled by key confidence), tempo (BPM), loudness (LUFS),
  brightness (spectral tilt in dB/octave — higher is brighter — plus the share of energy above
  2 kHz), onset density (note onsets per second), harmonic tension (share of chord time on
  minor chords and chord changes per bar, a rough proxy for harmonic instability).

Weights follow the direction and rough size of the correlates surveyed by Gabrielsson & Lindström
(2010, "The role of structure in the musical expression of emotions") and Yang & Chen (2012,
"Machine recognition of music emotion: a review"): arousal rises with tempo, loudness, onset rate
and brightness; valence rises with major mode, faster tempo, brightness and falls with tension.
Limits, stated honestly: audio predicts arousal much better than valence (on DEAM the best
published systems reach RMSE ≈ 0.20 for arousal vs 0.27 for valence — Aljanaki et al. 2017;
lyrics and culture drive valence), so treat valence as a hint; the weights are set by hand from
that literature, not fitted to a corpus here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Mood", "analyze_mood", "REFERENCES"]

#: feature → (reference mean, reference spread) used for z-scores
REFERENCES = {
    "tempo_bpm": (110.0, 25.0),
    "loudness_lufs": (-14.0, 5.0),
    "spectral_tilt_db_per_octave": (-4.5, 1.5),
    "onset_density_per_second": (3.0, 1.5),
    "mode": (0.0, 1.0),
    "harmonic_tension": (0.35, 0.2),
}
#: feature → (arousal weight, valence weight)
WEIGHTS = {
    "tempo_bpm": (0.35, 0.15),
    "loudness_lufs": (0.35, 0.05),
    "spectral_tilt_db_per_octave": (0.2, 0.1),
    "onset_density_per_second": (0.3, 0.05),
    "mode": (0.0, 0.45),
    "harmonic_tension": (0.1, -0.25),
}


@dataclass(frozen=True)
class Mood:
    valence: float
    arousal: float
    evidence: dict = field(default_factory=dict)

    @property
    def quadrant(self) -> str:
        if self.arousal >= 0:
            return "happy/excited" if self.valence >= 0 else "tense/angry"
        return "calm/content" if self.valence >= 0 else "sad/gloomy"

    def to_dict(self) -> dict:
        return {"valence": round(self.valence, 3), "arousal": round(self.arousal, 3),
                "quadrant": self.quadrant, "evidence": self.evidence}


def harmonic_tension(chords, beats_per_bar: int = 4, bar_seconds: float | None = None) -> float:
    """Share of chord time on minor chords plus a term for chord-change rate, in [0, 1].

    ``chords`` is a sequence of (start_s, end_s, Harte label). No-chord time is ignored.
    """
    total = minor = 0.0
    changes = 0
    prev = None
    for start, end, label in chords:
        if label in ("N", "X"):
            continue
        d = max(0.0, float(end) - float(start))
        total += d
        if label.endswith(":min"):
            minor += d
        if prev is not None and label != prev:
            changes += 1
        prev = label
    if total <= 0:
        return 0.0
    rate = changes / total * (bar_seconds or 2.0)  # changes per bar
    return float(min(1.0, 0.6 * minor / total + 0.4 * min(rate / 2.0, 1.0)))


def analyze_mood(*, tempo_bpm: float, loudness_lufs: float, spectral_tilt_db_per_octave: float,
                 onset_density_per_second: float, mode: str, key_confidence: float = 1.0,
                 harmonic_tension: float = 0.35) -> Mood:
    """Valence and arousal from the features named in the module notes.

    Parameters
    ----------
    tempo_bpm, loudness_lufs, spectral_tilt_db_per_octave, onset_density_per_second : float
    mode : {"major", "minor"}
    key_confidence : float in [0, 1]
        Scales the mode's vote (an ambiguous key says little about valence).
    harmonic_tension : float in [0, 1]
        See :func:`harmonic_tension`.

    Examples
    --------
    >>> m = analyze_mood(tempo_bpm=150, loudness_lufs=-8, spectral_tilt_db_per_octave=-3,
    ...                  onset_density_per_second=6, mode="major")
    >>> m.arousal > 0.5 and m.valence > 0
    True
    """
    values = {
        "tempo_bpm": float(tempo_bpm),
        "loudness_lufs": float(loudness_lufs),
        "spectral_tilt_db_per_octave": float(spectral_tilt_db_per_octave),
        "onset_density_per_second": float(onset_density_per_second),
        "mode": (1.0 if mode == "major" else -1.0) * max(0.0, min(1.0, float(key_confidence))),
        "harmonic_tension": float(harmonic_tension),
    }
    arousal = valence = 0.0
    evidence = {}
    for name, value in values.items():
        mean, spread = REFERENCES[name]
        z = max(-3.0, min(3.0, (value - mean) / spread))
        wa, wv = WEIGHTS[name]
        arousal += wa * z
        valence += wv * z
        evidence[name] = {"value": round(value, 3), "z": round(z, 2),
                          "arousal_weight": wa, "valence_weight": wv,
                          "arousal_contribution": round(wa * z, 3),
                          "valence_contribution": round(wv * z, 3)}
    evidence["method"] = ("tanh of a weighted sum of z-scored features; weights from the music "
                          "emotion literature (see reissue.analysis.mood); valence is a hint")
    return Mood(valence=float(math.tanh(valence)), arousal=float(math.tanh(arousal)),
                evidence=evidence)
