"""`generate_corpus`: a tiny corpus decodes through the media pipeline with the timings it claims."""

from __future__ import annotations

import ast
import csv
from pathlib import Path

import av
import numpy as np
import pytest

from gestsearch.errors import GestsearchError, MediaError
from gestsearch.media import force_align, iter_frames, load_audio, load_transcript, probe
from gestsearch.synth import LEXICON, MANIFEST_COLUMNS, generate_corpus, speech
from gestsearch.synth.corpus import clip_name, sample_clip
from gestsearch.synth.encode import write_mp4
from gestsearch.synth.speech import espeak_available

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not espeak_available(), reason="libespeak-ng is not installed (apt-get install espeak-ng)"),
]

SEED = 3
N_CLIPS = 6


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("corpus")
    calls: list[tuple[int, int]] = []
    summary = generate_corpus(out, N_CLIPS, SEED, progress=lambda e: calls.append((e.done, e.total)), workers=2)
    with summary.manifest.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return summary, rows, calls


def _literal(row: dict, column: str) -> list:
    return ast.literal_eval(row[column])


def test_summary_manifest_and_progress(corpus):
    summary, rows, calls = corpus
    assert calls == [(i, N_CLIPS) for i in range(1, N_CLIPS + 1)]
    assert summary.n_clips == N_CLIPS == len(rows)
    assert summary.seconds == pytest.approx(sum(int(r["num_frames"]) for r in rows) / 25)
    assert sum(summary.gestures.values()) == sum(len(_literal(r, "gestures")) for r in rows)
    with summary.manifest.open() as f:
        assert f.readline().strip() == ",".join(MANIFEST_COLUMNS)
    assert [r["filename"] for r in rows] == [clip_name(SEED, i) for i in range(N_CLIPS)]


def test_manifest_rows_follow_the_avs_layout(corpus):
    summary, rows, _ = corpus
    for row in rows:
        boundaries = _literal(row, "word_boundaries")
        words = [b[0] for b in boundaries]
        assert " ".join(words) == row["phrase"] and 6 <= len(words) <= 12
        assert row["video_id"] == row["filename"] and float(row["start_time"]) == 0
        assert float(row["end_time"]) == pytest.approx(int(row["num_frames"]) / 25)
        assert all(isinstance(s, int) and s <= e < int(row["num_frames"]) for _, s, e in boundaries)
        assert [s for _, s, _ in boundaries] == sorted(s for _, s, _ in boundaries)
        lexical = [b for b in boundaries if b[0] in LEXICON]
        assert 2 <= len(lexical) <= 3 and lexical[0][0] == row["target_word"]
        assert _literal(row, "target_word_boundary") == lexical[0]
        gestures = _literal(row, "gestures")
        assert [g[0] for g in gestures] == [b[0] for b in lexical]
        assert [row["gesture_word"], int(row["gesture_start_frame"]), int(row["gesture_end_frame"])] == gestures[0]
        for _, start, end in gestures:
            assert 10 <= end - start <= 25  # 0.4-0.8 s stroke, speed-scaled
            assert start > 0 and end < int(row["num_frames"])
        first_word, start, _ = gestures[0]
        assert lexical[0][1] - 8 <= start <= lexical[0][1]  # the stroke leads its word by 0-300 ms
        assert (summary.out_dir / f"{row['filename']}.mp4").is_file()


def test_clips_decode_at_25_fps_with_16_khz_audio(corpus):
    summary, rows, _ = corpus
    for row in rows:
        path = summary.out_dir / f"{row['filename']}.mp4"
        n_frames = int(row["num_frames"])
        info = probe(path)
        assert (info.n_frames, info.width, info.height, info.source_fps) == (n_frames, 480, 270, 25)
        assert sum(len(chunk) for chunk in iter_frames(path)) == n_frames
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            assert (stream.rate, stream.layout.nb_channels, stream.codec_context.name) == (16000, 1, "aac")
            assert container.streams.video[0].codec_context.name == "h264"
        assert len(load_audio(path)) == n_frames * 640


def test_transcripts_read_back_as_the_manifest_says(corpus):
    summary, rows, _ = corpus
    for row in rows:
        path = summary.out_dir / f"{row['filename']}.mp4"
        lines = path.with_suffix(".txt").read_text().splitlines()
        assert lines[:4] == [f"Text: {row['phrase']}", "Lang: en", "", "WORD, START, END, SCORE"]
        transcript = load_transcript(path)
        assert transcript.source == "sidecar:txt"
        assert transcript.boundaries() == _literal(row, "word_boundaries")


