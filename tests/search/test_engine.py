"""`gestsearch search`: text, audio and gesture queries, exact re-rank, exports, bad input."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.media.encode import write_audio
from gestsearch.scoring import fuse
from gestsearch.search.engine import Searcher
from gestsearch.store import ClipFilter, GestureStore
from gestsearch.testing.media import tone

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

runner = CliRunner()


@pytest.fixture(scope="session")
def search_index(sample_index):
    """(unused, db): the shared samples' index."""
    return None, sample_index[2]


@pytest.fixture(scope="session")
def model_args(seeded_checkpoints) -> list[str]:
    return ["--gestsync", str(seeded_checkpoints["gestsync"]), "--jegal", str(seeded_checkpoints["jegal"]),
            "--text-model", str(seeded_checkpoints["text"])]


def run(*args: str):
    result = runner.invoke(app, list(args))
    return result


def test_stage2_equals_brute_force_coupling(search_index, embedder):
    _, db = search_index
    with GestureStore.open(db, read_only=True) as store:
        clips = list(store.iter_clips())
        searcher = Searcher(store, embedder, candidates=1000, coupling_weight=0.3)
        query = searcher.text_query("the hat, mixing numbers")
        hits = searcher.search(query, k=len(clips)).result.hits
    # overlapping windows of a track are one moment: every clip is a hit or merged into one
    assert 3 < len(hits) <= len(clips) == sum(1 + len(h.merged_clip_ids) for h in hits)
    pooled_q = query.vectors.mean(0)
    pooled_q /= np.linalg.norm(pooled_q)
    brute = {}
    for c in clips:
        frames = c.frames.astype(np.float64)
        coupling = np.mean([max(frames @ w) for w in query.vectors.astype(np.float64)])
        pooled = float(c.gesture.astype(np.float64) @ pooled_q)
        brute[str(c.clip_id)] = (coupling, pooled, fuse(pooled, coupling, 0.3))
    for hit in hits:
        coupling, pooled, final = brute[hit.clip_id]
        assert hit.coupling_score == pytest.approx(coupling, abs=1e-5)
        assert hit.pooled_score == pytest.approx(pooled, abs=1e-5)
        assert hit.score == pytest.approx(final, abs=1e-5)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    for hit in hits:  # timestamps: per word a peak inside the clip, a span inside the clip
        assert [p.word for p in hit.peaks] == query.words
        assert all(hit.clip_start_s <= p.time_s < hit.clip_end_s for p in hit.peaks)
        assert hit.clip_start_s <= hit.span_start_s < hit.span_end_s <= hit.clip_end_s + 1e-9


