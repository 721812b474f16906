"""Cost accounting: CPU seconds per stage, wall time, peak memory and an energy estimate.

Conventions
-----------
* CPU time is ``time.process_time()`` (all threads of this process) measured around each stage;
  wall time is ``time.perf_counter()``; peak memory is the process's maximum resident set size
  (``getrusage``), in MB.
* Energy: Intel RAPL counters are used when ``/sys/class/powercap/intel-rapl:0/energy_uj`` is
  readable (package energy over the run, attributed by this process's share of CPU time);
  otherwise it is *estimated* as CPU-seconds × ``WATTS_PER_CORE`` + GB·seconds of peak memory ×
  ``WATTS_PER_GB`` (the constant-power method of CodeCarbon and of Green Algorithms, Lannelongue
  et al. 2021). The method and constants are written into every report.
"""

from __future__ import annotations

import contextlib
import resource
import time
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["CostMeter", "Cost", "WATTS_PER_CORE", "WATTS_PER_GB"]

#: Power of one fully busy server core (≈ half the TDP per core of a current 16–32-core part).
WATTS_PER_CORE = 10.0
#: Power of DRAM per GB in use (Green Algorithms' figure).
WATTS_PER_GB = 0.375
_RAPL = Path("/sys/class/powercap/intel-rapl:0/energy_uj")


def _rapl_uj() -> int | None:
    try:
        return int(_RAPL.read_text())
    except (OSError, ValueError):
        return None


@dataclass
class Cost:
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    wall_seconds: float = 0.0
    peak_memory_mb: float = 0.0
    energy_joules: float = 0.0
    energy_method: str = ""
    audio_seconds: float = 0.0

    @property
    def total_cpu_seconds(self) -> float:
        return sum(self.cpu_seconds.values())

    def to_dict(self) -> dict:
        total = self.total_cpu_seconds
        return {
            "cpu_seconds": {k: round(v, 4) for k, v in self.cpu_seconds.items()},
            "cpu_seconds_total": round(total, 4),
            "wall_seconds": round(self.wall_seconds, 4),
            "peak_memory_mb": round(self.peak_memory_mb, 1),
            "energy_joules": round(self.energy_joules, 2),
            "energy_method": self.energy_method,
            "real_time_factor": round(self.audio_seconds / total, 1) if total > 0 else None,
        }


class CostMeter:
    """Time named stages: ``with meter.stage("master"): ...``; ``meter.finish()`` → :class:`Cost`."""

    def __init__(self, audio_seconds: float = 0.0):
        self.cost = Cost(audio_seconds=audio_seconds)
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._rapl0 = _rapl_uj()

    @contextlib.contextmanager
    def stage(self, name: str):
        t0 = time.process_time()
        try:
            yield
        finally:
            self.cost.cpu_seconds[name] = self.cost.cpu_seconds.get(name, 0.0) + \
                time.process_time() - t0

    def finish(self) -> Cost:
        c = self.cost
        c.wall_seconds = time.perf_counter() - self._wall0
        c.peak_memory_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        cpu = time.process_time() - self._cpu0
        rapl1 = _rapl_uj()
        if self._rapl0 is not None and rapl1 is not None and rapl1 >= self._rapl0 and \
                c.wall_seconds > 0:
            import os

            cores = os.cpu_count() or 1
            share = min(1.0, cpu / (c.wall_seconds * cores))
            c.energy_joules = (rapl1 - self._rapl0) / 1e6 * share
            c.energy_method = (f"RAPL package energy × this process's CPU share ({share:.2f})")
        else:
            c.energy_joules = cpu * WATTS_PER_CORE + \
                (c.peak_memory_mb / 1024.0) * c.wall_seconds * WATTS_PER_GB
            c.energy_method = (f"estimate: CPU-s × {WATTS_PER_CORE:g} W/core + peak GB × wall s "
                               f"× {WATTS_PER_GB:g} W/GB (no RAPL counters readable)")
        return c
