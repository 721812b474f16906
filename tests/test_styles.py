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