def test_text_search_cli_json(search_index, model_args):
    _, db = search_index
    result = run("search", "take a walk", "--db", str(db), "-k", "3", "--json", *model_args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["schema"] == "gestsearch.search/1" and data["mode"] == "text"
    assert len(data["hits"]) == 3 and [h["rank"] for h in data["hits"]] == [1, 2, 3]
    assert {"video_path", "span_start_s", "span_end_s", "peaks", "score"} <= set(data["hits"][0])


def test_text_search_table(search_index, model_args):
    _, db = search_index
    result = run("search", "numbers", "--db", str(db), "-k", "2", *model_args)
    assert result.exit_code == 0, result.output
    assert "numbers@" in result.stdout and "text query: numbers" in result.stdout


def test_audio_search_with_transcript(search_index, shared_data, model_args):
    _, db = search_index
    wav = shared_data / "jegal_samples" / "sample1.wav"
    result = run("search", "--audio", str(wav), "--transcript", "amount of numbers inside the hat mixing the",
                 "--db", str(db), "-k", "2", "--json", *model_args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "audio" and len(data["hits"]) == 2
    assert [p["word"] for p in data["hits"][0]["peaks"]][:3] == ["amount", "of", "numbers"]


def test_gesture_to_speech_search(search_index, model_args):
    _, db = search_index
    with GestureStore.open(db, read_only=True) as store:
        clip = next(c for c in store.iter_clips() if c.content is not None)
    result = run("search", "--like", str(clip.clip_id), "--db", str(db), "--json", *model_args)
    assert result.exit_code == 0, result.output
    hits = json.loads(result.stdout)["hits"]
    assert hits and all(h["clip_id"] != str(clip.clip_id) for h in hits)
    assert all(h["coupling_score"] is None for h in hits)


def test_gesture_to_speech_from_a_video_range(search_index, shared_data, model_args):
    _, db = search_index
    video = shared_data / "gestsync_samples" / "asd_sample_1.mp4"
    result = run("search", "--like-video", str(video), "--start", "1", "--end", "3", "--track", "1",
                 "--db", str(db), "--json", "-k", "2", *model_args)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["mode"] == "gesture" and data["query"].startswith("gestures of asd_sample_1.mp4 1.00-3.00 s")
    assert 0 < len(data["hits"]) <= 2
    bad = run("search", "--like-video", str(video), "--start", "30", "--end", "40", "--db", str(db), *model_args)
    assert bad.exit_code == 2 and "outside" in bad.output
    missing = run("search", "--like-video", str(video), "--db", str(db), *model_args)
    assert missing.exit_code == 2 and "--start and --end" in missing.output


def test_export_formats(search_index, model_args, tmp_path):
    _, db = search_index
    out = tmp_path / "export"
    result = run("search", "inside the hat", "--db", str(db), "-k", "2", "--export", str(out),
                 "--format", "mp4", "--format", "heatmap", "--format", "json", "--format", "eaf",
                 "--format", "csv", "--format", "vtt", *model_args)
    assert result.exit_code == 0, result.output
    data = json.loads((out / "results.json").read_text())
    for hit in data["hits"]:
        stem = f"{hit['rank']:03d}_{hit['clip_id']}"
        with av.open(str(out / f"{stem}.mp4")) as container:
            n = sum(1 for _ in container.decode(video=0))
        assert abs(n - round((hit["span_end_s"] - hit["span_start_s"]) * 25)) <= 1
        assert (out / f"{stem}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    eafs = list(out.glob("*.eaf"))
    assert eafs
    for eaf in eafs:
        root = ET.parse(eaf).getroot()
        assert root.tag == "ANNOTATION_DOCUMENT"
        slots = [int(s.get("TIME_VALUE")) for s in root.iter("TIME_SLOT")]
        assert slots and min(slots) >= 0
    assert (out / "results.csv").read_text().startswith("rank,score,video_path")
    assert all(p.read_text().startswith("WEBVTT") for p in out.glob("*.vtt"))


def _silent_wav(path: Path, seconds: float) -> Path:
    return write_audio(path, np.zeros(int(16000 * seconds), np.float32))


@pytest.mark.parametrize(
    "case, message",
    [
        ("empty", "the query is empty"),
        ("long", "the limit is 64"),
        ("non_latin", "no word of the query is known"),
        ("silent", "audio is silent"),
        ("short", "audio is too short"),
        ("not_audio", "sound.txt"),
        ("too_long", "audio is too long"),
        ("no_transcript", "audio queries need the words spoken"),
        ("unknown_clip", "no clip with id 12345"),
        ("missing_db", "no index at"),
        ("two_queries", "exactly one of"),
    ],
)
def test_bad_input_one_line_exit_2(case, message, search_index, model_args, tmp_path):
    _, db = search_index
    args = {
        "empty": ["   "],
        "long": [" ".join(["word"] * 2000)],
        "non_latin": ["Привет мир"],
        "silent": ["--audio", str(_silent_wav(tmp_path / "silent.wav", 2)), "--transcript", "hello"],
        "short": ["--audio", str(write_audio(tmp_path / "short.wav", tone(0.1))), "--transcript", "hi"],
        "not_audio": ["--audio", str(_text_file(tmp_path / "sound.txt")), "--transcript", "hi"],
        "too_long": ["--audio", str(write_audio(tmp_path / "long.wav", tone(31))), "--transcript", "hi"],
        "no_transcript": ["--audio", str(write_audio(tmp_path / "t.wav", tone(1)))],
        "unknown_clip": ["--like", "12345"],
        "missing_db": ["hello"],
        "two_queries": ["hello", "--like", "1"],
    }[case]
    target = tmp_path / "nowhere" if case == "missing_db" else db
    result = run("search", *args, "--db", str(target), *model_args)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def _text_file(path: Path) -> Path:
    path.write_text("this is not audio")
    return path


def test_index_built_with_other_checkpoints_is_refused(search_index, seeded_checkpoints, tmp_path):
    import torch

    _, db = search_index
    other = tmp_path / "other_jegal.pth"
    data = torch.load(seeded_checkpoints["jegal"], weights_only=True)
    data["state_dict"]["module.proj_op_rgb.bias"] = data["state_dict"]["module.proj_op_rgb.bias"] + 1
    torch.save(data, other)
    result = run("search", "hello", "--db", str(db), "--gestsync", str(seeded_checkpoints["gestsync"]),
                 "--jegal", str(other), "--text-model", str(seeded_checkpoints["text"]))
    assert result.exit_code == 2 and "fingerprint" in result.output


def test_info(search_index):
    _, db = search_index
    result = run("info", "--db", str(db), "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["clips"] > 3


def test_filters_apply_before_ranking(search_index, embedder, model_args):
    _, db = search_index
    with GestureStore.open(db, read_only=True) as store:
        clips = list(store.iter_clips())
        searcher = Searcher(store, embedder)
        query = searcher.text_query("the hat, mixing numbers")
        avi = [c for c in clips if c.path.endswith(".avi")]
        assert avi and len(avi) < len(clips)
        hits = searcher.search(query, k=len(avi), where=ClipFilter(path="*.avi")).result.hits
        assert len(hits) == len(avi) and all(h.video_path.endswith(".avi") for h in hits)  # k hits, all matching
        none = searcher.search(query, k=5, where=ClipFilter(path="*.nothing")).result
        assert none.hits == [] and none.notes == ["no indexed clip passes the filter"]
        long_ones = searcher.search(query, k=50, where=ClipFilter(min_duration_s=3.5)).result.hits
        assert long_ones and all(h.clip_end_s - h.clip_start_s >= 3.5 for h in long_ones)
    result = run("search", "numbers", "--db", str(db), "--path", "*.avi", "-k", "2", "--json", *model_args)
    assert result.exit_code == 0, result.output
    assert [h["video_path"].endswith(".avi") for h in json.loads(result.stdout)["hits"]] == [True, True]
    result = run("search", "numbers", "--db", str(db), "--indexed-before", "2000-01-01", *model_args)
    assert result.exit_code == 0 and "no hits" in result.stdout and "passes the filter" in result.output
