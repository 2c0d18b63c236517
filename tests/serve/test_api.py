"""`gestsearch serve`'s JSON API on a small real index: answers equal to the library's, filters,
one-line errors, path traversal, HTTP Range, the access token, concurrency, the Python client
against a real uvicorn server, and the CLI's refusals."""

from __future__ import annotations

import csv
import http.client
import io
import json
import shutil
import subprocess
import sys
import threading
import time
import urllib.parse
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from gestsearch.client import Client
from gestsearch.config import Settings
from gestsearch.constants import SAMPLE_RATE
from gestsearch.errors import QueryError
from gestsearch.media import load_audio
from gestsearch.media.encode import write_audio
from gestsearch.results import SearchResult
from gestsearch.search import ClipFilter, Searcher
from gestsearch.store import GestureStore
from gestsearch.synth.speech import espeak_available
from gestsearch.testing.server import free_port, serving

pytestmark = pytest.mark.slow  # renders and indexes a synthetic archive: see `make test-fast`

REPO = Path(__file__).resolve().parents[2]
N_VIDEOS = 4  # indexed; one more is rendered and kept aside (the concurrency and symlink tests index it)
SEED = 31
TOKEN = "s3cret-token-for-tests"
QUERY = "small cut"
PHRASES = ("small cut", "wave", "stop now", "money today", "up down", "like small wave", "cut", "know they")
ENDPOINTS = {
    "/api/search", "/api/search/audio", "/api/search/like", "/api/videos", "/api/clips/{clip_id}",
    "/api/export", "/api/info", "/api/media/clip/{clip_id}", "/api/media/cut/{clip_id}",
}


# ----------------------------------------------------------------------------------- fixtures


@dataclass
class Corpus:
    archive: Path  # the indexed videos
    spare: Path  # a rendered video that is not in the index, alone in its folder
    db: Path
    phrases: dict[str, str]  # file stem → the phrase spoken in it


@pytest.fixture(scope="module")
def bundled():
    from gestsearch.embedding import Embedder

    return Embedder.from_settings(Settings(device="cpu"))


@pytest.fixture(scope="module")
def corpus(bundled, tmp_path_factory) -> Corpus:
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    from gestsearch.synth import generate_corpus
    from indexer import index_folder

    root = tmp_path_factory.mktemp("serve")
    rendered = root / "rendered"
    generate_corpus(rendered, N_VIDEOS + 1, seed=SEED, workers=1)
    with (rendered / "manifest.csv").open() as f:
        phrases = {row["filename"]: row["phrase"] for row in csv.DictReader(f)}
    names = sorted(p.stem for p in rendered.glob("*.mp4"))
    archive, spare = root / "archive", root / "spare"
    archive.mkdir()
    spare.mkdir()
    for i, name in enumerate(names):
        for f in rendered.glob(f"{name}.*"):
            shutil.copy2(f, (archive if i < N_VIDEOS else spare) / f.name)
    db = root / "index.lance"
    summary = index_folder(archive, bundled, db)
    assert len(summary.indexed) == N_VIDEOS and not summary.failed
    return Corpus(archive, spare / f"{names[-1]}.mp4", db, phrases)


def make_app(db: Path, embedder, cache: Path, token: str | None = None):
    from gestsearch.serve import create_app

    return create_app(Settings(db=db), token=token, embedder=embedder, cache_dir=cache)


