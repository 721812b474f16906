"""Styles: production presets as TOML data, validated on load.

Conventions
-----------
* A style is a TOML file (see the built-in ones next to this module). Tables: ``[tempo]``
  (policy ``keep``/``range``, ``range_bpm``, ``swing`` 0.5 straight … 0.75, ``feel``
  ``straight``/``half-time``), ``[layers]`` (which new layers: drums, bass, chords, lead),
  ``[drums]``, ``[bass]``, ``[chords]``, ``[lead]`` (instruments and step patterns), ``[mix]``
  (gains in dB at intensity 1, sidechain), ``[restore]`` and ``[master]`` (``loudness_lufs``,
  ``ceiling_dbtp``, relative 1/3-octave ``curve_db``, ``width`` and ``compression_db`` per band
  [low, mid, high], ``glue_db`` — the fields of :class:`reissue.produce.master.MasterTarget`).
* Step patterns: 16 characters per 4/4 bar (sixteenth notes); ``.`` is a rest and a digit 1–9 a
  hit with velocity digit/9; several bars separated by commas are cycled bar by bar.
* Every key is checked on load; an error names the file, the key, the value and the allowed
  range. Unknown keys are errors too (they are usually typos).
* Users add styles by dropping ``NAME.toml`` into ``$REISSUE_STYLES_DIR`` or
  ``$XDG_CONFIG_HOME/reissue/styles`` (default ``~/.config/reissue/styles``); a user style with a
  built-in's name overrides it.
* ``auto`` is not a file: :func:`choose_style` picks a style from the analysis and says why.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ReissueError

__all__ = ["Style", "StyleError", "load_style", "list_styles", "get_style", "choose_style",
           "parse_pattern", "BUILTIN_DIR", "user_styles_dir"]

BUILTIN_DIR = Path(__file__).resolve().parent
_CENTRES = ("25", "31.5", "40", "50", "63", "80", "100", "125", "160", "200", "250", "315",
            "400", "500", "630", "800", "1000", "1250", "1600", "2000", "2500", "3150", "4000",
            "5000", "6300", "8000", "10000", "12500", "16000", "20000")


class StyleError(ReissueError):
    """A style file is missing, unreadable or invalid."""

    code = "style.invalid"


def user_styles_dir() -> Path:
    env = os.environ.get("REISSUE_STYLES_DIR")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "reissue" / "styles"


# --------------------------------------------------------------------------- schema

def _num(lo: float, hi: float):
    def check(v):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return f"must be a number in [{lo}, {hi}]"
        if not lo <= v <= hi:
            return f"must be in [{lo}, {hi}]"
        return None
    return check


def _choice(*options: str):
    def check(v):
        return None if v in options else f"must be one of {', '.join(map(repr, options))}"
    return check


def _bool(v):
    return None if isinstance(v, bool) else "must be true or false"


def _text(v):
    return None if isinstance(v, str) and v.strip() else "must be a non-empty string"


def _pattern(v):
    if not isinstance(v, str):
        return "must be a string of 16-step bars ('.' rest, 1–9 velocity), bars separated by ','"
    if v == "":
        return None
    for bar in v.split(","):
        if len(bar) != 16 or any(ch not in ".123456789" for ch in bar):
            return (f"bar {bar!r} must be 16 characters of '.' (rest) or 1–9 (velocity); "
                    "separate bars with ','")
    return None


def _range_bpm(v):
    if (not isinstance(v, list) or len(v) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v)):
        return "must be [low, high] in BPM"
    if not (40 <= v[0] < v[1] <= 220):
        return "must satisfy 40 ≤ low < high ≤ 220"
    return None


def _curve(v):
    if not isinstance(v, dict) or not v:
        return "must be a table of 1/3-octave centre → dB, e.g. { \"1000\" = 0.0 }"
    for k, x in v.items():
        if k not in _CENTRES:
            return f"has unknown band {k!r}; bands are {', '.join(_CENTRES)}"
        if isinstance(x, bool) or not isinstance(x, (int, float)) or not -30 <= x <= 30:
            return f"band {k!r} must be a number of dB in [-30, 30]"
    return None


def _table(keys: dict):
    def check(v):
        if not isinstance(v, dict):
            return "must be a table"
        for k, x in v.items():
            if k not in keys:
                return f"has unknown key {k!r}; allowed: {', '.join(keys)}"
            problem = keys[k](x)
            if problem:
                return f"{k} {problem}"
        return None
    return check


_LAYER_DB = _table({k: _num(-40, 6) for k in ("drums", "bass", "chords", "lead")})


def _triple(lo: float, hi: float, first_hi: float | None = None):
    def check(v):
        if (not isinstance(v, list) or len(v) != 3 or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) for x in v)):
            return "must be a list of three numbers [low band, mid band, high band]"
        limits = [(lo, first_hi if first_hi is not None else hi), (lo, hi), (lo, hi)]
        for x, (a, b), band in zip(v, limits, ("low", "mid", "high")):
            if not a <= x <= b:
                return f"{band} band must be in [{a}, {b}]"
        return None
    return check


def _pair_hz(v):
    if (not isinstance(v, list) or len(v) != 2
            or any(isinstance(x, bool) or not isinstance(x, (int, float)) for x in v)):
        return "must be [low/mid, mid/high] crossover frequencies in Hz"
    if not (40 <= v[0] <= 400 and 1000 <= v[1] <= 12000 and v[1] >= 2 * v[0]):
        return "must satisfy 40 ≤ low/mid ≤ 400, 1000 ≤ mid/high ≤ 12000, an octave apart"
    return None

SCHEMA: dict[str, dict[str, Any]] = {
    "": {"name": _text, "description": _text},
    "tempo": {"policy": _choice("keep", "range"), "range_bpm": _range_bpm,
              "swing": _num(0.5, 0.75), "feel": _choice("straight", "half-time")},
    "layers": {k: _bool for k in ("drums", "bass", "chords", "lead")},
    "drums": {"kick": _pattern, "snare": _pattern, "clap": _pattern, "hat": _pattern,
              "open_hat": _pattern, "fill": _bool, "hat_rolls": _bool,
              "kit": _choice("punchy", "house", "808", "dusty", "gated")},
    "bass": {"instrument": _choice("bass", "808", "synth", "pluck"), "pattern": _pattern,
             "octave": _num(0, 4), "glide": _bool},
    "chords": {"instrument": _choice("pad", "epiano", "pluck"), "pattern": _pattern,
               "centre_midi": _num(48, 76)},
    "lead": {"instrument": _choice("lead", "pluck", "epiano", "pad"),
             "octave_shift": _choice(-24, -12, 0, 12, 24), "gain_db": _num(-40, 6)},
    "mix": {"original_db": _num(-24, 6), "original_drums_db": _num(-40, 0),
            "layers_db": _LAYER_DB, "duck_db": _num(0, 12), "duck_release_beats": _num(0.05, 2)},
    "restore": {"strength": _num(0, 1)},
    "master": {"loudness_lufs": _num(-24, -6), "ceiling_dbtp": _num(-6, -1),
               "eq_max_db": _num(0, 12), "compression_db": _triple(0, 12),
               "glue_db": _num(0, 6), "width": _triple(0, 2, first_hi=1),
               "curve_db": _curve, "crossovers_hz": _pair_hz, "max_limiting_lu": _num(0, 20)},
}
REQUIRED = {"": ("name", "description"), "master": ("loudness_lufs",)}

DEFAULTS: dict[str, dict[str, Any]] = {
    "tempo": {"policy": "keep", "swing": 0.5, "feel": "straight"},
    "layers": {"drums": False, "bass": False, "chords": False, "lead": False},
    "drums": {"kick": "", "snare": "", "clap": "", "hat": "", "open_hat": "", "fill": False,
              "hat_rolls": False, "kit": "punchy"},
    "bass": {"instrument": "bass", "pattern": "9...............", "octave": 2, "glide": False},
    "chords": {"instrument": "pad", "pattern": "8...............", "centre_midi": 62},
    "lead": {"instrument": "lead", "octave_shift": 0, "gain_db": -10.0},
    "mix": {"original_db": 0.0, "original_drums_db": 0.0, "layers_db": {}, "duck_db": 0.0,
            "duck_release_beats": 0.5},
    "restore": {"strength": 1.0},
    "master": {"ceiling_dbtp": -1.0, "eq_max_db": 6.0, "compression_db": [2.0, 1.5, 1.0],
               "glue_db": 1.5, "width": [0.0, 1.0, 1.0], "curve_db": None,
               "crossovers_hz": [120.0, 4000.0], "max_limiting_lu": 6.0},
}


@dataclass(frozen=True)
class Style:
    """A validated style. Sections are plain dicts with every key filled from the defaults."""

    name: str
    description: str
    tempo: dict
    layers: dict
    drums: dict
    bass: dict
    chords: dict
    lead: dict
    mix: dict
    restore: dict
    master: dict
    path: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "tempo": self.tempo,
                "layers": self.layers, "drums": self.drums, "bass": self.bass,
                "chords": self.chords, "lead": self.lead, "mix": self.mix,
                "restore": self.restore, "master": self.master}


def _validate(data: dict, source: str) -> Style:
    def fail(key: str, problem: str) -> StyleError:
        return StyleError(f"{source}: key '{key}' {problem} — fix the style file",
                          code="style.invalid")

    for section, value in data.items():
        if section in SCHEMA and section != "":
            if not isinstance(value, dict):
                raise fail(section, "must be a table")
            for key, v in value.items():
                if key not in SCHEMA[section]:
                    raise fail(f"{section}.{key}", f"is not a known key; allowed: "
                               f"{', '.join(SCHEMA[section])}")
                problem = SCHEMA[section][key](v)
                if problem:
                    raise fail(f"{section}.{key}", f"= {v!r} {problem}")
        elif section in SCHEMA[""]:
            problem = SCHEMA[""][section](value)
            if problem:
                raise fail(section, f"= {value!r} {problem}")
        else:
            allowed = list(SCHEMA[""]) + [s for s in SCHEMA if s]
            raise fail(section, f"is not a known key or table; allowed: {', '.join(allowed)}")
    for section, keys in REQUIRED.items():
        for key in keys:
            holder = data if section == "" else data.get(section, {})
            if key not in holder:
                raise fail(f"{section + '.' if section else ''}{key}", "is required")
    merged = {}
    for section, defaults in DEFAULTS.items():
        merged[section] = {**defaults, **data.get(section, {})}
    tempo = merged["tempo"]
    if tempo["policy"] == "range" and "range_bpm" not in tempo:
        raise fail("tempo.range_bpm", "is required when tempo.policy = \"range\"")
    if merged["drums"]["kit"] and merged["layers"]["drums"] and not any(
            merged["drums"][k] for k in ("kick", "snare", "clap", "hat", "open_hat")):
        raise fail("drums", "has no pattern although layers.drums = true")
    return Style(name=data["name"], description=data["description"], **merged)


def load_style(path: str | os.PathLike) -> Style:
    """Read and validate one style file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise StyleError(f"{path}: no such style file", code="style.missing") from err
    except tomllib.TOMLDecodeError as err:
        raise StyleError(f"{path}: is not valid TOML ({err}) — fix the style file",
                         code="style.invalid") from err
    except (OSError, UnicodeDecodeError) as err:
        raise StyleError(f"{path}: cannot be read ({err})", code="style.unreadable") from err
    style = _validate(data, str(path))
    return Style(**{**style.__dict__, "path": path})


