"""Styles: the built-in presets load, bad files give clear errors, users can add their own."""

from __future__ import annotations

import pytest

from reissue.styles import StyleError, get_style, list_styles, load_style, parse_pattern

BUILTIN = {"remaster", "modern-pop", "house", "trap", "lofi", "synthwave"}


def test_builtin_styles_load_and_are_complete():
    styles = {s.name: s for s in list_styles()}
    assert BUILTIN <= set(styles)
    assert styles["remaster"].layers == {"drums": False, "bass": False, "chords": False,
                                         "lead": False}
    assert styles["house"].tempo["policy"] == "range"
    assert styles["trap"].bass["instrument"] == "808" and styles["trap"].drums["hat_rolls"]
    for s in styles.values():
        assert s.description and -24 <= s.master["loudness_lufs"] <= -6
        assert s.master["ceiling_dbtp"] <= -1.0


def test_patterns_parse():
    bars = parse_pattern("9...5...,....9...9...9...")
    assert len(bars) == 2 and bars[0][0] == 1.0 and bars[0][4] == pytest.approx(5 / 9)
    assert parse_pattern("") == []


@pytest.mark.parametrize("body,message", [
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -3.0\n',
     r"master\.loudness_lufs' = -3\.0 must be in \[-24, -6\]"),
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -14\n[tempo]\nswing = 0.9\n',
     r"tempo\.swing' = 0\.9 must be in \[0\.5, 0\.75\]"),
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -14\n[drums]\nkick = "x..."\n',
     r"drums\.kick'.*16 characters"),
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -14\n[mixx]\n',
     r"'mixx' is not a known key or table"),
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -14\n[tempo]\npolicy = "range"\n',
     r"tempo\.range_bpm' is required"),
    ('name = "x"\ndescription = "d"\n', r"master\.loudness_lufs' is required"),
    ('name = "x"\ndescription = "d"\n[master]\nloudness_lufs = -14\nwidth = [2.0, 1.0, 1.0]\n',
     r"low band must be in \[0, 1\]"),
    ('name = "x\n', r"is not valid TOML"),
])
def test_invalid_style_names_file_key_and_range(tmp_path, body, message):
    path = tmp_path / "bad.toml"
    path.write_text(body)
    with pytest.raises(StyleError, match=message) as info:
        load_style(path)
    assert str(path) in str(info.value)


def test_user_style_folder(tmp_path, monkeypatch):
    folder = tmp_path / "styles"
    folder.mkdir()
    (folder / "dub.toml").write_text(
        'name = "dub"\ndescription = "Deep dub: heavy bass, sparse drums."\n'
        '[layers]\nbass = true\n[master]\nloudness_lufs = -13\n')
    monkeypatch.setenv("REISSUE_STYLES_DIR", str(folder))
    assert "dub" in {s.name for s in list_styles()}
    assert get_style("dub").layers["bass"] is True
    with pytest.raises(StyleError, match=r"unknown style 'nope'.*auto"):
        get_style("nope")


def _analysis(*, bpm=100.0, meter="4/4", beats=64, key="C major", arousal=0.0, decade=1970):
    """The parts of an Analysis that ``choose_style`` reads (the decision is a pure function of
    them; the end-to-end path is covered by the refresh tests)."""
    from types import SimpleNamespace as NS

    return NS(rhythm=NS(tempo_bpm=bpm, meter=meter,
                        beats_seconds=tuple(i * 60.0 / bpm for i in range(beats))),
              tonal=NS(key=key), mood=NS(arousal=arousal), era=NS(decade=decade))


@pytest.mark.parametrize("kw,expected", [
    ({"beats": 0, "meter": ""}, "remaster"),  # silence / no pulse: nothing to lay a grid on
    ({"meter": "3/4"}, "modern-pop"),
    ({"meter": "6/8", "bpm": 120, "arousal": 0.5}, "modern-pop"),  # not house: 4/4 grid
    ({"decade": 2010}, "remaster"),
    ({"bpm": 124, "arousal": 0.4}, "house"),
    ({"bpm": 140, "key": "A minor"}, "trap"),
    ({"bpm": 82, "arousal": -0.3}, "lofi"),
    ({"decade": 1980, "bpm": 100}, "synthwave"),
    ({"bpm": 100}, "modern-pop"),
])
def test_auto_style_rules(kw, expected):
    from reissue.styles import choose_style

    name, reason = choose_style(_analysis(**kw))
    assert name == expected and reason


def test_auto_style_on_silence_is_a_remaster():
    import numpy as np

    import reissue
    from reissue.styles import choose_style

    analysis = reissue.analyze(np.zeros((2, 44100 * 8), np.float32), sample_rate=44100)
    name, reason = choose_style(analysis)
    assert name == "remaster" and "beat" in reason
