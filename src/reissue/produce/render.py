"""Render a plan: restore → push back the original drums → stretch → new layers → mix → master.

Conventions
-----------
* ``render(samples, sample_rate, analysis, plan)`` takes the original float32 ``(channels, n)`` and
  returns a :class:`Rendered` with the new stereo version, optional stems and the stage reports.
  Every random choice comes from ``plan.seed``: the same inputs give the same samples.
* Stage CPU time is recorded in the :class:`~reissue.cost.CostMeter` passed in, under
  ``restore``, ``separate``, ``stretch``, ``layers``, ``mix`` and ``master``.

Gain staging
------------
Levels are set relative to the original, so a quiet 1960s transfer and a loud 2000s master get
the same balance: each layer is scaled so its RMS sits ``part.gain_db`` below/above the restored
original's RMS, the original itself is scaled by ``plan.original_db``; the master then sets the
absolute loudness. Sidechain ducking (a one-pole decay of ``plan.duck_db`` after each new kick,
2 ms attack, ``plan.duck_release_seconds`` release) is applied to the bass and chord layers and,
at half depth, to the original, so the new kick punches through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..cost import CostMeter
from .sidechain import duck_envelope

__all__ = ["Rendered", "render"]


@dataclass
class Rendered:
    samples: np.ndarray
    sample_rate: int
    stems: dict[str, np.ndarray] = field(default_factory=dict)
    restore: dict = field(default_factory=dict)
    master: dict = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    #: the master's exact measures of ``samples`` (``loudness_segments``, ``true_peak``), for
    #: :meth:`reissue.analysis.sound.SoundMeter.result`
    measures: dict = field(default_factory=dict)


def _rms_db(x: np.ndarray) -> float:
    # float32 dot products over 256 k-sample pieces summed in float64: no full-size float64
    # temporary (0.1 CPU-s less per 3-minute refresh), accurate to ≪ 0.01 dB
    flat = np.ascontiguousarray(x, dtype=np.float32).reshape(-1)
    step = 1 << 18
    total = sum(float(np.dot(flat[i:i + step], flat[i:i + step]))
                for i in range(0, flat.size, step))
    ms = total / max(flat.size, 1)
    return 10 * math.log10(ms) if ms > 0 else -150.0


def _pan_gains(pan: float) -> tuple[np.float32, np.float32]:
    """Constant-power pan gains, unity for both channels at the centre."""
    angle = (pan + 1) * math.pi / 4
    return (np.float32(math.cos(angle) * math.sqrt(2)), np.float32(math.sin(angle) * math.sqrt(2)))


def render(samples: np.ndarray, sample_rate: int, analysis, plan, *,
           meter: CostMeter | None = None, keep_stems: bool = False, reference_curve=None,
           progress=None, rng_salt: int = 0) -> Rendered:
    """Turn the original and a :class:`~reissue.arrange.Plan` into the new version.

    ``rng_salt`` (≠ 0) varies the layers' random streams (used per segment by
    :mod:`reissue.produce.blocks`, so segments do not repeat one another's humanisation)."""
    from .. import instruments as ins
    from .master import MasterTarget, master
    from .restore import restore
    from .separate import attenuate_percussive

    meter = meter or CostMeter()
    step = progress or (lambda name: None)
    out = Rendered(samples, sample_rate)

    step("restore")
    with meter.stage("restore"):
        x, rep = restore(samples, sample_rate, sound=analysis.sound,
                         strength=float(plan.restore.get("strength", 1.0)))
        out.restore = rep.to_dict()
        if x.shape[0] == 1:
            x = np.repeat(x, 2, axis=0)
        elif x.shape[0] > 2:  # fold surround/multichannel to stereo
            x = np.stack([x[0::2].mean(axis=0), x[1::2].mean(axis=0)])
        x = x.astype(np.float32, copy=False)
        if np.shares_memory(x, samples):  # the mix is built in place: never in the caller's array
            x = x.copy()

    if plan.original_drums_db < -0.5:
        step("separate")
        with meter.stage("separate"):
            x = attenuate_percussive(x, sample_rate, db=plan.original_drums_db)

    n_new = int(round(plan.duration_seconds * sample_rate)) if plan.duration_seconds > 0 \
        else x.shape[1]
    if not plan.time_map.is_identity:
        step("stretch")
        with meter.stage("stretch"):
            import pedalboard

            ratio = plan.time_map.ratio
            # Rubber Band's high-quality mode drifted 60 ms over 50 s at ratio 1.17 (measured
            # on a click track: its effective ratio is off by ≈ 0.1 %), which would pull the
            # original away from the new drums; the standard mode stayed within 1 ms of the
            # time map over the whole track, and is 5× cheaper.
            x = pedalboard.time_stretch(np.ascontiguousarray(x), float(sample_rate),
                                        stretch_factor=float(ratio), high_quality=False,
                                        transient_mode="crisp", preserve_formants=True)
            x = x[:, :n_new] if x.shape[1] >= n_new else np.pad(x, ((0, 0),
                                                                     (0, n_new - x.shape[1])))
            x = np.ascontiguousarray(x, dtype=np.float32)
    n = x.shape[1]

    # the mix is built in place, one layer at a time: the original's buffer becomes the mix and
    # each layer is rendered mono, scaled, ducked and added — peak memory is one stereo buffer
    # plus one mono layer, not every stem at once (unless stems are asked for)
    step("mix")
    with meter.stage("mix"):
        ref_db = _rms_db(x)
        env = None
        if plan.duck_db > 0 and plan.kick_seconds:
            env = duck_envelope(n, sample_rate, plan.kick_seconds, depth_db=plan.duck_db,
                                release_seconds=plan.duck_release_seconds)
        mix = x
        mix *= np.float32(10 ** (plan.original_db / 20))
        if keep_stems:
            out.stems["original"] = mix.copy()
        if env is not None:
            mix *= np.sqrt(env)  # the original ducks at half the depth (in dB)
    step("layers")
    tmp = None
    for part in plan.parts:
        if not part.notes:
            continue
        with meter.stage("layers"):
            rng = np.random.default_rng([plan.seed, sum(map(ord, part.name))]
                                        + ([int(rng_salt)] if rng_salt else []))
            inst = ins.instrument(part.instrument, drums=part.name == "drums", seed=plan.seed,
                                  tonic_pc=plan.tonic_pc)
            mono = ins.render(part.notes, inst, sample_rate, n, rng,
                              glide=part.name == "bass" and part.instrument == "808")
            level = _rms_db(mono)
            if level <= -140:
                continue
            mono *= np.float32(10 ** ((ref_db + part.gain_db - level) / 20))
        with meter.stage("mix"):
            if env is not None and part.name in ("bass", "chords"):
                mono *= env
            left, right = _pan_gains(part.pan)
            if keep_stems:
                out.stems[part.name] = np.stack([left * mono, right * mono])
            # the right channel first, from the unscaled layer, then the layer scaled in place
            # for the left: no full-length temporaries (each would be fresh, zeroed memory)
            if tmp is None:
                tmp = np.empty_like(mono)
            np.multiply(mono, right, out=tmp)
            mix[1] += tmp
            mono *= left
            mix[0] += mono
        del mono
    del env, tmp

    step("master")
    with meter.stage("master"):
        target = MasterTarget.from_dict(plan.master, source=f"style {plan.style!r} [master]")
        mastered, rep = master(mix, sample_rate, target, reference_curve=reference_curve)
        out.master = rep.to_dict()
        out.measures = dict(rep.output_measures or {})
    out.samples = np.ascontiguousarray(mastered, dtype=np.float32)
    return out