def _style_files() -> dict[str, Path]:
    files = {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.toml"))}
    user = user_styles_dir()
    if user.is_dir():
        files.update({p.stem: p for p in sorted(user.glob("*.toml"))})
    return files


def list_styles() -> list[Style]:
    """Every available style (built-in and user), sorted by name."""
    return [load_style(p) for _, p in sorted(_style_files().items())]


def get_style(name: str) -> Style:
    """A style by name (``auto`` is resolved by :func:`choose_style`, not here)."""
    files = _style_files()
    if name not in files:
        raise StyleError(f"unknown style {name!r}; available: auto, {', '.join(sorted(files))} "
                         f"(add your own as {user_styles_dir()}/{name}.toml)",
                         code="style.unknown")
    return load_style(files[name])


def parse_pattern(pattern: str) -> list[list[float]]:
    """Bars of 16 velocities (0 = rest) from a step-pattern string."""
    if not pattern:
        return []
    return [[0.0 if ch == "." else int(ch) / 9.0 for ch in bar] for bar in pattern.split(",")]


def choose_style(analysis) -> tuple[str, str]:
    """Pick a style from the analysis (tempo, mood, meter, era); returns (name, reason).

    Rules, in order: no steady beat (silence, free time: fewer than 8 beats or no meter) gets
    ``remaster`` (new layers need a grid); a 3/4 or compound meter gets ``modern-pop`` (its
    patterns follow any meter; house, trap and synthwave assume 4/4);
    a song that already sounds modern (2000s or later) gets ``remaster``; 112–132 BPM with
    positive arousal → ``house``; minor, tense and 60–80 or 130–160 BPM → ``trap`` (half-time
    feel); ≤ 92 BPM with low arousal → ``lofi``; a 1980s sound or minor key at 84–118 BPM →
    ``synthwave``; otherwise ``modern-pop``.
    """
    r, t, m, e = analysis.rhythm, analysis.tonal, analysis.mood, analysis.era
    bpm = r.tempo_bpm if r is not None else 100.0
    meter = r.meter if r is not None else "4/4"
    minor = t is not None and t.key.endswith("minor")
    arousal = m.arousal if m is not None else 0.0
    decade = e.decade if e is not None else 1970
    if r is not None and (not meter or len(r.beats_seconds) < 8):
        return "remaster", "no steady beat found: only restore and master"
    if meter not in ("4/4", "2/4"):
        return "modern-pop", (f"meter {meter}: modern-pop's patterns follow it; house, trap and "
                              "synthwave assume 4/4")
    if decade >= 2000:
        return "remaster", f"it already sounds like the {decade}s: only restore and master"
    if 112 <= bpm <= 132 and arousal > 0:
        return "house", f"{bpm:.0f} BPM and energetic (arousal {arousal:+.2f})"
    if minor and (60 <= bpm <= 80 or 130 <= bpm <= 160):
        return "trap", f"minor key at {bpm:.0f} BPM suits a half-time trap feel"
    if bpm <= 92 and arousal < 0:
        return "lofi", f"{bpm:.0f} BPM and calm (arousal {arousal:+.2f})"
    if decade == 1980 or (minor and 84 <= bpm <= 118):
        return "synthwave", ("it sounds like the 1980s" if decade == 1980
                             else f"minor key at {bpm:.0f} BPM")
    return "modern-pop", f"{'minor' if minor else 'major'} key at {bpm:.0f} BPM"