@pytest.fixture(scope="module")
def client(corpus, bundled, tmp_path_factory) -> Iterator[TestClient]:
    with TestClient(make_app(corpus.db, bundled, tmp_path_factory.mktemp("cuts")), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def searcher(corpus, bundled) -> Iterator[Searcher]:
    """The library on the same index, for the answers the API must equal."""
    with GestureStore.open(corpus.db, fingerprint=bundled.info.fingerprint, read_only=True) as store:
        yield Searcher(store, bundled)


@pytest.fixture(scope="module")
def ranked(client) -> list[dict]:
    """All clips of the index (one per video), ranked for QUERY."""
    response = client.get("/api/search", params={"q": QUERY, "k": N_VIDEOS})
    assert response.status_code == 200, response.text
    hits = response.json()["hits"]
    assert len(hits) == N_VIDEOS
    return hits


@pytest.fixture(scope="module")
def live(corpus, bundled, tmp_path_factory) -> Iterator[str]:
    """The URL of a real uvicorn server (in a thread) on the index."""
    with serving(make_app(corpus.db, bundled, tmp_path_factory.mktemp("live-cuts"))) as url:
        yield url


def raw_get(url: str, target: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    """GET ``target`` exactly as written (no dot-segment removal, no re-quoting, unlike httpx)."""
    connection = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(url).port, timeout=60)
    try:
        connection.request("GET", target, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def library(result: SearchResult) -> dict:
    """A library result as the API sends it (JSON)."""
    return json.loads(json.dumps(result.to_dict()))


def one_line_error(response, status: int | None = None) -> str:
    """The error line of a 4xx answer, checked to be one line of JSON and nothing else."""
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"].strip()
    assert "\n" not in body["error"] and "Traceback" not in response.text and 'File "' not in response.text
    assert len(response.text.splitlines()) == 1
    return body["error"]


def wav_of(video: Path, out: Path) -> Path:
    """The sound track of ``video`` as a wav file."""
    return write_audio(out, load_audio(video, sidecar=False))


def tone(out: Path, seconds: float) -> Path:
    t = np.arange(int(seconds * SAMPLE_RATE), dtype=np.float32) / SAMPLE_RATE
    return write_audio(out, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32))


def wav_upload(path: Path, name: str | None = None, kind: str = "audio/wav") -> dict:
    return {"audio": (name or path.name, path.read_bytes(), kind)}


# --------------------------------------------------------------------------------- good requests


def test_text_search_equals_the_library(client, searcher):
    response = client.get("/api/search", params={"q": QUERY, "k": 3})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["schema"] == "gestsearch.search/1" and doc["mode"] == "text" and doc["query"] == QUERY
    assert len(doc["hits"]) == 3 and [h["rank"] for h in doc["hits"]] == [1, 2, 3]
    assert doc == library(searcher.search(searcher.text_query(QUERY), 3).result)
    assert SearchResult.from_dict(doc).to_dict() == doc
    # the keys of `gestsearch search --json`
    assert set(doc) == {"schema", "query", "mode", "model", "hits", "notes"}
    assert set(doc["hits"][0]) == set(SearchResult.from_dict(doc).hits[0].to_dict())


def test_candidates_parameter(client, searcher):
    doc = client.get("/api/search", params={"q": "wave", "k": 2, "candidates": 2}).json()
    assert doc == library(Searcher(searcher.store, searcher.embedder, 2).search(searcher.text_query("wave"), 2).result)


def test_audio_search_with_a_clips_own_sound(client, searcher, corpus, tmp_path):
    video = sorted(corpus.archive.glob("*.mp4"))[1]
    phrase = corpus.phrases[video.stem]
    wav = wav_of(video, tmp_path / "query.wav")
    response = client.post("/api/search/audio", params={"k": 2}, files=wav_upload(wav), data={"transcript": phrase})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["schema"] == "gestsearch.search/1" and doc["mode"] == "audio" and len(doc["hits"]) == 2
    assert doc["query"].split() == phrase.split()
    assert doc == library(searcher.search(searcher.audio_query(wav, phrase), 2).result)


def test_like_by_clip_id(client, searcher, ranked):
    clip_id = ranked[0]["clip_id"]
    response = client.get("/api/search/like", params={"clip_id": clip_id, "k": 2})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["mode"] == "gesture" and clip_id not in [h["clip_id"] for h in doc["hits"]]
    assert len(doc["hits"]) == 2
    assert doc == library(searcher.search(searcher.gesture_query(int(clip_id)), 2).result)


def test_like_by_video_and_time_range(client, searcher, ranked):
    path = ranked[0]["video_path"]
    response = client.get("/api/search/like", params={"video": path, "start": 0.0, "end": 2.0, "track": 0, "k": 3})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["mode"] == "gesture" and len(doc["hits"]) == 3  # `video` and `track` name the query, they filter nothing
    assert doc == library(searcher.search(searcher.gesture_query_from_video(Path(path), 0.0, 2.0, 0), 3).result)
    filtered = client.get("/api/search/like", params={"video": path, "start": 0.0, "end": 2.0, "k": 3, "path": "*00003.mp4"})
    assert [Path(h["video_path"]).name for h in filtered.json()["hits"]] == ["synth31_00003.mp4"]


def test_videos_list_with_clips(client, corpus, ranked):
    response = client.get("/api/videos")
    assert response.status_code == 200
    data = response.json()
    assert data["total"] == N_VIDEOS and data["offset"] == 0
    assert sorted(v["path"] for v in data["videos"]) == sorted(str(p) for p in corpus.archive.glob("*.mp4"))
    clip_ids = {c["clip_id"] for v in data["videos"] for c in v["clips"]}
    assert clip_ids == {h["clip_id"] for h in ranked}
    for video in data["videos"]:
        assert video["playable"] and video["duration_s"] > 0
        assert all(c["video_path"] == video["path"] and c["n_frames"] > 0 for c in video["clips"])
    page = client.get("/api/videos", params={"offset": 1, "limit": 2}).json()
    assert page["total"] == N_VIDEOS and [v["path"] for v in page["videos"]] == [v["path"] for v in data["videos"][1:3]]
    one = client.get("/api/videos", params={"path": "*00002.mp4"}).json()
    assert one["total"] == 1 and one["videos"][0]["path"].endswith("00002.mp4")


def test_clip_detail_with_a_query(client, ranked):
    hit = ranked[-1]
    plain = client.get(f"/api/clips/{hit['clip_id']}")
    assert plain.status_code == 200 and "score_map" not in plain.json()
    response = client.get(f"/api/clips/{hit['clip_id']}", params={"q": QUERY})
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["clip_id"] == hit["clip_id"] and detail["video_path"] == hit["video_path"]
    assert detail["query_words"] == QUERY.split()
    score_map = np.array(detail["score_map"])
    assert score_map.shape == (len(detail["query_words"]), detail["n_frames"])
    # scored as the search scores it
    assert detail["hit"]["score"] == pytest.approx(hit["score"], abs=1e-5)
    assert [p["word"] for p in detail["hit"]["peaks"]] == detail["query_words"]


def test_exports_in_each_format(client):
    doc = client.get("/api/search", params={"q": QUERY, "k": 2}).json()
    stems = {Path(h["video_path"]).stem for h in doc["hits"]}

    exported = client.post("/api/export", params={"format": "json"}, json=doc)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/json")
    assert SearchResult.from_dict(exported.json()) == SearchResult.from_dict(doc)

    exported = client.post("/api/export", params={"format": "csv"}, json=doc)
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["clip_id"] for r in rows] == [h["clip_id"] for h in doc["hits"]]

    for fmt, suffix in (("vtt", ".vtt"), ("eaf", ".eaf")):
        exported = client.post("/api/export", params={"format": fmt}, json=doc)
        assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
        assert 'filename="gestsearch-' in exported.headers["content-disposition"]
        with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
            assert {Path(n).stem for n in archive.namelist()} == stems
            assert all(n.endswith(suffix) for n in archive.namelist())
            first = archive.read(archive.namelist()[0]).decode()
        assert first.startswith("WEBVTT") if fmt == "vtt" else "<ANNOTATION_DOCUMENT" in first

    exported = client.post("/api/export", params={"format": "mp4"}, json=doc)
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        names = archive.namelist()
        assert len(names) == 2 and all(n.endswith(".mp4") for n in names)
        assert all(h["clip_id"] in " ".join(names) for h in doc["hits"])
        assert all(archive.read(n)[4:8] == b"ftyp" for n in names)


