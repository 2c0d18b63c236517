"""Speaking scores: the score itself on made-up vectors, then end to end on two-person synthetic
clips (``gestsearch synth --people 2`` → ``gestsearch index`` → ``gestsearch search``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.constants import DIM, SPEAKING_THRESHOLD
from gestsearch.ingest import speaking_scores
from gestsearch.store import GestureStore
from gestsearch.synth import MANIFEST_NAME, generate_corpus
from gestsearch.synth.speech import espeak_available
from gestsearch.synth.truth import speaker_during, speaking_turns, track_people
from gestsearch.testing.store import synthetic_video


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def _two_people(n_clips: int = 2):
    """Clips of two tracks over the same spans; the speech content of each is near track 0's gestures."""
    _, clips = synthetic_video("/archive/panel.mp4", "fp", n_clips=n_clips)
    rng = np.random.default_rng(0)
    speaker, listener = [], []
    for clip in clips:
        content = _unit(rng.standard_normal(DIM))
        near = _unit(content + 0.8 * rng.standard_normal((len(clip.frames), DIM)) / np.sqrt(DIM))
        far = _unit(rng.standard_normal((len(clip.frames), DIM)))
        speaker.append(replace(clip, content=content, frames=near))
        listener.append(replace(clip, track=1, content=content, frames=far))
    return speaker, listener


def test_the_speaking_track_scores_high_and_the_other_low():
    speaker, listener = _two_people()
    scores = speaking_scores(speaker + listener)
    assert all(s > 0.99 for s in scores[: len(speaker)])
    assert all(s < 0.01 for s in scores[len(speaker) :])
    np.testing.assert_allclose(np.add(scores[: len(speaker)], scores[len(speaker) :]), 1.0, atol=1e-6)


def test_scores_are_none_with_nobody_to_compare_with():
    speaker, listener = _two_people()
    assert speaking_scores(speaker) == [None] * len(speaker)  # one person in the video
    mute = replace(speaker[0], content=None)
    assert speaking_scores([mute, *listener])[0] is None  # no speech content
    elsewhere = replace(listener[1], start_frame=10_000, end_frame=10_000 + len(listener[1].frames) - 1)
    assert speaking_scores([speaker[0], elsewhere])[0] is None  # nobody else in view during the clip


runner = CliRunner()


@pytest.fixture(scope="module")
def two_person_index(tmp_path_factory):
    """Two tiny two-person clips (seed 100: both people tracked, a turn each in the first one),
    indexed with the bundled model."""
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    root = tmp_path_factory.mktemp("two_people")
    generate_corpus(root / "media", 2, seed=100, workers=1, people=2)
    result = runner.invoke(app, ["index", str(root / "media"), "--db", str(root / "db"), "--json"])
    assert result.exit_code == 0, result.output
    return root


@pytest.mark.slow
def test_the_index_marks_the_speaker(two_person_index):
    turns = speaking_turns(two_person_index / "media" / MANIFEST_NAME)
    checked = 0
    with GestureStore.open(two_person_index / "db", read_only=True) as store:
        for name, said in turns.items():
            video = (two_person_index / "media" / name).absolute()
            people = track_people(video)
            for clip in store.clips_of_video(video):
                speaker = speaker_during(said, clip.words[0][1], clip.words[-1][2])
                assert (clip.speaking >= SPEAKING_THRESHOLD) == (people[clip.track] == speaker), (name, clip.track)
                checked += 1
    assert checked >= 5


@pytest.mark.slow
def test_speakers_only_removes_the_listeners_hits(two_person_index):
    def hits(*flags: str) -> list[dict]:
        result = runner.invoke(app, ["search", "stop", "--db", str(two_person_index / "db"), "-k", "20", "--json", *flags])
        assert result.exit_code == 0, result.output
        return json.loads(result.stdout)["hits"]

    every, speakers = hits(), hits("--speakers-only")
    assert all(h["speaking"] is not None for h in every)
    assert any(h["speaking"] < SPEAKING_THRESHOLD for h in every)  # the listeners are found without the flag
    assert speakers and all(h["speaking"] >= SPEAKING_THRESHOLD for h in speakers)
    assert {h["clip_id"] for h in speakers} == {h["clip_id"] for h in every if h["speaking"] >= SPEAKING_THRESHOLD}


def test_two_person_manifest_says_who_speaks_when(tmp_path):
    if not espeak_available():
        pytest.skip("espeak-ng is not installed (apt-get install espeak-ng)")
    generate_corpus(tmp_path, 1, seed=5, workers=1, people=2)
    header = (tmp_path / MANIFEST_NAME).read_text().splitlines()[0].split(",")
    assert header[-2:] == ["people", "speakers"]
    (turns,) = speaking_turns(tmp_path / MANIFEST_NAME).values()
    assert turns and all(person in (0, 1) and start <= end for person, start, end in turns)
    assert [p for p, _, _ in turns] in ([0], [1], [0, 1], [1, 0])
    assert sorted(track_people(tmp_path / "synth5p2_00000.mp4").values()) == [0, 1]
    assert Path(tmp_path / "synth5p2_00000.txt").is_file()


def test_hits_carry_the_score_in_json_and_csv(tmp_path):
    from gestsearch.export.csv_export import write_csv
    from gestsearch.results import Hit, SearchResult

    hit = Hit(1, "7", "/a.mp4", 1, 0.0, 2.0, 0.5, 1.5, 0.8, 0.7, 0.9, speaking=0.1234567)
    doc = SearchResult("stop", "text", "m", [hit, replace(hit, rank=2, speaking=None)]).to_dict()
    assert doc["schema"] == "gestsearch.search/1"
    assert [h["speaking"] for h in doc["hits"]] == [0.123457, None]
    assert SearchResult.from_dict(doc).hits[0].speaking == pytest.approx(0.123457)
    del doc["hits"][0]["speaking"]  # a document written before the score
    assert SearchResult.from_dict(doc).hits[0].speaking is None
    rows = write_csv(SearchResult.from_dict(json.loads(json.dumps(SearchResult("q", "text", "m", [hit]).to_dict()))),
                     tmp_path / "r.csv").read_text().splitlines()
    assert rows[0].endswith(",speaking") and rows[1].endswith(",0.123457")
