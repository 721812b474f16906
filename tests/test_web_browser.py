"""The page in real headless Chromium (Debian's, driven by Playwright) against a real server.

The A/B toggle is checked on the audio itself: a pass-through AudioWorklet records the player's
output with frame stamps, and each recorded stretch is located in the decoded versions by
normalised cross-correlation. So the test measures which sample of which version sounded when,
and compares that with the render's time map — not with the player's own bookkeeping.
"""

from __future__ import annotations

import base64
import io
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from .webserver import serve

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium missing")
ARGS = ["--no-sandbox", "--headless=new", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
        "--autoplay-policy=no-user-gesture-required"]
ROOT = Path(__file__).resolve().parents[1]
SHOTS = Path(os.environ.get("REISSUE_SCREENSHOTS", ROOT / "benchmarks" / "out" / "web"))
TOLERANCE_SECONDS = 0.020


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def site(tmp_path, request):
    """A server on a fresh library (started before the page, stopped after it)."""
    extra = getattr(request, "param", ())
    with serve(tmp_path / "library.sqlite3", *extra) as base:
        yield base


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    p = context.new_page()
    errors: list[str] = []
    p.on("pageerror", lambda e: errors.append(str(e)))
    yield p
    context.close()
    assert not errors, errors


# samples leave the page as base64 of little-endian float32 (JSON arrays of millions of numbers
# are slow)
F32_TO_BASE64 = """() => { window.f32ToBase64 = f32 => {
    const bytes = new Uint8Array(f32.buffer, f32.byteOffset, f32.byteLength);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
}; }"""


