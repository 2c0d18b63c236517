"""Bad input: every case either works or raises one typed error naming the file and the reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gestsearch.errors import MediaError
from gestsearch.media import Track, iter_frames, iter_track_frames, load_audio, load_transcript, probe, speaker_tracks
from gestsearch.media.encode import write_audio
from gestsearch.testing.media import pattern_frames, tone, write_video

OPERATIONS = {
    "probe": probe,
    "iter_frames": lambda path: [len(c) for c in iter_frames(path)],
    "load_audio": load_audio,
    "speaker_tracks": speaker_tracks,
    "iter_track_frames": lambda path: [len(c) for c in iter_track_frames(path, Track(0, 0, 10, None))],
}


def good_mp4(path: Path, **options) -> Path:
    return write_video(path, pattern_frames(40, 96, 64), audio=tone(1.6), **options)


def make_bad_file(kind: str, folder: Path) -> Path:
    """Generate one kind of bad input in ``folder``."""
    if kind == "missing":
        return folder / "missing.mp4"
    if kind == "directory":
        (folder / "folder.mp4").mkdir()
        return folder / "folder.mp4"
    if kind == "zero-length":
        (folder / "empty.mp4").touch()
        return folder / "empty.mp4"
    if kind == "garbage":
        (folder / "garbage.mp4").write_bytes(np.random.default_rng(0).integers(0, 256, 20000, dtype=np.uint8).tobytes())
        return folder / "garbage.mp4"
    if kind == "non-media":
        (folder / "notes.mov").write_text("These are meeting notes, not a video.\n" * 50)
        return folder / "notes.mov"
    if kind == "audio-only":
        return write_audio(folder / "voice.m4a", tone(1.0))
    if kind == "truncated":  # moov atom at the end: cut off
        path = good_mp4(folder / "truncated.mp4")
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
        return path
    if kind == "truncated-faststart":  # index intact, media data cut
        path = good_mp4(folder / "faststart.mp4", faststart=True)
        path.write_bytes(path.read_bytes()[: path.stat().st_size * 6 // 10])
        return path
    if kind == "corrupt-middle":
        path = good_mp4(folder / "corrupt.mp4")
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle - 2000 : middle + 2000] = np.random.default_rng(1).integers(0, 256, 4000, dtype=np.uint8).tobytes()
        path.write_bytes(bytes(data))
        return path
    raise AssertionError(kind)


# What must happen: "error" = MediaError; "works-or-error" = either is fine, never anything else.
EXPECTED = {
    "missing": "error", "directory": "error", "zero-length": "error", "garbage": "error",
    "non-media": "error", "audio-only": "error", "truncated": "error",
    "truncated-faststart": "works-or-error", "corrupt-middle": "works-or-error",
}


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("kind", EXPECTED)
def test_bad_input_yields_one_typed_error_naming_the_file(tmp_path, kind, operation):
    path = make_bad_file(kind, tmp_path)
    expected = "works" if (kind, operation) == ("audio-only", "load_audio") else EXPECTED[kind]
    try:
        OPERATIONS[operation](path)
    except MediaError as error:
        assert expected != "works", f"{kind}: {error}"
        assert str(path) in str(error) and error.reason and "\n" not in str(error)
    else:
        assert expected != "error", f"{operation} accepted a {kind} file"


@pytest.mark.parametrize(("kind", "reason"), [
    ("missing", "not found"), ("directory", "not a regular file"), ("zero-length", "empty file"),
    ("audio-only", "audio-only"), ("non-media", "not a readable media file"),
])
def test_error_reasons_are_specific(tmp_path, kind, reason):
    with pytest.raises(MediaError, match=reason):
        probe(make_bad_file(kind, tmp_path))


def test_surviving_part_of_a_damaged_file_is_usable(tmp_path):
    path = make_bad_file("corrupt-middle", tmp_path)
    try:
        info = probe(path)
    except MediaError:
        pytest.skip("the damage hit the stream headers")
    assert sum(len(c) for c in iter_frames(path)) == info.n_frames


@pytest.mark.slow
def test_file_names_with_spaces_quotes_and_shell_syntax(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ["it's a \"talk\" $(touch pwned) `touch pwned2`; rm -rf x & co.mp4", "concat:clip|other.mp4", "-i.mp4"]:
        path = good_mp4(tmp_path / name)
        path.with_suffix(".txt").write_text("Text: hello\nLang: en\n\nWORD, START, END, SCORE\nhello, 0.1, 0.5, 0.9\n")
        info = probe(path)
        assert info.n_frames == 40 and info.path == path
        assert sum(len(c) for c in iter_frames(path)) == 40
        assert len(load_audio(path)) == 40 * 640
        [track] = speaker_tracks(path)
        assert sum(len(c) for c in iter_track_frames(path, track)) == 40
        assert [w.word for w in load_transcript(path).words] == ["hello"]
    assert not list(tmp_path.glob("pwned*"))