def test_word_timings_agree_with_the_audio(corpus):
    """Speech starts where the first word does, every word span is voiced, and pocketsphinx
    forced alignment of the decoded audio puts the words where the transcript says."""
    summary, rows, _ = corpus
    offsets = []
    for row in rows:
        path = summary.out_dir / f"{row['filename']}.mp4"
        audio = load_audio(path)
        words = load_transcript(path, audio).words
        window = 160  # 10 ms
        rms = np.sqrt(np.mean(audio[: len(audio) // window * window].reshape(-1, window) ** 2, axis=1))
        voiced = rms > 0.05 * rms.max()
        onset = np.flatnonzero(voiced)[0] / 100
        assert words[0].start_s - 0.02 <= onset <= words[0].start_s + 0.1
        for w in words:
            assert voiced[int(w.start_s * 100) : int(w.end_s * 100)].any(), w
        aligned = force_align(audio, row["phrase"])
        if aligned.source == "aligned:pocketsphinx":
            offsets += [a.start_s - w.start_s for a, w in zip(aligned.words, words)]
    offsets = np.abs(offsets)
    assert len(offsets) >= 3 * N_CLIPS  # most clips aligned
    assert np.median(offsets) < 0.04 and np.mean(offsets < 0.1) >= 0.9


def test_gestures_are_visible_in_their_spans(corpus):
    """Decoded pixels change more during each gesture stroke than while the speaker idles."""
    summary, rows, _ = corpus
    for row in rows:
        frames = np.concatenate(list(iter_frames(summary.out_dir / f"{row['filename']}.mp4"))).astype(np.float32)
        change = np.abs(np.diff(frames, axis=0)).mean(axis=(1, 2, 3))  # change[k]: frame k -> k + 1
        busy = np.zeros(len(change), dtype=bool)
        for _, start, end in _literal(row, "gestures"):
            busy[max(0, start - 8) : end + 12] = True
        idle = np.median(change[~busy]) if (~busy).sum() >= 5 else np.percentile(change, 10)
        for word, start, end in _literal(row, "gestures"):
            assert change[start:end].mean() > 2 * idle, (row["filename"], word)


def test_same_seed_gives_the_same_corpus(corpus, tmp_path: Path):
    summary, rows, _ = corpus
    again = generate_corpus(tmp_path, N_CLIPS, SEED, workers=1)
    assert again.manifest.read_bytes() == summary.manifest.read_bytes()
    for row in rows:
        for suffix in (".txt", ".mp4"):
            name = f"{row['filename']}{suffix}"
            assert (tmp_path / name).read_bytes() == (summary.out_dir / name).read_bytes(), name


def test_other_seeds_give_disjoint_clips(corpus, tmp_path: Path):
    summary, _, _ = corpus
    other = generate_corpus(tmp_path, 2, SEED + 1, workers=1)
    clips = {p.name for p in summary.out_dir.iterdir()} - {"manifest.csv"}
    assert not {p.name for p in other.out_dir.iterdir()} & clips
    specs = [sample_clip(seed, i) for seed in (SEED, SEED + 1) for i in range(200)]
    assert len({s.name for s in specs}) == 400
    assert len({(s.words, s.appearance) for s in specs}) == 400
    assert len({s.words for s in specs}) > 390  # phrases themselves almost never repeat


@pytest.mark.parametrize(("n_clips", "seed"), [(0, 1), (-3, 1), (2, -1)])
def test_bad_arguments_are_errors(tmp_path: Path, n_clips: int, seed: int):
    with pytest.raises(GestsearchError):
        generate_corpus(tmp_path, n_clips, seed)


def test_missing_espeak_is_reported_before_any_work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(speech.ctypes.util, "find_library", lambda name: "/nonexistent/libespeak-ng.so.1")
    with pytest.raises(GestsearchError, match="apt-get install espeak-ng"):
        generate_corpus(tmp_path / "corpus", 2, 0)
    assert not (tmp_path / "corpus").exists()


def test_unwritable_output_is_an_error(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(GestsearchError, match="cannot create"):
        generate_corpus(blocker / "corpus", 1, 0)


def test_encoding_errors_name_the_file(tmp_path: Path):
    target = tmp_path / "missing" / "clip.mp4"
    with pytest.raises(MediaError, match="missing/clip.mp4"):
        write_mp4(target, np.zeros((2, 270, 480, 3), dtype=np.uint8), np.zeros(1280, dtype=np.float32))
