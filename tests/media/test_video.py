"""25 fps video decoding: real samples (edit lists, 29.97 fps), generated VFR/rotated/4K files."""

from __future__ import annotations

import tracemalloc
from fractions import Fraction

import av
import numpy as np
import pytest

from gestsearch.media import Track, iter_frames, iter_track_frames, load_audio, probe
from gestsearch.testing.media import pattern_frames, tone, write_video


def flat_frames(n: int, step: int = 8, size: tuple[int, int] = (64, 48)) -> list[np.ndarray]:
    """Frame k is uniformly grey level step*k, so decoded frames say which source frame they are."""
    width, height = size
    return [np.full((height, width, 3), step * k, dtype=np.uint8) for k in range(n)]


def source_indices(chunks: list[np.ndarray], step: int = 8) -> list[int]:
    return [int(round(frame.mean() / step)) for frame in np.concatenate(chunks)]


def test_jegal_sample_gives_56_frames_in_chunks(shared_data):
    path = shared_data / "jegal_samples" / "sample1.avi"
    info = probe(path)
    assert (info.n_frames, info.width, info.height, info.rotation) == (56, 228, 314, 0)
    assert info.duration_s == pytest.approx(2.24)
    assert info.has_audio  # the sidecar sample1.wav
    chunks = list(iter_frames(path, chunk_frames=20))
    assert [len(c) for c in chunks] == [20, 20, 16]
    assert chunks[0].dtype == np.uint8 and chunks[0].shape[1:] == (314, 228, 3)


def test_sync_sample_honours_the_edit_list_and_keeps_audio_aligned(shared_data):
    path = shared_data / "gestsync_samples" / "sync_sample_1.mp4"
    info = probe(path)
    assert info.n_frames == 222  # decord: 275 frames including 2.1 s of pre-roll
    assert info.source_fps == pytest.approx(25.0)
    n = sum(len(c) for c in iter_frames(path, max_side=160))
    assert n == 222
    with av.open(str(path)) as container:
        track_s = sum(f.samples for f in container.decode(audio=0)) / container.streams.audio[0].rate
    assert track_s == pytest.approx(n / 25, abs=0.1)
    audio = load_audio(path)
    assert len(audio) == 222 * 640


def test_asd_sample_is_resampled_from_29_97_fps(shared_data):
    info = probe(shared_data / "gestsync_samples" / "asd_sample_1.mp4")
    assert info.source_fps == pytest.approx(30000 / 1001, rel=1e-3)
    assert (info.width, info.height) == (1280, 720)
    assert info.n_frames == round(326 / (30000 / 1001) * 25)


def test_start_and_end_frame_match_a_full_decode(shared_data):
    path = shared_data / "gestsync_samples" / "sync_sample_1.mp4"
    full = np.concatenate(list(iter_frames(path, max_side=96)))
    part = np.concatenate(list(iter_frames(path, start_frame=150, end_frame=180, max_side=96)))
    np.testing.assert_array_equal(part, full[150:180])


def test_30_fps_source_drops_every_sixth_frame(tmp_path):
    path = write_video(tmp_path / "30fps.mp4", flat_frames(30), fps=30)
    chunks = list(iter_frames(path))
    expected = [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 17, 18, 19, 20, 22, 23, 24, 25, 26, 28, 29]
    assert source_indices(chunks) == expected


def test_variable_frame_rate_follows_timestamps(tmp_path):
    times = [0.0, 0.04, 0.05, 0.1, 0.3, 0.31, 0.32, 0.5]
    path = write_video(tmp_path / "vfr.mp4", flat_frames(len(times), step=20), timestamps=times)
    info = probe(path)
    assert info.n_frames == 17  # 0.5 s + the last interval (0.18 s), at 25 fps
    # output k shows the last source frame with time < (k + 0.5) / 25
    expected = [max(i for i, t in enumerate(times) if t < (k + 0.5) / 25 - 1e-9) for k in range(17)]
    assert source_indices(list(iter_frames(path)), step=20) == expected


@pytest.mark.parametrize(("rotation", "corner"), [(90, "bottom-left"), (270, "top-right"), (180, "bottom-right")])
def test_display_matrix_rotation_is_applied(tmp_path, rotation, corner):
    frame = np.zeros((48, 64, 3), dtype=np.uint8)
    frame[:16, :16] = 255  # a white block in the top-left corner of the stored picture
    path = write_video(tmp_path / "phone.mp4", [frame] * 3, rotation=rotation)
    info = probe(path)
    assert info.rotation == rotation
    assert (info.width, info.height) == ((48, 64) if rotation % 180 else (64, 48))
    image = next(iter_frames(path))[0]
    assert image.shape == (info.height, info.width, 3)
    h, w = image.shape[:2]
    quadrants = {
        "top-left": image[: h // 2, : w // 2], "top-right": image[: h // 2, w // 2 :],
        "bottom-left": image[h // 2 :, : w // 2], "bottom-right": image[h // 2 :, w // 2 :],
    }
    assert max(quadrants, key=lambda q: quadrants[q].mean()) == corner


@pytest.mark.slow
def test_4k_video_is_downscaled_while_decoding(tmp_path):
    path = write_video(tmp_path / "uhd.mp4", pattern_frames(10, 3840, 2160))
    info = probe(path)
    assert (info.width, info.height, info.n_frames) == (3840, 2160, 10)
    chunks = list(iter_frames(path, max_side=960))
    assert chunks[0].shape == (10, 540, 960, 3)
    list(iter_track_frames(path, Track(0, 0, 1, None)))  # MediaPipe set-up, not measured
    tracemalloc.start()
    try:
        sizes = [len(chunk) for chunk in iter_track_frames(path, Track(0, 0, 10, None), chunk_frames=4)]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sizes == [4, 4, 2]
    assert peak < 3840 * 2160 * 3  # not even one 4K RGB frame was materialised


def test_audio_and_video_stay_in_sync_through_b_frames(tmp_path):
    frames = flat_frames(50, step=0)
    frames[25] = np.full_like(frames[25], 255)  # a flash at 1.0 s ...
    audio = np.zeros(32000, dtype=np.float32)
    audio[16000:17600] = tone(0.1)  # ... and a beep at 1.0 s
    path = write_video(tmp_path / "sync.mp4", frames, audio=audio)
    video = np.concatenate(list(iter_frames(path)))
    assert int(np.argmax(video.mean(axis=(1, 2, 3)))) == 25
    sound = load_audio(path)
    onset = int(np.argmax(np.abs(sound) > 0.1))
    assert abs(onset - 25 * 640) < 640


def test_late_audio_start_is_padded_onto_the_timeline(tmp_path):
    path = write_video(tmp_path / "late.mp4", pattern_frames(50), audio=tone(1.0), audio_start_s=0.5)
    sound = load_audio(path)
    assert len(sound) == 50 * 640
    onset = int(np.argmax(np.abs(sound) > 0.05))
    assert abs(onset - 8000) < 320


@pytest.mark.parametrize("suffix", [".mkv", ".avi", ".mov", ".webm"])
def test_common_containers(tmp_path, suffix):
    path = write_video(tmp_path / f"clip{suffix}", pattern_frames(30), fps=Fraction(30), audio=tone(1.0))
    info = probe(path)
    assert info.n_frames == 25 and info.has_audio
    assert sum(len(c) for c in iter_frames(path)) == 25
    assert len(load_audio(path)) == 25 * 640