def test_info(client, bundled):
    response = client.get("/api/info")
    assert response.status_code == 200
    info = response.json()
    assert info["clips"] == N_VIDEOS and info["videos_indexed"] == N_VIDEOS
    assert info["model_fingerprint"] == bundled.info.fingerprint == info["fingerprint"]
    assert info["model"] == bundled.info.name


def test_openapi_lists_the_endpoints_and_media_only_by_clip_id(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert set(paths) >= ENDPOINTS
    for path in ("/api/media/clip/{clip_id}", "/api/media/cut/{clip_id}"):
        parameters = {p["name"]: p for p in paths[path]["get"].get("parameters", [])}
        assert parameters["clip_id"]["schema"]["type"] == "integer" and parameters["clip_id"]["in"] == "path"
        assert set(parameters) <= {"clip_id", "start", "end"}  # no path or file name from the request


def test_ui_shell_is_html(client):
    response = client.get("/")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert "<html" in response.text.lower()


# ----------------------------------------------------------------------------------------- filters


def test_filters_pick_the_clips_before_ranking(client, searcher, ranked):
    # the two clips ranked last without a filter are the two hits with a filter that keeps only them
    last_two = ranked[-2:]
    digits = "".join(Path(h["video_path"]).stem[-1] for h in last_two)
    pattern = f"*0000[{digits}].mp4"
    response = client.get("/api/search", params={"q": QUERY, "k": 2, "path": pattern})
    assert response.status_code == 200, response.text
    doc = response.json()
    assert sorted(h["clip_id"] for h in doc["hits"]) == sorted(h["clip_id"] for h in last_two)
    assert doc == library(searcher.search(searcher.text_query(QUERY), 2, ClipFilter(path=pattern)).result)


def test_path_glob_for_one_file(client, ranked):
    name = Path(ranked[0]["video_path"]).name
    doc = client.get("/api/search", params={"q": QUERY, "k": 3, "path": f"*/{name}"}).json()
    assert [Path(h["video_path"]).name for h in doc["hits"]] == [name]
    doc = client.get("/api/search", params={"q": QUERY, "k": 3, "video": ranked[1]["video_path"]}).json()
    assert [h["video_path"] for h in doc["hits"]] == [ranked[1]["video_path"]]


def test_a_filter_that_matches_nothing_gives_no_hits_and_a_note(client):
    for params in ({"track": 7}, {"indexed_before": "2001-01-01"}, {"min_duration": 3600}, {"path": "/nowhere/at/all"}):
        response = client.get("/api/search", params={"q": QUERY, **params})
        assert response.status_code == 200, response.text
        doc = response.json()
        assert doc["hits"] == [] and any("filter" in note for note in doc["notes"]), params


def test_filters_that_match_everything(client, ranked):
    # speakers_only keeps clips without a speaking score: one person in view, nobody to compare with
    for params in ({"track": 0}, {"indexed_after": "2001-01-01T00:00Z"}, {"min_duration": 0.5, "max_duration": 3600},
                   {"speakers_only": "true"}):
        doc = client.get("/api/search", params={"q": QUERY, "k": N_VIDEOS, **params}).json()
        assert [h["clip_id"] for h in doc["hits"]] == [h["clip_id"] for h in ranked], params
    assert all(h["speaking"] is None for h in ranked)


# ------------------------------------------------------------------------------------ bad requests


@pytest.mark.parametrize("url, params, status", [
    ("/api/search", {"q": ""}, 422),
    ("/api/search", {}, 422),
    ("/api/search", {"q": "   "}, 400),
    ("/api/search", {"q": "x" * 1001}, 422),
    ("/api/search", {"q": QUERY, "k": 0}, 422),
    ("/api/search", {"q": QUERY, "k": 10**9}, 422),
    ("/api/search", {"q": QUERY, "k": "ten"}, 422),
    ("/api/search", {"q": QUERY, "candidates": 0}, 422),
    ("/api/search", {"q": QUERY, "indexed_after": "yesterday"}, 400),
    ("/api/search", {"q": QUERY, "indexed_before": "2026-13-45"}, 400),
    ("/api/search", {"q": QUERY, "indexed_after": "2030-01-01", "indexed_before": "2020-01-01"}, 400),
    ("/api/search", {"q": QUERY, "min_duration": 5, "max_duration": 1}, 400),
    ("/api/search", {"q": QUERY, "track": -1}, 422),
    ("/api/search", {"q": QUERY, "path": ""}, 400),
    ("/api/clips/123", {}, 404),
    ("/api/clips/abc", {}, 422),
    ("/api/clips/1.5", {}, 422),
    ("/api/clips/99999999999999999999999", {}, 422),
    ("/api/clips/-1", {}, 422),
    ("/api/media/clip/123", {}, None),
    ("/api/media/clip/abc", {}, 422),
    ("/api/media/clip/99999999999999999999999", {}, 422),
    ("/api/media/cut/123", {}, None),
    ("/api/media/cut/99999999999999999999999", {}, 422),
    ("/api/search/like", {}, 400),
    ("/api/search/like", {"clip_id": 123}, 400),
    ("/api/search/like", {"clip_id": "abc"}, 422),
    ("/api/search/like", {"clip_id": 10**20}, 422),
    ("/api/search/like", {"video": "/etc/passwd", "start": 0, "end": 1}, 400),
    ("/api/videos", {"limit": 0}, 422),
    ("/api/no-such-endpoint", {}, 404),
])  # fmt: skip
def test_bad_requests_are_one_line_json_errors(client, url, params, status):
    one_line_error(client.get(url, params=params), status)


def test_bad_clip_requests_that_need_a_real_clip(client, ranked):
    clip_id = ranked[0]["clip_id"]
    one_line_error(client.get(f"/api/media/cut/{clip_id}", params={"start": 3, "end": 1}), 400)
    one_line_error(client.get(f"/api/media/cut/{clip_id}", params={"start": 0, "end": 500}), 400)
    one_line_error(client.get(f"/api/media/cut/{clip_id}", params={"start": 400, "end": 401}), 400)
    one_line_error(client.get(f"/api/media/cut/{clip_id}", params={"start": -1}), 422)
    one_line_error(client.get(f"/api/clips/{clip_id}", params={"q": "qqqzzzxxx"}), 400)


def test_bad_uploads(client, corpus, tmp_path, monkeypatch):
    wav = wav_of(sorted(corpus.archive.glob("*.mp4"))[0], tmp_path / "query.wav")
    transcript = {"transcript": corpus.phrases[sorted(corpus.archive.glob("*.mp4"))[0].stem]}
    post = client.post
    assert "audio file" in one_line_error(post("/api/search/audio", files=wav_upload(wav, "notes.txt", "text/plain"),
                                               data=transcript), 415)
    assert "audio file" in one_line_error(post("/api/search/audio", files={"audio": ("x.exe", b"MZ", "application/x-msdos")},
                                               data=transcript), 415)
    assert "empty" in one_line_error(post("/api/search/audio", files={"audio": ("q.wav", b"", "audio/wav")}, data=transcript), 400)
    one_line_error(post("/api/search/audio", files={"audio": ("q.wav", b"RIFF not really a wav", "audio/wav")},
                        data=transcript), 400)
    one_line_error(post("/api/search/audio", data=transcript), 422)  # no file at all
    assert "words spoken" in one_line_error(post("/api/search/audio", files=wav_upload(wav)), 400)  # no transcript, no ASR
    too_long = tone(tmp_path / "long.wav", 31.0)
    assert "too long" in one_line_error(post("/api/search/audio", files=wav_upload(too_long), data={"transcript": "wave"}), 400)
    monkeypatch.setattr("gestsearch.serve.app.MAX_UPLOAD_BYTES", 1000)
    assert "larger than" in one_line_error(post("/api/search/audio", files=wav_upload(wav), data=transcript), 413)
    # refused from its Content-Length, before the body is read or spooled
    big = post("/api/search/audio", content=b"x" * 200_000, headers={"Content-Type": "multipart/form-data; boundary=b"})
    assert "larger than" in one_line_error(big, 413)


def test_bad_export_bodies(client):
    doc = client.get("/api/search", params={"q": QUERY, "k": 1}).json()
    hit = doc["hits"][0]
    export = "/api/export"
    assert "gestsearch.search/1" in one_line_error(client.post(export, json={"hello": "world"}), 400)
    one_line_error(client.post(export, json={"schema": "gestsearch.search/1"}), 400)
    one_line_error(client.post(export, json={**doc, "mode": "bogus"}), 400)
    one_line_error(client.post(export, json=[1, 2]), 422)
    one_line_error(client.post(export, json="a string"), 422)
    one_line_error(client.post(export, content=b"{not json", headers={"content-type": "application/json"}), 422)
    one_line_error(client.post(export, params={"format": "pdf"}, json=doc), 422)
    for clip_id in ("12345", "abc", "9" * 30, "-3"):
        bad = {**doc, "hits": [{**hit, "clip_id": clip_id}]}
        assert clip_id in one_line_error(client.post(export, params={"format": "json"}, json=bad), 400)
    elsewhere = {**doc, "hits": [{**hit, "video_path": "/etc/passwd"}]}
    assert "another video" in one_line_error(client.post(export, params={"format": "mp4"}, json=elsewhere), 400)


# -------------------------------------------------------------------------------- path traversal


@pytest.mark.parametrize("target", [
    "/static/../app.py",
    "/static/%2e%2e/app.py",
    "/static/..%2fapp.py",
    "/static/%2e%2e%2fapp.py",
    "/static/../../serve/app.py",
    "/static/..%2f..%2fserve%2fapp.py",
    "/static/....//app.py",
    "/static//etc/passwd",
    "/static/%2fetc%2fpasswd",
    "/static/../../../../../../etc/passwd",
    "/static/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    "/static/..\\app.py",
    "/api/media/clip/../../etc/passwd",
    "/api/media/clip/..%2f..%2fetc%2fpasswd",
    "/api/media/clip/%2fetc%2fpasswd",
    "/api/media/cut/..%2fapp.py",
    "/api/../static/../app.py",
    "/../../etc/passwd",
    "/%2e%2e/%2e%2e/etc/passwd",
])  # fmt: skip
def test_no_file_outside_the_static_folder_is_served(live, target):
    status, body = raw_get(live, target)
    assert 400 <= status < 500, (status, body[:200])
    assert b"def create_app" not in body and b"root:" not in body
    assert json.loads(body).keys() == {"error"}


def test_static_files_are_served(live):
    status, body = raw_get(live, "/static/index.html")
    assert status == 200 and b"<html" in body.lower()


def test_a_video_replaced_by_a_symlink_is_refused(corpus, bundled, tmp_path):
    from indexer import index_folder

    db = tmp_path / "index.lance"  # a copy: the other tests' index and archive stay as they are
    shutil.copytree(corpus.db, db)
    folder = tmp_path / "talks"
    folder.mkdir()
    video = folder / "talk.mp4"
    shutil.copy2(corpus.spare, video)
    index_folder(folder, bundled, db)
    with TestClient(make_app(db, bundled, tmp_path / "cuts"), raise_server_exceptions=False) as client:
        doc = client.get("/api/search", params={"q": QUERY, "k": 1, "path": str(folder)}).json()
        assert [h["video_path"] for h in doc["hits"]] == [str(video)]
        clip_id = doc["hits"][0]["clip_id"]
        served = client.get(f"/api/media/clip/{clip_id}")
        assert served.status_code == 200 and served.content == video.read_bytes()

        for target in (sorted(corpus.archive.glob("*.mp4"))[0], Path("/etc/passwd")):
            video.unlink()
            video.symlink_to(target)
            assert "changed since it was indexed" in one_line_error(client.get(f"/api/media/clip/{clip_id}"), 400)
            one_line_error(client.get(f"/api/media/cut/{clip_id}"), 400)
            one_line_error(client.post("/api/export", params={"format": "mp4"}, json=doc), 400)
            one_line_error(client.get("/api/search/like", params={"video": str(video), "start": 0, "end": 1}), 400)

        video.unlink()  # gone
        assert "no longer where it was indexed" in one_line_error(client.get(f"/api/media/clip/{clip_id}"), 400)
        # the other videos of the index are still served
        assert client.get(f"/api/media/clip/{client.get('/api/videos').json()['videos'][0]['clips'][0]['clip_id']}").status_code == 200


# ------------------------------------------------------------------------------------- HTTP Range


def test_http_range(client, ranked):
    clip_id, path = ranked[0]["clip_id"], Path(ranked[0]["video_path"])
    data = path.read_bytes()
    full = client.get(f"/api/media/clip/{clip_id}")
    assert full.status_code == 200 and full.content == data
    assert full.headers["content-type"] == "video/mp4" and full.headers.get("accept-ranges") == "bytes"

    head = client.get(f"/api/media/clip/{clip_id}", headers={"Range": "bytes=0-99"})
    assert head.status_code == 206 and head.content == data[:100]
    assert head.headers["content-range"] == f"bytes 0-99/{len(data)}" and head.headers["content-length"] == "100"

    rest = client.get(f"/api/media/clip/{clip_id}", headers={"Range": "bytes=100-"})
    assert rest.status_code == 206 and rest.content == data[100:]
    assert rest.headers["content-range"] == f"bytes 100-{len(data) - 1}/{len(data)}"

    tail = client.get(f"/api/media/clip/{clip_id}", headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == data[-10:]

    beyond = client.get(f"/api/media/clip/{clip_id}", headers={"Range": f"bytes={len(data) + 10}-"})
    assert beyond.status_code == 416


def test_cut_of_a_clip(client, ranked):
    hit = ranked[0]
    cut = client.get(f"/api/media/cut/{hit['clip_id']}", params={"start": hit["span_start_s"], "end": hit["span_end_s"]})
    assert cut.status_code == 200 and cut.headers["content-type"] == "video/mp4" and cut.content[4:8] == b"ftyp"
    part = client.get(f"/api/media/cut/{hit['clip_id']}", headers={"Range": "bytes=0-9"})
    assert part.status_code == 206 and len(part.content) == 10


# ------------------------------------------------------------------------------------------- token


def test_the_access_token(corpus, bundled, tmp_path, ranked):
    with TestClient(make_app(corpus.db, bundled, tmp_path, token=TOKEN), raise_server_exceptions=False) as client:
        for url, params in (("/api/info", {}), (f"/api/media/clip/{ranked[0]['clip_id']}", {}), ("/api/search", {"q": "wave"})):
            assert "token" in one_line_error(client.get(url, params=params), 401)
            assert client.get(url, params=params, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
            assert client.get(url, params={**params, "token": TOKEN}).status_code == 200
            one_line_error(client.get(url, params=params, headers={"Authorization": "Bearer wrong-token-123"}), 401)
            one_line_error(client.get(url, params={**params, "token": TOKEN[:-1]}), 401)
            one_line_error(client.get(url, params=params, headers={"Authorization": f"Basic {TOKEN}"}), 401)
        one_line_error(client.post("/api/export", json={}), 401)  # checked before the body
        assert client.get("/").status_code == 200  # the UI shell loads, then asks for the token
        client.cookies.set("gestsearch_token", TOKEN)
        assert client.get("/api/info").status_code == 200
        client.cookies.set("gestsearch_token", "wrong-token-123")
        one_line_error(client.get("/api/info"), 401)


# ------------------------------------------------------------------------------------- concurrency


def test_eight_clients_at_once(live, searcher):
    expected = {q: library(searcher.search(searcher.text_query(q), 3).result) for q in PHRASES}
    barrier = threading.Barrier(len(PHRASES))
    answers: dict[str, list[tuple[int, dict]]] = {q: [] for q in PHRASES}

    def ask(phrase: str) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", urllib.parse.urlsplit(live).port, timeout=120)
        barrier.wait()
        for _ in range(3):  # keep-alive: the same connection
            connection.request("GET", "/api/search?" + urllib.parse.urlencode({"q": phrase, "k": 3}))
            response = connection.getresponse()
            answers[phrase].append((response.status, json.loads(response.read())))
        connection.close()

    threads = [threading.Thread(target=ask, args=(q,)) for q in PHRASES]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    for phrase, got in answers.items():
        assert [status for status, _ in got] == [200, 200, 200], got
        assert all(doc == expected[phrase] for _, doc in got)


def test_queries_keep_working_while_the_index_grows(corpus, bundled, tmp_path):
    db = tmp_path / "index.lance"  # a copy, so the other tests' index keeps its clips
    shutil.copytree(corpus.db, db)
    with TestClient(make_app(db, bundled, tmp_path / "cuts"), raise_server_exceptions=False) as client:
        assert client.get("/api/info").json()["clips"] == N_VIDEOS
        indexing = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "index", str(corpus.spare.parent), "--db", str(db), "--json"],
            cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        counts, statuses = [], []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            done = indexing.poll() is not None
            search = client.get("/api/search", params={"q": PHRASES[len(statuses) % len(PHRASES)], "k": 2})
            info = client.get("/api/info")
            statuses += [search.status_code, info.status_code]
            counts.append(info.json().get("clips"))
            if done and counts[-1] == N_VIDEOS + 1:
                break
            time.sleep(0.3)
        out, err = indexing.communicate(timeout=60)
        assert indexing.returncode == 0, err[-2000:]
        assert json.loads(out)["indexed"] == [str(corpus.spare)]
        assert set(statuses) == {200}, statuses
        assert counts[0] == N_VIDEOS and counts[-1] == N_VIDEOS + 1 and set(counts) <= {N_VIDEOS, N_VIDEOS + 1}
        assert len(counts) > 5  # queries ran while the index was written
        # the new clip is searchable, listable and playable without recreating the app
        doc = client.get("/api/search", params={"q": QUERY, "k": N_VIDEOS + 1}).json()
        assert str(corpus.spare) in [h["video_path"] for h in doc["hits"]]
        new = client.get("/api/search", params={"q": QUERY, "video": str(corpus.spare)}).json()["hits"]
        assert len(new) == 1
        assert client.get(f"/api/media/clip/{new[0]['clip_id']}").content == corpus.spare.read_bytes()
        assert client.get("/api/videos").json()["total"] == N_VIDEOS + 1


# ------------------------------------------------------------------------------ the Python client


def test_client_equals_the_library(live, searcher, corpus, tmp_path):
    client = Client(live)
    result = client.search(QUERY, k=3)
    assert result == SearchResult.from_dict(library(searcher.search(searcher.text_query(QUERY), 3).result))
    pattern = "*0000[12].mp4"
    filtered = client.search(QUERY, k=3, path=pattern, track=0)
    assert filtered == SearchResult.from_dict(
        library(searcher.search(searcher.text_query(QUERY), 3, ClipFilter(path=pattern, track=0)).result))
    assert len(filtered.hits) == 2

    like = client.like(result.hits[0].clip_id, k=2)
    assert like == SearchResult.from_dict(library(searcher.search(searcher.gesture_query(int(result.hits[0].clip_id)), 2).result))

    video = sorted(corpus.archive.glob("*.mp4"))[2]
    wav = wav_of(video, tmp_path / "spoken.wav")
    spoken = client.search_audio(wav, corpus.phrases[video.stem], k=2)
    assert spoken == SearchResult.from_dict(library(searcher.search(searcher.audio_query(wav, corpus.phrases[video.stem]), 2).result))

    assert client.videos()["total"] == N_VIDEOS
    assert client.videos(path="*00001.mp4")["total"] == 1
    detail = client.clip(result.hits[0].clip_id, QUERY)
    assert np.array(detail["score_map"]).shape == (len(QUERY.split()), detail["n_frames"])
    assert client.info()["clips"] == N_VIDEOS
    exported = client.export(result, "vtt")
    assert zipfile.ZipFile(io.BytesIO(exported)).namelist()
    assert SearchResult.from_dict(json.loads(client.export(result, "json"))) == result


def test_client_errors(live):
    client = Client(live)
    with pytest.raises(QueryError) as error:
        client.search("qqqzzzxxx")
    message = str(error.value)
    assert "400" in message and "no word of the query is known" in message and "\n" not in message
    with pytest.raises(QueryError, match="404 no clip with id 123 in the index"):
        client.clip(123)
    with pytest.raises(QueryError, match="indexed_after must be an ISO 8601 date"):
        client.search(QUERY, indexed_after="someday")
    with pytest.raises(QueryError, match="422 k: Input should be greater than or equal to 1"):
        client.search(QUERY, k=0)
    with pytest.raises(TypeError, match="unknown filter"):
        client.search(QUERY, colour="red")


def test_client_against_an_unreachable_server():
    with pytest.raises(QueryError, match="cannot reach the gestsearch server"):
        Client(f"http://127.0.0.1:{free_port()}", timeout=5).info()


# ------------------------------------------------------------------------------------------- CLI


@pytest.mark.parametrize(("args", "says"), [
    (["--host", "0.0.0.0"], "--token"),  # other machines could connect without a token
    (["--token", "short"], "8 characters"),
])
def test_cli_refuses_unsafe_serving(args, says, tmp_path, monkeypatch):
    from cli.main import app

    monkeypatch.delenv("GESTSEARCH_TOKEN", raising=False)
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "index"), *args])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0]


