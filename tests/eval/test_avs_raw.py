"""`gestsearch eval` on raw downloads (ROOT/ID_START-END.mp4, ROOT/ID.mp4) of the shared multi-speaker samples."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

import gestsearch.media
from cli.main import app
from gestsearch.embedding import Embedder
from gestsearch.eval.avs import evaluate_retrieval, segment_tracks
from gestsearch.media import iter_frames, load_audio
from gestsearch.media.manifest import ClipMedia, locate_media, read_manifest
from gestsearch.store import GestureStore
from gestsearch.testing.media import write_video

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`

RET_HEADER = ["video_id", "start_time", "end_time", "filename", "phrase", "word_boundaries"]
SEGMENT = "RAWSEGMENT1_20.800000-24.000000"
FULL = "RAWFULLVID2"


def cut(src: Path, start: int, end: int, dst: Path) -> Path:
    """Frames ``[start, end)`` of ``src`` with their sound, 640 px wide: a downloaded segment."""
    frames = (frame for chunk in iter_frames(src, start_frame=start, end_frame=end, max_side=640) for frame in chunk)
    return write_video(dst, frames, audio=load_audio(src)[start * 640 : end * 640])


@pytest.fixture(scope="module")
def raw_avs(shared_data, tmp_path_factory):
    """A downloaded segment (3.2 s of asd_sample_2 across its shot change: one person, then
    another), a full-length download (asd_sample_1, two people side by side, linked) and a
    manifest asking for tracks 0, 1 and 2 of the segment, track 0 of 2.0-4.0 s of the full
    video, and a clip without media."""
    samples = shared_data / "gestsync_samples"
    root = tmp_path_factory.mktemp("avs_raw")
    cut(samples / "asd_sample_2.mp4", 20, 100, root / f"{SEGMENT}.mp4")
    (root / f"{FULL}.mp4").symlink_to(samples / "asd_sample_1.mp4")
    words = [("talk", "show"), ("second", "guest"), ("third", "person"), ("side", "by"), ("long", "gone")]
    rows = [
        *[["RAWSEGMENT1", "20.8", "24.0", f"{SEGMENT}/{n:05d}"] for n in range(3)],
        [FULL, "2.0", "4.0", f"{FULL}_2.000000-4.000000/00000"],
        ["GONEGONEGO3", "1.0", "4.0", "GONEGONEGO3_1.000000-4.000000/00000"],
    ]
    path = root / "avs_ret.csv"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(RET_HEADER)
        for row, (a, b) in zip(rows, words):
            writer.writerow([*row, f"{a} {b}", str([[a, 0, 10], [b, 12, 24]])])
    return root, path


def test_raw_rows_resolve_to_the_downloaded_videos(raw_avs):
    root, path = raw_avs
    media = [locate_media(root, row) for row in read_manifest(path)]
    assert media[:4] == [
        ClipMedia(root / f"{SEGMENT}.mp4", track=0),
        ClipMedia(root / f"{SEGMENT}.mp4", track=1),
        ClipMedia(root / f"{SEGMENT}.mp4", track=2),
        ClipMedia(root / f"{FULL}.mp4", track=0, cut_s=(2.0, 4.0)),
    ]
    assert media[4] is None


def test_tracks_are_numbered_by_first_frame_then_larger_box(raw_avs):
    root, _ = raw_avs
    # one person per shot: 00000 is the earliest-starting track
    first, second = segment_tracks(ClipMedia(root / f"{SEGMENT}.mp4", track=0))
    assert (first.index, first.start_frame) == (0, 0) and second.index == 1
    assert first.end_frame <= second.start_frame == 32  # the shot change, 52 - 20
    # two people from the first frame of 2.0-4.0 s: the larger box first
    tracks = segment_tracks(ClipMedia(root / f"{FULL}.mp4", track=0, cut_s=(2.0, 4.0)))
    assert [t.index for t in tracks] == [0, 1]
    assert all((t.start_frame, t.end_frame) == (50, 100) for t in tracks)
    area = [(t.box[2] - t.box[0]) * (t.box[3] - t.box[1]) for t in tracks]
    assert area[0] > area[1]


def test_avs_ret_on_raw_videos_then_from_the_cache(raw_avs, embedder, seeded_checkpoints, tmp_path, monkeypatch):
    root, path = raw_avs
    db = tmp_path / "db"
    report = evaluate_retrieval(path, root, embedder, "ta", db)
    assert (report.n_evaluated, report.n_manifest) == (3, 5)
    out_of_range = f"{SEGMENT}/00002"
    assert report.missing == [out_of_range, "GONEGONEGO3_1.000000-4.000000/00000"]
    assert report.missing_reasons == {
        out_of_range: f"{SEGMENT}.mp4: 2 speaker track(s) found, no track 00002",
        "GONEGONEGO3_1.000000-4.000000/00000": "no media file",
    }
    # the stored clips are the numbered tracks, face-masked frames of the track's span
    with GestureStore.open(db, read_only=True) as store:
        for media in (ClipMedia(root / f"{SEGMENT}.mp4", track=1), ClipMedia(root / f"{FULL}.mp4", track=0, cut_s=(2.0, 4.0))):
            [clip] = store.clips_of_video(media.key)
            track = segment_tracks(media)[media.track]
            assert (clip.track, clip.start_frame, clip.end_frame + 1) == (track.index, track.start_frame, track.end_frame)
            assert clip.frames.shape == (track.n_frames, 512)

    def no_model_time(*a, **k):
        raise AssertionError("the model or the tracker ran although the clips are cached")

    monkeypatch.setattr(Embedder, "gestures", no_model_time)
    monkeypatch.setattr(Embedder, "content", no_model_time)
    monkeypatch.setattr(gestsearch.media, "speaker_tracks", no_model_time)
    models = ["--gestsync", str(seeded_checkpoints["gestsync"]), "--jegal", str(seeded_checkpoints["jegal"]),
              "--text-model", str(seeded_checkpoints["text"])]
    result = CliRunner().invoke(app, ["eval", "avs-ret", "--csv", str(path), "--media", str(root), "--db", str(db), *models])
    assert result.exit_code == 0, result.output
    assert "N = 3 of 5" in result.stdout
    assert "2 of " in result.stdout and "clips were left out" in result.stdout and "no track 00002" in result.stdout
