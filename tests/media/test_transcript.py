"""Transcripts: WhisperX sidecars, subtitles, manifests, forced alignment, malformed input."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest

from gestsearch.media import (
    TranscriptError,
    force_align,
    load_transcript,
    normalise_word,
    transcript_from_boundaries,
)
from gestsearch.testing.media import pattern_frames, write_video

SAMPLE1_WORDS = ["amount", "of", "numbers", "inside", "the", "hat", "mixing", "the"]


@pytest.fixture()
def sample1(tmp_path, shared_data):
    """A copy of jegal sample1.avi + .wav (no transcript) in tmp_path, to add sidecars to."""
    for suffix in (".avi", ".wav"):
        shutil.copy(shared_data / "jegal_samples" / f"sample1{suffix}", tmp_path / f"sample1{suffix}")
    return tmp_path / "sample1.avi"


def buzz(seconds: float = 2.0) -> np.ndarray:
    """A pulsed 120 Hz square wave: not speech, but something for the aligner to chew on."""
    t = np.arange(round(seconds * 16000)) / 16000
    return (0.3 * np.sign(np.sin(2 * np.pi * 120 * t)) * (np.sin(2 * np.pi * 3 * t) > 0)).astype(np.float32)


def whisperx_rows(path) -> list[tuple[str, float, float]]:
    lines = path.read_text().splitlines()[4:]
    return [(w, float(s), float(e)) for w, s, e, _ in (line.rsplit(", ", 3) for line in lines)]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Hat,", "hat"), ("Don't", "dont"), ("He's,", "hes"), ("\u2018quoted\u2019", "quoted"), ("it\u2019s", "its"),
     ("2025!", "2025"), ("Caf\u00e9", "caf\u00e9"), ("\u2014", ""), ("$5.00", "500")],
)
def test_normalise_word(raw, expected):
    assert normalise_word(raw) == expected


def test_jegal_sample_sidecar_gives_eight_timed_words(shared_data):
    transcript = load_transcript(shared_data / "jegal_samples" / "sample1.avi")
    assert transcript.source == "sidecar:txt"
    assert [w.word for w in transcript.words] == SAMPLE1_WORDS
    assert transcript.words[5].display == "hat,"
    assert transcript.text == "amount of numbers inside the hat, mixing the"
    # the official load_text: round(seconds * 25)
    assert transcript.boundaries()[0] == ["amount", 1, 6]
    assert transcript.boundaries()[-1] == ["the", 52, 54]


def test_whisperx_json_interpolates_untimed_words(sample1):
    segments = [{"start": 0.0, "end": 2.2, "text": "amount of 12 numbers", "words": [
        {"word": "amount", "start": 0.03, "end": 0.25}, {"word": "of", "start": 0.27, "end": 0.35},
        {"word": "12"}, {"word": "numbers", "start": 0.95, "end": 1.3},
    ]}]
    sample1.with_suffix(".json").write_text(json.dumps({"segments": segments}))
    transcript = load_transcript(sample1)
    assert transcript.source == "sidecar:json"
    twelve = transcript.words[2]
    assert (twelve.word, twelve.start_s, twelve.end_s) == ("12", 0.35, 0.95)


def test_srt_cues_are_force_aligned_to_the_audio(sample1, shared_data):
    sample1.with_suffix(".srt").write_text(
        "1\n00:00:00,000 --> 00:00:01,400\nAmount of numbers\ninside the hat,\n\n"
        "2\n00:00:01,400 --> 00:00:02,240\n<i>mixing</i> the\n"
    )
    transcript = load_transcript(sample1)
    assert transcript.source == "sidecar:srt+aligned:pocketsphinx"
    assert [w.word for w in transcript.words] == SAMPLE1_WORDS
    reference = whisperx_rows(shared_data / "jegal_samples" / "sample1.txt")
    for word, (_, start, _) in zip(transcript.words, reference):
        assert word.start_s == pytest.approx(start, abs=0.1)


def test_vtt_without_audio_splits_cues_by_length(tmp_path):
    video = write_video(tmp_path / "talk.mp4", pattern_frames(50))
    video.with_suffix(".vtt").write_text(
        "WEBVTT\n\nNOTE made by hand\n\n00:00.500 --> 00:01.500 align:start\nhello <b>big</b> world &amp; co\n"
    )
    transcript = load_transcript(video)
    assert transcript.source == "sidecar:vtt"
    assert [w.word for w in transcript.words] == ["hello", "big", "world", "co"]
    assert transcript.words[0].start_s == 0.5 and transcript.words[-1].end_s == pytest.approx(1.5)
    hello, big = transcript.words[:2]
    assert hello.end_s - hello.start_s > big.end_s - big.start_s  # split by length


def test_plain_text_is_aligned_including_words_missing_from_the_dictionary(tmp_path, shared_data):
    for suffix in (".avi", ".wav"):
        shutil.copy(shared_data / "jegal_samples" / f"sample2{suffix}", tmp_path / f"sample2{suffix}")
    (tmp_path / "sample2.txt").write_text("Merging the two diseases, arthritis deformans and\n")
    transcript = load_transcript(tmp_path / "sample2.avi")
    assert transcript.source == "sidecar:txt+aligned:pocketsphinx"
    reference = whisperx_rows(shared_data / "jegal_samples" / "sample2.txt")
    assert [w.word for w in transcript.words] == [normalise_word(w) for w, _, _ in reference]
    for word, (_, start, end) in zip(transcript.words, reference):  # "deformans" is not in CMUdict
        assert word.start_s == pytest.approx(start, abs=0.15)
        assert word.end_s == pytest.approx(end, abs=0.15)


def test_force_align_never_fails_on_odd_words():
    transcript = force_align(buzz(), "in 2025 the zyxqu café met -- Brzęczyszczykiewicz")
    assert [w.word for w in transcript.words] == ["in", "2025", "the", "zyxqu", "café", "met", "brzęczyszczykiewicz"]
    starts = [w.start_s for w in transcript.words]
    assert starts == sorted(starts) and all(w.end_s >= w.start_s for w in transcript.words)


def test_force_align_falls_back_to_proportional_split():
    transcript = force_align(np.zeros(800, dtype=np.float32), "far too many words for fifty milliseconds")
    assert transcript.source == "aligned:proportional"
    assert transcript.words[0].start_s == 0.0 and transcript.words[-1].end_s == pytest.approx(0.05)


@pytest.mark.parametrize(("audio", "text"), [(np.zeros(16000, np.float32), " ... "), (np.zeros(0, np.float32), "hi")])
def test_force_align_rejects_unusable_input(audio, text):
    with pytest.raises(TranscriptError):
        force_align(audio, text)


def test_manifest_boundaries(shared_data):
    with open(shared_data / "avs" / "avs_ret.csv", newline="") as f:
        row = next(csv.DictReader(f))
    transcript = transcript_from_boundaries(row["phrase"], row["word_boundaries"])
    assert transcript.source == "manifest"
    assert transcript.boundaries() == [["for", 0, 3], ["your", 3, 7], ["own", 9, 12], ["education", 16, 32],
                                       ["the", 32, 64], ["other", 64, 67], ["thing", 68, 71]]


@pytest.mark.parametrize("boundaries", ["[['a', 0, 3]", "[['a', 0]]", "[['a', 5, 2]]", "__import__('os')"])
def test_malformed_manifest_boundaries(boundaries):
    with pytest.raises(TranscriptError):
        transcript_from_boundaries("a", boundaries)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("clip.txt", "Text: hi there\nLang: en\n\nWORD, START, END, SCORE\nhi, zero, 0.2, 0.9\n", "line 5"),
        ("clip.txt", "Text: hi there\nLang: en\n\nWORD, START, END, SCORE\nhi, 0.5, 0.2, 0.9\n", "line 5"),
        ("clip.txt", "Text: hi\nLang: en\n\nhi, 0.1, 0.2, 0.9\n", "header"),
        ("clip.json", "{not json", "not valid JSON"),
        ("clip.json", '{"segments": [{"start": 0, "end": 1, "words": [{"text": "hi"}]}]}', "segment 0, word 0"),
        ("clip.srt", "1\n00:00:01,000 --> 00:0x:02,000\nhi\n", "line 2"),
        ("clip.vtt", "WEBVTT\n\nno cues here\n", "no subtitle cues"),
        ("clip.txt", b"\xff\xfe\x00broken", "not UTF-8"),
    ],
)
def test_malformed_or_unreadable_sidecars_raise_naming_the_file(tmp_path, name, content, message):
    video = write_video(tmp_path / "clip.mp4", pattern_frames(25))
    sidecar = tmp_path / name
    if isinstance(content, bytes):
        sidecar.write_bytes(content)
    else:
        sidecar.write_text(content)
    with pytest.raises(TranscriptError, match=message) as error:
        load_transcript(video)
    assert str(sidecar) in str(error.value)


def test_plain_text_without_audio_cannot_be_aligned(tmp_path):
    video = write_video(tmp_path / "mute.mp4", pattern_frames(25))
    video.with_suffix(".txt").write_text("some words")
    with pytest.raises(TranscriptError, match="no audio"):
        load_transcript(video)


def test_no_transcript_without_asr_model_is_none(tmp_path):
    assert load_transcript(write_video(tmp_path / "bare.mp4", pattern_frames(25))) is None


def test_missing_asr_model_is_a_transcript_error(sample1, tmp_path):
    with pytest.raises(TranscriptError, match="speech recognition"):
        load_transcript(sample1, asr_model=str(tmp_path / "no-such-whisper"))

