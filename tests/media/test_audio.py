"""16 kHz mono audio from sidecars, sound tracks and audio files."""

from __future__ import annotations

import numpy as np
import pytest

from gestsearch.media import load_audio
from gestsearch.media.encode import write_audio
from gestsearch.testing.media import pattern_frames, tone, write_video


def test_jegal_sidecar_wav_is_laid_on_the_video_timeline(shared_data):
    video = shared_data / "jegal_samples" / "sample1.avi"
    audio = load_audio(video)
    assert audio.dtype == np.float32 and audio.ndim == 1
    assert len(audio) / 16000 == pytest.approx(2.24, abs=0.04)  # 56 frames
    raw = load_audio(shared_data / "jegal_samples" / "sample1.wav")
    np.testing.assert_array_equal(audio[: len(raw)], raw)  # the wav is 2.17 s: padded with silence
    assert load_audio(video, sidecar=False) is None  # the .avi itself has no sound track


@pytest.mark.parametrize("suffix", [".wav", ".mp3", ".m4a"])
def test_audio_files_decode_to_16k_float(tmp_path, suffix):
    path = write_audio(tmp_path / f"query{suffix}", tone(1.0, rate=44100), rate=44100)
    audio = load_audio(path)
    assert audio.dtype == np.float32
    assert len(audio) / 16000 == pytest.approx(1.0, abs=0.06)  # codecs add priming samples
    assert 0.4 < np.abs(audio).max() <= 1.0


def test_video_without_sound_gives_none(tmp_path):
    assert load_audio(write_video(tmp_path / "silent.mp4", pattern_frames(10))) is None


def test_sidecar_wav_is_preferred_to_the_sound_track(tmp_path):
    video = write_video(tmp_path / "talk.mp4", pattern_frames(25), audio=np.zeros(16000, np.float32))
    write_audio(tmp_path / "talk.wav", tone(1.0))
    assert np.abs(load_audio(video)).max() > 0.4
    assert np.abs(load_audio(video, sidecar=False)).max() < 0.01


def test_sound_track_of_a_video_used_as_a_query(tmp_path):
    video = write_video(tmp_path / "query.mkv", pattern_frames(50), audio=tone(2.0))
    audio = load_audio(video)
    assert len(audio) == 50 * 640
    assert np.abs(audio[100:-2000]).min() < 0.01 < np.abs(audio[100:-2000]).max()

