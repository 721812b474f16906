"""The JSON API through a real `reissue serve` on loopback (HTTP over TCP, not a test client)."""

from __future__ import annotations

import hashlib
import io
import json
import threading
import time

import httpx
import numpy as np
import pytest
import soundfile as sf

from reissue.library import Library

from .webserver import follow, serve


def wav_bytes(seconds=2.0, rate=44100, freq=330.0, fmt="WAV") -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    y = (0.25 * np.sin(2 * np.pi * freq * t)).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, np.stack([y, y], axis=1), rate, format=fmt, subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("web-api")
    library = folder / "library.sqlite3"
    with serve(library, "--max-upload-mb", "1") as base:
        with httpx.Client(base_url=base, timeout=30) as client:
            yield client, library


def upload(client, data: bytes, name="song.wav", mime="audio/wav", **fields):
    return client.post("/api/tracks", files={"file": (name, data, mime)}, data=fields)


def test_openapi_documents_the_api(server):
    client, _ = server
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for path in ("/api/tracks", "/api/tracks/{track_id}", "/api/tracks/{track_id}/audio",
                 "/api/tracks/{track_id}/versions", "/api/versions/{version_id}",
                 "/api/versions/{version_id}/audio", "/api/jobs/{job_id}/events",
                 "/api/styles"):
        assert path in paths, path
    body = paths["/api/tracks"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in body
    version_req = spec["components"]["schemas"]["VersionRequest"]["properties"]["intensity"]
    assert (version_req["minimum"], version_req["maximum"]) == (0.0, 1.0)
    page = client.get("/")
    assert page.status_code == 200 and "<title>reissue" in page.text


def test_upload_duplicate_search_and_range(server):
    client, _ = server
    data = wav_bytes(freq=331.0)
    r = upload(client, data, name="First Song.wav", title="First Song")
    assert r.status_code == 201, r.text
    track = r.json()
    assert track["created"] and track["sha256"] == hashlib.sha256(data).hexdigest()
    assert track["title"] == "First Song" and track["duration_seconds"] == pytest.approx(2.0)
    again = upload(client, data, name="renamed.wav")
    assert again.status_code == 200 and again.json()["id"] == track["id"]
    assert not again.json()["created"]
    found = client.get("/api/tracks", params={"q": "first"}).json()
    assert [t["id"] for t in found["items"]] == [track["id"]]
    assert client.get("/api/tracks", params={"q": "nothing-like-this"}).json()["total"] == 0

    url = f"/api/tracks/{track['id']}/audio"
    full = client.get(url)
    assert full.status_code == 200 and full.content == data
    assert full.headers["accept-ranges"] == "bytes"
    part = client.get(url, headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(data)}"
    assert part.content == data[1000:2000]
    tail = client.get(url, headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == data[-100:]
    rest = client.get(url, headers={"Range": f"bytes={len(data) - 10}-"})
    assert rest.status_code == 206 and rest.content == data[-10:]
    beyond = client.get(url, headers={"Range": f"bytes={len(data) + 5}-"})
    assert beyond.status_code == 416


def test_bad_requests_get_clear_4xx(server):
    client, library = server
    # non-audio: 415, whatever its name claims
    r = upload(client, b"GIF89a" + b"\x00" * 5000, name="cover.wav")
    assert r.status_code == 415 and r.json()["code"] == "audio.unsupported"
    assert "cover.wav" in r.json()["detail"] and "incoming" not in r.json()["detail"]
    r = client.post("/api/tracks", content=b"raw bytes", headers={"content-type": "audio/wav"})
    assert r.status_code == 415 and "multipart" in r.json()["detail"]
    # over the limit (1 MB here): 413, with the declared length …
    big = wav_bytes(seconds=8.0)
    assert len(big) > 1.2e6
    r = upload(client, big)
    assert r.status_code == 413 and "MB" in r.json()["detail"]
    # … and when streamed without one (chunked)
    body, ctype = _multipart(big)
    r = client.post("/api/tracks", content=iter([body[i:i + 65536] for i in range(
        0, len(body), 65536)]), headers={"content-type": ctype})
    assert r.status_code == 413
    # nothing left behind by refused uploads
    assert not list((library.with_name("library.files") / "incoming").iterdir())
    # unknown ids: 404
    for url in ("/api/tracks/99999", "/api/versions/99999", "/api/jobs/99999",
                "/api/tracks/99999/audio", "/api/versions/99999/audio"):
        r = client.get(url)
        assert r.status_code == 404, url
        assert r.json()["detail"].startswith("no ")
    assert client.delete("/api/versions/99999").status_code == 404
    # unknown style / intensity out of range / bad seed: 422
    track = upload(client, wav_bytes(freq=250.0)).json()
    url = f"/api/tracks/{track['id']}/versions"
    r = client.post(url, json={"style": "polka-core", "intensity": 0.5})
    assert r.status_code == 422 and "polka-core" in r.json()["detail"]
    assert "modern-pop" in r.json()["detail"]  # says what is available
    for bad in (1.5, -0.1, "loud"):
        r = client.post(url, json={"style": "lofi", "intensity": bad})
        assert r.status_code == 422 and "intensity" in r.json()["detail"], r.text
    r = client.post(url, json={"style": "lofi", "seed": -3})
    assert r.status_code == 422 and "seed" in r.json()["detail"]
    r = client.post(url, json={"style": "lofi", "reference_track_id": 424242})
    assert r.status_code == 422
    assert client.post("/api/tracks/99999/versions", json={"style": "lofi"}).status_code == 404
    assert client.get("/api/tracks/abc").status_code == 422


def _multipart(data: bytes, name="big.wav") -> tuple[bytes, str]:
    boundary = "reissue-test-boundary"
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{name}\"\r\nContent-Type: audio/wav\r\n\r\n").encode()
    return head + data + f"\r\n--{boundary}--\r\n".encode(), \
        f"multipart/form-data; boundary={boundary}"


def test_filenames_never_reach_the_file_system(server):
    client, library = server
    r = upload(client, wav_bytes(freq=440.0), name="../../../../tmp/evil\r\nname.wav")
    assert r.status_code == 201
    track = r.json()
    assert "/" not in track["filename"] and "\n" not in track["filename"]
    assert track["filename"].endswith("name.wav")
    files = library.with_name("library.files")
    stored = [p for p in files.rglob("*") if p.is_file()]
    assert all("evil" not in str(p) for p in stored)
    assert (files / "originals" / track["sha256"][:2] / f"{track['sha256']}.wav").is_file()
    # downloads name the file safely
    r = client.get(f"/api/tracks/{track['id']}/audio", params={"download": True})
    assert "evil" in r.headers["content-disposition"] and "\n" not in r.headers[
        "content-disposition"]


def test_delete_track_asks_first(server):
    client, _ = server
    track = upload(client, wav_bytes(freq=523.0)).json()
    r = client.delete(f"/api/tracks/{track['id']}")
    assert r.status_code == 409 and "confirm" in r.json()["detail"]
    assert client.get(f"/api/tracks/{track['id']}").status_code == 200
    assert client.delete(f"/api/tracks/{track['id']}", params={"confirm": True}).status_code == 204
    assert client.get(f"/api/tracks/{track['id']}").status_code == 404


def test_job_progress_streams_as_server_sent_events(server):
    """The events endpoint follows the jobs table, whoever writes it (here: this test)."""
    client, library_path = server
    track = upload(client, wav_bytes(freq=600.0)).json()
    with Library(library_path) as lib:
        job = lib.create_job("external", original_id=track["id"])

        def work():
            time.sleep(0.5)
            for i, stage in enumerate(("one", "two", "three")):
                lib.update_job(job.id, state="running", stage=stage, progress=(i + 1) / 4)
                time.sleep(0.4)
            lib.update_job(job.id, state="done", stage="done", progress=1.0)

        worker = threading.Thread(target=work)
        worker.start()
        events = follow(client, f"/api/jobs/{job.id}/events", timeout=30)
        worker.join()
    kinds = [k for k, _ in events]
    stages = [d["stage"] for _, d in events]
    assert kinds[-1] == "done" and set(kinds[:-1]) == {"progress"}
    assert [s for s in ("one", "two", "three") if s in stages] == ["one", "two", "three"]
    progress = [d["progress"] for _, d in events]
    assert progress == sorted(progress) and progress[-1] == 1.0


def test_the_server_refuses_foreign_host_names(server):
    """DNS rebinding: a page elsewhere must not reach a loopback library."""
    client, _ = server
    r = client.get("/api/tracks", headers={"Host": "attacker.example:8000"})
    assert r.status_code == 421
    assert client.get("/api/tracks", headers={"Host": "localhost:8000"}).status_code == 200


# --------------------------------------------------------------------------- end to end

def test_upload_analyse_render_range_delete(tmp_path):
    """upload → analyse → render → fetch audio with Range (206, exact bytes) → delete version,
    original unchanged."""
    with serve(tmp_path / "library.sqlite3") as base, \
            httpx.Client(base_url=base, timeout=60) as client:
        _render_and_check(client, tmp_path)


def _render_and_check(client, tmp_path):
    from reissue.demo import write_demo
    from reissue.io import load, save

    demo = load(write_demo(tmp_path / "demo.wav"))
    clip = tmp_path / "demo-clip.wav"  # the first eight bars keep the render short
    save(type(demo)(demo.samples[:, : int(0.5 * 44100 + 8 * 2.5 * 44100)], 44100), clip,
         subtype="PCM_16")
    data = clip.read_bytes()
    r = upload(client, data, name="demo clip.wav")
    assert r.status_code == 201, r.text
    track = r.json()
    events = follow(client, track["analysis_job"]["events_url"])
    assert events[-1][0] == "done", events[-1]
    detail = client.get(f"/api/tracks/{track['id']}").json()
    assert detail["analysis"]["rhythm"]["tempo_bpm"] == pytest.approx(96.0, abs=1.0)
    assert detail["key"] == "G major"

    r = client.post(f"/api/tracks/{track['id']}/versions",
                    json={"style": "lofi", "intensity": 1.0, "seed": 1, "stems": True})
    assert r.status_code == 202, r.text
    created = r.json()
    # the request returned at once: the render runs in the worker pool, not on this request
    assert created["job"]["state"] in ("queued", "running")
    events = follow(client, created["job"]["events_url"])
    # … and the server kept answering while it ran
    assert sum(1 for kind, d in events if kind == "progress" and d["state"] == "running") >= 2
    assert events[-1][0] == "done", events[-1]
    stages = [d["stage"] for _, d in events]
    assert "analyse" in stages or "plan" in stages
    again = client.post(f"/api/tracks/{track['id']}/versions",
                        json={"style": "lofi", "intensity": 1.0, "seed": 1, "stems": True})
    assert again.status_code == 200 and again.json()["version"]["id"] == created["version"]["id"]

    version = client.get(f"/api/versions/{created['version']['id']}").json()
    assert version["status"] == "done" and version["report"]["style"] == "lofi"
    tmap = np.asarray(version["time_map"])
    assert tmap.shape[1] == 2 and np.all(np.diff(tmap, axis=0) > 0)
    assert version["report"]["cost"]["cpu_seconds_total"] > 0
    assert version["sound"]["short_term_lufs"]
    assert version["urls"]["stems"] and version["urls"]["midi"]

    audio_url = version["urls"]["audio"]
    whole = client.get(audio_url)
    assert whole.status_code == 200 and whole.headers["content-type"] == "audio/flac"
    y, rate = sf.read(io.BytesIO(whole.content))
    assert rate == 44100 and y.shape[1] == 2
    assert y.shape[0] / rate == pytest.approx(tmap[-1, 1], abs=0.5)
    n = len(whole.content)
    start, end = n // 3, n // 3 + 4095
    part = client.get(audio_url, headers={"Range": f"bytes={start}-{end}"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes {start}-{end}/{n}"
    assert part.content == whole.content[start:end + 1]
    report = client.get(version["urls"]["report"])
    assert report.status_code == 200 and "attachment" in report.headers["content-disposition"]
    assert json.loads(report.content)["library"]["version_id"] == version["id"]

    assert client.delete(f"/api/versions/{version['id']}").status_code == 204
    assert client.get(f"/api/versions/{version['id']}").status_code == 404
    assert client.get(audio_url).status_code == 404
    original = client.get(f"/api/tracks/{track['id']}/audio")
    assert original.content == data
    assert hashlib.sha256(original.content).hexdigest() == track["sha256"]
