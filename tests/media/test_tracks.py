"""Speaker tracks, scene cuts and face-masked model input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from gestsearch.errors import ConfigError
from gestsearch.media import Track, iter_track_frames, speaker_tracks
from gestsearch.media.masking import FaceMasker
from gestsearch.media.scenes import SceneCutDetector
from gestsearch.media.video import iter_frames
from gestsearch.testing.media import pattern_frames, write_video

pytestmark = pytest.mark.slow  # models, real media or a whole pipeline: see `make test-fast`


@pytest.fixture(scope="module")
def asd_tracks(shared_data):
    path = shared_data / "gestsync_samples" / "asd_sample_1.mp4"
    return path, speaker_tracks(path)


def black_rows(frames: np.ndarray) -> np.ndarray:
    """Per frame, how many rows from the top are entirely black."""
    dark = (frames.max(axis=(2, 3)) == 0)
    return np.argmin(np.concatenate([dark, np.zeros((len(frames), 1), bool)], axis=1), axis=1)


def test_jegal_sample_is_one_precropped_track_with_56_masked_frames(shared_data):
    path = shared_data / "jegal_samples" / "sample1.avi"
    [track] = speaker_tracks(path)
    assert (track.start_frame, track.end_frame, track.box) == (0, 56, None)
    assert track.end_s == pytest.approx(2.24)
    frames = np.concatenate(list(iter_track_frames(path, track)))
    assert frames.shape == (56, 270, 480, 3) and frames.dtype == np.float32
    assert frames.min() >= 0.0 and frames.max() <= 1.0
    # black from the top to 15 px below the chin (face mesh), the gesturing hands below stay visible
    source = next(iter_frames(path, chunk_frames=1))[0]
    with FaceMasker() as masker:
        chin = masker.chin_row(source)
    assert 0.25 * 314 < chin < 0.45 * 314
    expected_rows = (chin + 16) * 270 / 314
    assert abs(int(black_rows(frames[:1])[0]) - expected_rows) <= 2
    assert np.all(black_rows(frames) > 0.25 * 270)
    assert frames[:, 200:].mean() > 0.1


def test_no_face_found_blacks_the_top_111_rows(tmp_path):
    path = write_video(tmp_path / "bars.mp4", pattern_frames(25, 320, 240))
    [track] = speaker_tracks(path)
    assert track.box is None
    frames = np.concatenate(list(iter_track_frames(path, track, chunk_frames=16)))
    assert frames.shape == (25, 270, 480, 3)
    assert np.all(frames[:, :111] == 0)
    assert np.all(frames[:, 111].max(axis=(1, 2)) > 0)


def test_two_people_give_two_raw_tracks_with_boxes(asd_tracks):
    path, tracks = asd_tracks
    assert len(tracks) == 2
    left, right = tracks
    for track in tracks:
        x0, y0, x1, y1 = track.box
        assert 0 <= x0 < x1 <= 1280 and 0 <= y0 < y1 <= 720
        assert track.end_frame - track.start_frame >= 200  # of 272 frames at 25 fps
    assert (left.box[0] + left.box[2]) / 2 + 300 < (right.box[0] + right.box[2]) / 2
    short = dataclasses.replace(right, end_frame=right.start_frame + 10)
    [chunk] = iter_track_frames(path, short, chunk_frames=16)
    assert chunk.shape == (10, 270, 480, 3)


def test_scene_cut_splits_tracks(shared_data):
    tracks = speaker_tracks(shared_data / "gestsync_samples" / "asd_sample_2.mp4", mode="raw")
    assert len(tracks) >= 2
    assert any(t.end_frame == 52 for t in tracks) and any(t.start_frame == 52 for t in tracks)


def test_a_frame_range_is_tracked_alone_with_frames_counted_from_the_file_start(shared_data):
    tracks = speaker_tracks(shared_data / "gestsync_samples" / "asd_sample_2.mp4", mode="raw", start_frame=20, end_frame=100)
    assert [(t.start_frame, t.end_frame) for t in tracks] == [(20, 52), (52, 100)]
    sample = shared_data / "jegal_samples" / "sample1.avi"
    [track] = speaker_tracks(sample, mode="precropped", start_frame=10, end_frame=40)
    assert (track.start_frame, track.end_frame, track.box) == (10, 40, None)
    with pytest.raises(ValueError, match="outside its 56 frames"):
        speaker_tracks(sample, start_frame=56)


def test_scene_cut_detector_on_generated_shots():
    shot_a = list(pattern_frames(20, 160, 120))
    shot_b = [np.roll(frame[::-1], 40, axis=1) // 3 for frame in pattern_frames(20, 160, 120)]
    detector = SceneCutDetector()
    cuts = [k for k, frame in enumerate(shot_a + shot_b) if detector.is_cut(frame)]
    assert cuts == [20]


def test_unknown_mode_is_a_config_error(shared_data):
    with pytest.raises(ConfigError, match="speaker track mode must be one of"):
        speaker_tracks(shared_data / "jegal_samples" / "sample1.avi", mode="people")  # type: ignore[arg-type]


def test_track_time_properties():
    track = Track(index=3, start_frame=50, end_frame=75, box=(0, 0, 10, 10))
    assert (track.start_s, track.end_s, track.n_frames) == (2.0, 3.0, 25)


def scripted_tracks(monkeypatch, faces_at: dict[int, list], n_frames: int) -> list[Track]:
    """Raw tracks of ``n_frames`` blank frames whose face detections are ``faces_at[k]``.
    Frame k carries k in its first pixel."""
    from gestsearch.media import tracks as tracks_module
    from gestsearch.media.video import VideoInfo

    def frames(info, start, end, scale):
        for k in range(start, end):
            frame = np.zeros((120, 160, 3), np.uint8)
            frame[0, 0, :2] = k % 256, k // 256
            yield frame

    def detections(frames, known=None):
        for frame in frames:
            yield frame, faces_at.get(int(frame[0, 0, 0]) + 256 * int(frame[0, 0, 1]), [])

    monkeypatch.setattr(tracks_module, "read_frames", frames)
    monkeypatch.setattr(tracks_module, "_detections", detections)
    info = VideoInfo(path=None, duration_s=n_frames / 25, source_fps=25.0, n_frames=n_frames, width=160, height=120,
                     has_audio=False, rotation=0)
    return tracks_module._raw_tracks(info, 0, n_frames)


def test_a_piece_that_stops_mid_scene_is_dropped_when_shorter_than_a_second(monkeypatch):
    """A face seen for 7 frames, then gone for good: it ends before the scene does, and still
    goes the way of every track shorter than a second."""
    left, flash = (10, 10, 30, 30), (100, 10, 120, 30)
    faces_at = {k: [left] + ([flash] if 5 <= k < 12 else []) for k in range(100)}
    tracks = scripted_tracks(monkeypatch, faces_at, 100)
    assert [(t.start_frame, t.end_frame) for t in tracks] == [(0, 100)]


def test_faces_detected_on_several_threads_are_the_one_thread_boxes_in_order(shared_data, monkeypatch):
    import threading

    from gestsearch.media import tracks as tracks_module
    from gestsearch.media.video import probe, read_frames

    info = probe(shared_data / "gestsync_samples" / "asd_sample_1.mp4")
    runs = {}
    for cores in (1, 3):
        monkeypatch.setattr(tracks_module, "usable_cores", lambda cores=cores: cores)
        runs[cores] = [(frame.copy(), faces) for frame, faces in tracks_module._detections(read_frames(info, 0, 40, 0.5))]
    assert [faces for _, faces in runs[3]] == [faces for _, faces in runs[1]]
    assert all(np.array_equal(a, b) for (a, _), (b, _) in zip(runs[3], runs[1]))
    assert sum(len(faces) for _, faces in runs[1]) >= 40  # two people in most frames
    # the lanes are kept for the next call; a caller that stops early leaves none of its frames on them
    def lane_threads() -> set[threading.Thread]:
        return {t for t in threading.enumerate() if t.name.startswith("gestsearch-faces")}

    before = lane_threads()
    detections = tracks_module._detections(read_frames(info, 0, 40, 0.5))
    next(detections)
    detections.close()
    assert lane_threads() == before
    lanes = tracks_module._detection_lanes(3)
    assert [lanes.submit(lane, runs[1][0][0]).result() for lane in range(3)] == [runs[1][0][1]] * 3


def test_auto_mode_detects_each_frame_once_and_gives_the_raw_tracks(shared_data, monkeypatch):
    """On a short range the "auto" sample is decoded in order, as the tracking pass decodes: its
    faces are reused, not detected again."""
    import threading

    from gestsearch.media import tracks as tracks_module

    detect_faces, lock, calls = tracks_module._detect_faces, threading.Lock(), []

    def counted(detector, frame):
        with lock:
            calls.append(1)
        return detect_faces(detector, frame)

    monkeypatch.setattr(tracks_module, "_detect_faces", counted)
    video = shared_data / "gestsync_samples" / "asd_sample_1.mp4"
    raw = speaker_tracks(video, "raw", 0, 150)
    assert len(calls) == 150
    calls.clear()
    assert speaker_tracks(video, "auto", 0, 150) == raw
    assert len(calls) == 150  # 15 sample frames among them
    assert len(raw) == 2