def tone_wav(seconds=1.5, freq=440.0) -> bytes:
    rate = 22050
    t = np.arange(int(seconds * rate)) / rate
    y = (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([y, y], axis=1), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def drop_file(page, selector: str, name: str, data: bytes, mime: str) -> None:
    """Drag a file onto an element the way a browser does (a DataTransfer in a drop event)."""
    page.evaluate("""([selector, name, b64, mime]) => {
        const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
        const dt = new DataTransfer();
        dt.items.add(new File([bytes], name, { type: mime }));
        const target = document.querySelector(selector);
        for (const type of ["dragenter", "dragover", "drop"]) {
          target.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
        }
    }""", [selector, name, base64.b64encode(data).decode(), mime])


def test_time_map_arithmetic_matches_python(site, page):
    """The page's time map (timemap.js) maps exactly like reissue.arrange.TimeMap."""
    from reissue.arrange import TimeMap

    rng = np.random.default_rng(5)
    orig = np.cumsum(rng.uniform(0.3, 0.8, 60))
    new = np.cumsum(rng.uniform(0.25, 0.9, 60))
    tmap = TimeMap(tuple(orig), tuple(new))
    probes = np.concatenate([rng.uniform(-2, orig[-1] + 3, 200), orig[:5], [orig[-1]]])
    page.goto(site + "/")
    got = page.evaluate("""async ([pairs, probes]) => {
        const { TimeMap } = await import("/static/timemap.js");
        const m = new TimeMap(pairs);
        return { toNew: probes.map(t => m.toNew(t)),
                 back: probes.map(t => m.toOriginal(m.toNew(t))),
                 toOriginal: probes.map(t => m.toOriginal(t)) };
    }""", [tmap.to_list(), probes.tolist()])
    pairs = np.asarray(tmap.to_list())
    rounded = TimeMap(tuple(pairs[:, 0]), tuple(pairs[:, 1]))  # the page gets the report's rounding
    np.testing.assert_allclose(got["toNew"], rounded.to_new(probes), atol=1e-9)
    np.testing.assert_allclose(got["toOriginal"], rounded.to_original(probes), atol=1e-9)
    np.testing.assert_allclose(got["back"], probes, atol=1e-9)


@pytest.mark.parametrize("site", [("--max-upload-mb", "1")], indirect=True)
def test_drag_and_drop_upload_and_clear_errors(site, page):
    page.goto(site + "/")
    page.wait_for_selector("body[data-ready=true]")
    drop_file(page, "#dropzone", "Dropped Tone.wav", tone_wav(), "audio/wav")
    page.wait_for_selector(".track-item[data-id]")
    assert "Dropped Tone" in page.inner_text("#track-list")
    page.wait_for_function("location.hash.startsWith('#/track/')")
    # the track view fills its title after the hash changes (a loaded machine read it empty)
    page.wait_for_function("document.querySelector('#track-title').textContent !== ''")
    assert page.inner_text("#track-title") == "Dropped Tone"
    # a non-audio file is refused with the server's explanation
    drop_file(page, "#dropzone", "notes.wav", b"just text, not audio\n" * 200, "audio/wav")
    page.wait_for_selector("#toast.error:not([hidden])")
    assert "notes.wav" in page.inner_text("#toast")
    # a file over the limit too
    drop_file(page, "#dropzone", "big.wav", tone_wav(seconds=40.0), "audio/wav")
    page.wait_for_function("document.querySelector('#toast').textContent.includes('MB')")
    assert page.locator(".track-item[data-id]").count() == 1


# --------------------------------------------------------------------------- the A/B player

def locate(segment: np.ndarray, reference: np.ndarray, guess: int, search: int) -> tuple[int, float]:
    """Index in ``reference`` where ``segment`` starts, searched within ``guess ± search``;
    returns (index, normalised correlation)."""
    lo = max(0, guess - search)
    hi = min(len(reference) - len(segment), guess + search)
    window = reference[lo:hi + len(segment)]
    dots = np.correlate(window, segment, mode="valid")
    energy = np.sqrt(np.convolve(window ** 2, np.ones(len(segment)), mode="valid"))
    ncc = dots / (energy * np.linalg.norm(segment) + 1e-12)
    best = int(np.argmax(ncc))
    return lo + best, float(ncc[best])


def test_upload_render_play_and_toggle_at_the_same_beat(tmp_path, browser):
    from reissue.arrange import TimeMap
    from reissue.demo import write_demo

    SHOTS.mkdir(parents=True, exist_ok=True)
    demo = write_demo(tmp_path / "demo-song.wav")
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    with serve(tmp_path / "library.sqlite3") as base:
        page.goto(base + "/")
        page.wait_for_selector("body[data-ready=true]")
        page.set_input_files("#file-input", str(demo))
        page.wait_for_function("location.hash.startsWith('#/track/')", timeout=60_000)
        # the analysis finishes and shows tempo and key
        page.wait_for_function("document.querySelector('#track-chips').textContent.includes('BPM')",
                               timeout=300_000)
        chips = page.inner_text("#track-chips")
        assert "G major" in chips and "4/4" in chips, chips

        # render: lofi at full intensity moves the tempo (96 → 90 BPM), so the map is not 1:1
        page.check("input[name=style][value=lofi]", force=True)
        assert "lo-fi" in page.inner_text("#style-description").lower()
        page.evaluate("""() => { const r = document.getElementById('intensity');
                                 r.value = '1'; r.dispatchEvent(new Event('input')); }""")
        page.fill("#seed", "1")
        page.click("#render")
        page.wait_for_selector("#render-progress:not([hidden])")
        seen = set()
        for _ in range(1200):  # ≤ 10 minutes
            if page.evaluate("window.reissuePlayer.ready"):
                break
            seen.add(page.inner_text("#progress-stage"))
            page.wait_for_timeout(500)
        assert page.evaluate("window.reissuePlayer.ready"), "the render did not finish"
        assert len(seen) >= 2, seen  # the progress bar moved through stages
        page.wait_for_selector("#panels:not([hidden])")
        page.wait_for_timeout(300)
        page.screenshot(path=str(SHOTS / "main-page.png"))
        page.screenshot(path=str(SHOTS / "main-page-full.png"), full_page=True)

        version_id = int(page.evaluate("location.hash").rsplit("/", 1)[1])
        import httpx

        version = httpx.get(f"{base}/api/versions/{version_id}", timeout=30).json()
        track = httpx.get(f"{base}/api/tracks/{version['track_id']}", timeout=30).json()
        tmap = TimeMap(*zip(*version["time_map"]))
        assert abs(tmap.ratio - 90 / 96) < 0.02, tmap.ratio
        beats = np.asarray(track["analysis"]["rhythm"]["beats_seconds"])

        # play from 10 s, toggle with the T key, toggle back, all while recording the output
        page.evaluate("window.reissuePlayer.enableTap()")
        page.evaluate("window.reissuePlayer.seek(10.0, 'original')")
        page.evaluate("window.reissuePlayer.setTapRecording(true)")
        page.click("#play")
        page.wait_for_function("window.reissuePlayer.position().seconds > 11.0")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("t")
        first = page.evaluate("window.reissuePlayer.lastToggle")
        page.wait_for_timeout(60)
        reported = page.evaluate("window.reissuePlayer.position()")
        page.wait_for_function(f"window.reissuePlayer.ctx.currentTime > {first['contextTime']} + 1.3")
        page.keyboard.press("T")
        second = page.evaluate("window.reissuePlayer.lastToggle")
        page.wait_for_function(f"window.reissuePlayer.ctx.currentTime > {second['contextTime']} + 0.8")
        # level match on (original sounding), then over to the reissue again
        page.click("label.switch")
        matched_at = page.evaluate("window.reissuePlayer.ctx.currentTime")
        want = page.evaluate("window.reissuePlayer.gains()")
        page.wait_for_function(f"window.reissuePlayer.ctx.currentTime > {matched_at} + 0.7")
        page.evaluate("document.activeElement && document.activeElement.blur()")
        page.keyboard.press("t")
        third = page.evaluate("window.reissuePlayer.lastToggle")
        page.wait_for_function(f"window.reissuePlayer.ctx.currentTime > {third['contextTime']} + 0.8")
        page.evaluate("window.reissuePlayer.setTapRecording(false)")
        page.wait_for_timeout(100)
        page.locator("#player-card").screenshot(path=str(SHOTS / "player.png"))
        page.evaluate("window.reissuePlayer.pause()")
        assert "dB" in page.inner_text("#level-note")
        # the phone-width layout
        phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
        small = phone.new_page()
        small.goto(page.url)
        small.wait_for_function("window.reissuePlayer && window.reissuePlayer.ready")
        small.screenshot(path=str(SHOTS / "phone.png"))
        small.screenshot(path=str(SHOTS / "phone-full.png"), full_page=True)
        assert small.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scroll
        phone.close()
        page.evaluate(F32_TO_BASE64)
        rec = page.evaluate("""() => { const r = window.reissuePlayer.tapRecording();
                                        return { sampleRate: r.sampleRate, startFrame: r.startFrame,
                                                 samples: f32ToBase64(new Float32Array(r.samples)) }; }""")
        buffers = page.evaluate("""() => ({
            original: f32ToBase64(window.reissuePlayer.buffers.original.getChannelData(0)),
            reissue: f32ToBase64(window.reissuePlayer.buffers.reissue.getChannelData(0)) })""")
    context.close()
    assert not errors, errors

    assert (first["from"], first["to"], second["from"], second["to"]) == (
        "original", "reissue", "reissue", "original")
    sr = rec["sampleRate"]
    out = np.frombuffer(base64.b64decode(rec["samples"]), "<f4")
    ref = {k: np.frombuffer(base64.b64decode(v), "<f4") for k, v in buffers.items()}
    seg = int(0.4 * sr)
    gap = int(0.05 * sr)  # keep clear of the 30 ms crossfade

    def measured(version: str, t_switch: float, before: bool, guess_seconds: float) -> float:
        """Position (s) of `version` at context time t_switch, measured from the recording."""
        switch = int(round(t_switch * sr)) - rec["startFrame"]
        start = switch - gap - seg if before else switch + gap
        assert 0 <= start and start + seg <= len(out), "recording too short"
        guess = int(round((guess_seconds + (start - switch) / sr) * sr))
        index, ncc = locate(out[start:start + seg], ref[version], guess, int(0.3 * sr))
        assert ncc > 0.95, f"{version}: the recorded audio is not this version (ncc {ncc:.3f})"
        return index / sr - (start - switch) / sr

    t0, t1 = first["contextTime"], second["contextTime"]
    p0 = measured("original", t0, True, first["fromSeconds"])
    q0 = measured("reissue", t0, False, first["toSeconds"])
    assert abs(q0 - tmap.to_new(p0)) < TOLERANCE_SECONDS, (p0, q0, tmap.to_new(p0))
    # the position the page reports agrees with what sounded
    q_reported = reported["seconds"] - (reported["contextTime"] - t0)
    assert abs(q_reported - q0) < TOLERANCE_SECONDS

    r1 = measured("reissue", t1, True, second["fromSeconds"])
    s1 = measured("original", t1, False, second["toSeconds"])
    assert abs(r1 - (q0 + (t1 - t0))) < TOLERANCE_SECONDS  # the reissue played on steadily
    assert abs(s1 - tmap.to_original(r1)) < TOLERANCE_SECONDS, (r1, s1, tmap.to_original(r1))
    # … so toggling back lands on the beat the reissue was on
    beat_of = lambda t: int(np.searchsorted(beats, t + 1e-9) - 1)
    assert beat_of(s1) == beat_of(tmap.to_original(r1))

    # level match: each version's output level against its decoded samples is the gain that
    # brings the louder one down to the quieter one's integrated loudness (report values)
    lufs_o = version["report"]["original"]["integrated_lufs"]
    lufs_r = version["report"]["result"]["integrated_lufs"]
    quieter = min(lufs_o, lufs_r)
    assert abs(lufs_o - lufs_r) > 1.0  # otherwise the check below could not fail
    for name, lufs, start_time, guess in (
            ("original", lufs_o, matched_at + 0.15, None),
            ("reissue", lufs_r, third["contextTime"] + 0.05, third["toSeconds"])):
        expected = 10 ** ((quieter - lufs) / 20)
        assert want[name] == pytest.approx(expected, rel=1e-6)
        start = int(round(start_time * sr)) - rec["startFrame"]
        if guess is None:  # the original played on steadily from the second toggle
            guess = s1 + (start_time - t1)
        piece = out[start:start + seg]
        index, ncc = locate(piece, ref[name], int(round(guess * sr)), int(0.3 * sr))
        assert ncc > 0.95
        source = ref[name][index:index + seg]
        gain = float(np.dot(piece, source) / np.dot(source, source))
        assert gain == pytest.approx(expected, rel=0.02), (name, gain, expected)

    for name in ("main-page.png", "main-page-full.png", "player.png", "phone.png"):
        assert (SHOTS / name).stat().st_size > 10_000
