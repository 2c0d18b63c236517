"""Frame vectors in frame files (format 4): one file per commit, read back exactly, left by a killed
write or a replaced video until no reader can need them, and a missing or short file is damage that
`repair` turns into lost videos to index again."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from cli.main import app
from gestsearch.errors import IndexDamaged
from gestsearch.store import GestureStore, repair_index
from gestsearch.store.framefiles import (
    FRAMES_DIR,
    OPEN_FILES_MAX,
    OPEN_FILES_MIN,
    SUFFIX,
    FrameFiles,
    file_name,
    open_files_allowed,
)
from gestsearch.store.meta import FORMAT, FRAME_FILES_FORMAT, META_NAME
from gestsearch.store.records import PackedFrames
from gestsearch.store.repair import LOST_REASON
from gestsearch.store.schema import FRAME_OFFSET, pack_frames
from gestsearch.testing.store import candidate_summaries, synthetic_video

FP = "fp"
runner = CliRunner()


def _frame_files(d) -> set[str]:
    return {p.name for p in (d / FRAMES_DIR).iterdir()}


def _indexed(d, paths=("/talks/a.mp4", "/talks/b.mp4"), frames="int8"):
    records = [synthetic_video(p, FP, n_clips=3, n_frames=9) for p in paths]
    with GestureStore.open(d, fingerprint=FP, create=True, frames=frames) as store:
        for video, clips in records:
            store.add_video(video, clips)
    return records


@pytest.mark.parametrize("frames", ["int8", "float16"])
def test_each_commit_writes_one_file_and_reads_give_back_what_the_table_would(tmp_path, frames):
    d = tmp_path / "db"
    records = _indexed(d, frames=frames)
    assert json.loads((d / META_NAME).read_text())["format"] == FORMAT >= FRAME_FILES_FORMAT
    assert len(_frame_files(d)) == len(records) and all(n.endswith(SUFFIX) for n in _frame_files(d))
    with GestureStore.open(d, read_only=True) as store:
        assert FRAME_OFFSET in store._clips.schema.names and "frames" not in store._clips.schema.names
        clips = [c for _, cs in records for c in cs]
        expected = pack_frames(clips, frames)
        by_id = {c.clip_id: i for i, c in enumerate(clips)}
        summaries, packed = candidate_summaries(store, [c.clip_id for c in clips])
        for i, summary in enumerate(summaries):  # the codes and scales exactly as they were written
            j = by_id[summary.clip_id]
            np.testing.assert_array_equal(packed.clip(i), expected.clip(j))
        for record in store.clips_by_ids([c.clip_id for c in clips]):
            np.testing.assert_array_equal(record.frames, expected.clip(by_id[record.clip_id]))
        assert sum(1 for _ in store.iter_clips(batch=2)) == len(clips)


def test_a_file_of_a_killed_write_and_of_a_replaced_video_go_once_no_reader_needs_them(tmp_path):
    d = tmp_path / "db"
    _indexed(d)
    first = _frame_files(d)
    # a write killed after its frame file and before its rows: a file no row names, and a temporary file
    (d / FRAMES_DIR / file_name(12345)).write_bytes(b"\0" * 100)
    (d / FRAMES_DIR / f".{file_name(678)}.abcd.tmp{SUFFIX}").write_bytes(b"\0" * 10)
    with GestureStore.open(d, fingerprint=FP) as store, GestureStore.open(d, read_only=True) as reader:
        with reader.reading():  # a reader inside a read, pinned before a's new version: it reads a's old file
            old_ids = reader.all_clip_ids()
            video, clips = synthetic_video("/talks/a.mp4", FP, n_clips=2, n_frames=9, version=1)  # new content
            store.add_video(video, clips)
            store.optimize()
            assert len(_frame_files(d)) == len(first) + 3
            summaries, packed = candidate_summaries(reader, old_ids)
            assert len(summaries) == 6 and len(packed.lengths) == 6
        store.optimize()  # no reader inside a read now
        after = _frame_files(d)
    assert len(after) == 2 and len(after & first) == 1  # b's file, and a's new one
    with GestureStore.open(d, read_only=True) as store:
        summaries, _ = candidate_summaries(store, store.all_clip_ids())
        assert len(summaries) == 5


def test_a_missing_or_short_frame_file_is_damage_that_repair_turns_into_lost_videos(tmp_path):
    d = tmp_path / "db"
    records = _indexed(d, paths=("/talks/a.mp4", "/talks/b.mp4", "/talks/c.mp4"))
    with GestureStore.open(d, read_only=True) as store:
        write_ids = {c.path: w for c, w in zip(store.clips_by_ids(store.all_clip_ids()), _row_write_ids(store))}
    (d / FRAMES_DIR / file_name(write_ids["/talks/a.mp4"])).unlink()
    short = d / FRAMES_DIR / file_name(write_ids["/talks/b.mp4"])
    short.write_bytes(short.read_bytes()[:-10])

    with GestureStore.open(d, read_only=True) as store:
        with pytest.raises(IndexDamaged, match=r"frame file .* is missing; run `gestsearch repair"):
            store.clips_by_ids([records[0][1][0].clip_id])
        with pytest.raises(IndexDamaged, match="shorter than its clips need"):
            candidate_summaries(store, [c.clip_id for c in records[1][1]])

    report = repair_index(d)

    assert report.repaired and "2 frame file(s)" in report.frames_error
    assert report.lost_videos == ["/talks/a.mp4", "/talks/b.mp4"]
    with GestureStore.open(d, fingerprint=FP) as store:
        assert {v.path: v.reason for v in store.videos() if v.status == "failed"} == dict.fromkeys(
            ("/talks/a.mp4", "/talks/b.mp4"), LOST_REASON)
        assert store.clip_count() == 3
        summaries, _ = candidate_summaries(store, store.all_clip_ids())
        assert {s.path for s in summaries} == {"/talks/c.mp4"}
        store.add_video(*records[0])  # what `gestsearch index` does for a lost video
        assert store.clip_count() == 6
    assert repair_index(d).repaired is False


def test_cli_repair_names_the_frame_files(tmp_path):
    d = tmp_path / "db"
    _indexed(d)
    for name in list(_frame_files(d))[:1]:
        (d / FRAMES_DIR / name).unlink()
    result = runner.invoke(app, ["repair", "--db", str(d)])
    assert result.exit_code == 0, result.output
    assert "frame files: 1 frame file(s) missing or short" in result.output
    assert "1 video lost their clips" in result.output


def test_reads_of_many_files_keep_a_bounded_number_open(tmp_path):
    files = FrameFiles(tmp_path, "int8")
    files.max_open = 2
    rng = np.random.default_rng(0)
    written = {}
    for write_id in range(1, 6):
        codes = rng.integers(-127, 128, (4, 512)).astype(np.int8)
        packed = PackedFrames(codes, rng.random(4).astype(np.float32), np.array([1, 3]))
        written[write_id] = (packed, files.write(write_id, packed))
    order = [5, 1, 3, 1, 2, 4]
    read = files.read(np.array(order), np.array([written[w][1][1] for w in order]), np.full(len(order), 3))
    for i, w in enumerate(order):
        np.testing.assert_array_equal(read.clip(i), written[w][0].clip(1))
    assert len(files._open) == 2
    files.close()
    assert not files._open


def _row_write_ids(store: GestureStore) -> list[int]:
    """The write_id of each visible clip row, in the order of ``clips_by_ids(all_clip_ids())``."""
    snapshot = store._snapshots.take()
    rows = snapshot.rows_by_ids(store.all_clip_ids(), ["id", "write_id"])
    by_id = dict(zip(rows.column("id").to_pylist(), rows.column("write_id").to_pylist()))
    return [by_id[i] for i in store.all_clip_ids().tolist()]


@pytest.mark.parametrize(("soft", "kept"), [(1024, 256), (20_000, OPEN_FILES_MAX), (40, OPEN_FILES_MIN)])
def test_a_reader_keeps_open_a_quarter_of_the_descriptor_limit(monkeypatch, soft, kept):
    import resource

    monkeypatch.setattr(resource, "getrlimit", lambda which: (soft, soft))
    assert open_files_allowed() == kept