def test_cli_search_asks_a_running_server(live, searcher, tmp_path, monkeypatch):
    """`gestsearch search --server URL` (or GESTSEARCH_SERVER) answers from the server, loading no
    models: the same hits as the library, exports included."""
    from cli.main import app

    monkeypatch.setenv("GESTSEARCH_SERVER", live)
    result = CliRunner().invoke(app, ["search", QUERY, "-k", "2", "--json", "--export", str(tmp_path / "out"),
                                      "--format", "csv", "--format", "heatmap"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer == library(searcher.search(searcher.text_query(QUERY), 2).result)
    assert (tmp_path / "out" / "results.csv").is_file() and len(list((tmp_path / "out").glob("*.png"))) == 2
    refused = CliRunner().invoke(app, ["search", QUERY, "--server", f"http://127.0.0.1:{free_port()}"])
    assert refused.exit_code == 2 and "cannot reach the gestsearch server" in refused.output


def test_a_server_left_to_load_its_models_answers_text_without_torch_and_loads_it_for_gestures(corpus, searcher,
                                                                                                 ranked, tmp_path):
    """What `gestsearch serve` runs (no embedder given): text by the numpy encoder, torch only once
    a gesture (or speech) query needs it; the answers are the library's with the torch models."""
    path = ranked[0]["video_path"]
    script = f"""
import json, sys
from fastapi.testclient import TestClient
from gestsearch.config import Settings
from gestsearch.serve import create_app
client = TestClient(create_app(Settings(db={str(corpus.db)!r}, device="cpu"), cache_dir={str(tmp_path)!r}))
text = client.get("/api/search", params={{"q": {QUERY!r}, "k": 3}})
torch_after_text = "torch" in sys.modules
like = client.get("/api/search/like", params={{"video": {path!r}, "start": 0.0, "end": 2.0, "k": 3}})
print(json.dumps([text.json(), torch_after_text, like.json(), "torch" in sys.modules]))
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    text, torch_after_text, like, torch_after_like = json.loads(run.stdout.splitlines()[-1])
    assert not torch_after_text and torch_after_like
    expected = library(searcher.search(searcher.text_query(QUERY), 3).result)
    assert [h["clip_id"] for h in text["hits"]] == [h["clip_id"] for h in expected["hits"]]
    np.testing.assert_allclose([h["score"] for h in text["hits"]], [h["score"] for h in expected["hits"]], atol=1e-4)
    assert like == library(searcher.search(searcher.gesture_query_from_video(Path(path), 0.0, 2.0, 0), 3).result)
