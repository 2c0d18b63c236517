"""Media in and out: any talk video → 25 fps frames, 16 kHz audio, word timings, masked speaker
tracks (the model input); writing audio and cutting mp4s; AVS manifests and where their media lie.

Conventions (docs/architecture.md): 25 fps timeline from the first displayed frame; audio
float32 mono 16 kHz in [-1, 1]; word boundaries ``[word, start_frame, end_frame]`` inclusive;
model frames float32 RGB ``(T, 270, 480, 3)`` in [0, 1] with the face masked. Every failure a
user can cause raises :class:`gestsearch.errors.MediaError` (naming the file and the reason)
or :class:`gestsearch.errors.TranscriptError`. MediaPipe, OpenCV and pocketsphinx are imported
on first use, so importing this package is cheap.
"""

from gestsearch.errors import MediaError, NoAudioError, TranscriptError
from gestsearch.media.align import force_align
from gestsearch.media.audio import load_audio
from gestsearch.media.masking import iter_track_frames
from gestsearch.media.sidecars import load_transcript
from gestsearch.media.tracks import Track, main_track, speaker_tracks
from gestsearch.media.transcript import Transcript, Word, normalise_word, transcript_from_boundaries
from gestsearch.media.video import VideoInfo, iter_frames, probe

__all__ = [
    "MediaError",
    "NoAudioError",
    "TranscriptError",
    "Track",
    "Transcript",
    "VideoInfo",
    "Word",
    "force_align",
    "iter_frames",
    "iter_track_frames",
    "load_audio",
    "load_transcript",
    "main_track",
    "normalise_word",
    "probe",
    "speaker_tracks",
    "transcript_from_boundaries",
]
