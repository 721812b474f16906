"""Era: the production decade a recording *sounds* like, with the evidence.

Conventions
-----------
* Input is a :class:`~reissue.analysis.sound.SoundAnalysis`; output a decade (1950 … 2020), a
  confidence and, per decade, how each cue voted.
* This is about production, not release date: a 2015 remaster of a 1965 record sounds 2015-loud,
  and a modern lo-fi production imitates the 1970s on purpose. The answer is "sounds like", and
  the evidence says which cues drove it.

Method
------
Each decade has a prototype range per cue (centre, tolerance), and each cue votes with a Gaussian
likelihood; the decade with the largest weighted sum of log-likelihoods wins. Cues and priors
(METHODS.md §7; Deruty & Pachet 2016, Vickers 2010 on the loudness war; Hove et al. 2019 on rising
bass; LAME's lowpass table for lossy bandwidth):

* integrated loudness (LUFS): ≈ −20 in the 1950s–60s, −18 … −14 in the 1970s–80s, rising through
  the 1990s to −9 … −7 in the 2000s loudness war, easing to −11 … −9 in the streaming era;
* peak-to-loudness ratio (dB): 18+ early, 14–18 1970s–80s, 8–10 2000s, 9–12 later;
* bandwidth (Hz): ≈ 8–11 kHz for shellac/AM and early tape transfers, 12–16 kHz tape/vinyl,
  full band (≥ 19 kHz) digital;
* stereo width (side/mid energy): ≈ 0 (mono) in the 1950s, wide/hard-panned late 1960s–70s,
  moderate and controlled since;
* low-end weight (mean level of the 40–100 Hz third-octave bands minus that of 500 Hz–2 kHz, dB):
  rising over the decades;
* noise floor (dBFS): tape hiss ≈ −60 … −50 before digital, below −80 after.

The priors are approximate and unverified on a labelled corpus here; confidence is the softmax
margin between the best and second-best decade. Expect ±1 decade at best.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Era", "estimate_era", "DECADE_PRIORS"]

#: decade → cue → (centre, tolerance)
DECADE_PRIORS: dict[int, dict[str, tuple[float, float]]] = {
    1950: {"lufs": (-20, 3), "plr": (19, 3), "bandwidth_khz": (9, 2.5), "width": (0.0, 0.03),
           "low_end_db": (-8, 5), "noise_dbfs": (-52, 6)},
    1960: {"lufs": (-18, 3), "plr": (17, 3), "bandwidth_khz": (13, 3), "width": (0.35, 0.3),
           "low_end_db": (-5, 5), "noise_dbfs": (-58, 6)},
    1970: {"lufs": (-16, 3), "plr": (16, 3), "bandwidth_khz": (15, 2.5), "width": (0.3, 0.2),
           "low_end_db": (-2, 5), "noise_dbfs": (-64, 7)},
    1980: {"lufs": (-15, 3), "plr": (14, 3), "bandwidth_khz": (17, 2.5), "width": (0.25, 0.15),
           "low_end_db": (0, 5), "noise_dbfs": (-75, 10)},
    1990: {"lufs": (-12, 2.5), "plr": (11.5, 2.5), "bandwidth_khz": (19.5, 2), "width": (0.25, 0.15),
           "low_end_db": (2, 5), "noise_dbfs": (-90, 10)},
    2000: {"lufs": (-8, 2), "plr": (8, 2), "bandwidth_khz": (19.5, 2.5), "width": (0.25, 0.15),
           "low_end_db": (4, 5), "noise_dbfs": (-95, 10)},
    2010: {"lufs": (-9.5, 2), "plr": (9.5, 2), "bandwidth_khz": (20, 2), "width": (0.3, 0.15),
           "low_end_db": (6, 5), "noise_dbfs": (-100, 10)},
    2020: {"lufs": (-11, 2.5), "plr": (10.5, 2.5), "bandwidth_khz": (20, 2), "width": (0.3, 0.15),
           "low_end_db": (7, 5), "noise_dbfs": (-100, 10)},
}
#: cue weights (how much each kind of evidence is trusted)
CUE_WEIGHTS = {"lufs": 1.0, "plr": 1.0, "bandwidth_khz": 0.8, "width": 0.6, "low_end_db": 0.5,
               "noise_dbfs": 0.8}


@dataclass(frozen=True)
class Era:
    decade: int
    confidence: float
    evidence: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"decade": self.decade, "confidence": round(self.confidence, 3),
                "evidence": self.evidence}


def _cues(sound) -> dict[str, float]:
    bands = dict(zip(sound.band_centres_hz, sound.band_levels_db))
    low = [bands[k] for k in ("40", "50", "63", "80", "100") if k in bands]
    mids = [bands[k] for k in ("500", "630", "800", "1000", "1250", "1600", "2000") if k in bands]
    low_level = sum(low) / len(low) if low else -150.0
    ref = sum(mids) / len(mids) if mids else -150.0
    bandwidth = sound.bandwidth_hz
    # full band up to Nyquist reads as 20 kHz whatever the sample rate
    return {
        "lufs": sound.integrated_lufs,
        "plr": sound.plr_db,
        "bandwidth_khz": min(bandwidth, 20000.0) / 1000.0,
        "width": min(sound.stereo_width, 1.5),
        "low_end_db": max(-40.0, min(20.0, low_level - ref)),
        "noise_dbfs": max(sound.noise_floor_dbfs, -120.0),
    }


def estimate_era(sound) -> Era:
    """Vote for the production decade a recording sounds like.

    Parameters
    ----------
    sound : SoundAnalysis

    Returns
    -------
    Era
        ``evidence`` holds the cue values and, for the winning decade, each cue's vote.
    """
    cues = _cues(sound)
    scores = {}
    votes = {}
    for decade, prior in DECADE_PRIORS.items():
        total = 0.0
        detail = {}
        for cue, value in cues.items():
            centre, tol = prior[cue]
            ll = -0.5 * ((value - centre) / tol) ** 2
            total += CUE_WEIGHTS[cue] * max(ll, -8.0)  # one wild cue cannot veto a decade
            detail[cue] = round(CUE_WEIGHTS[cue] * max(ll, -8.0), 2)
        scores[decade] = total
        votes[decade] = detail
    ranked = sorted(scores, key=lambda d: -scores[d])
    best = ranked[0]
    z = [math.exp(scores[d] - scores[best]) for d in ranked]
    confidence = 1.0 / sum(z)
    evidence = {
        "cues": {k: round(v, 2) for k, v in cues.items()},
        "votes": votes[best],
        "runner_up": ranked[1],
        "scores": {str(d): round(scores[d], 2) for d in ranked},
        "note": "production era the sound suggests, not a release date",
    }
    return Era(decade=best, confidence=float(confidence), evidence=evidence)
