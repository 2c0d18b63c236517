"""The project's fixed numbers, in one place. Everything else imports them from here.

Time base: 25 fps. A "frame" is a 25 fps index from the start of a video (or track); word
boundaries are ``(word, start_frame, end_frame)`` with both ends inclusive.
"""

from __future__ import annotations

# -- time and audio -------------------------------------------------------------------------
FPS = 25  # GestSync and JEGAL see video at 25 fps
SAMPLE_RATE = 16_000  # speech is mono 16 kHz float32 in [-1, 1]
SAMPLES_PER_FRAME = SAMPLE_RATE // FPS  # 640 audio samples per video frame
MEL_PER_FRAME = 4  # 10 ms log-mel hops per video frame

# -- model input and embeddings -------------------------------------------------------------
FRAME_WIDTH, FRAME_HEIGHT = 480, 270  # every model frame, after crop, mask and resize
DIM = 512  # length of every gesture / content vector

# -- inference batches ---------------------------------------------------------------------
WINDOW_BATCH = 256  # GestSync windows per transformer call on the CPU (the released code: 48 whole-network windows)
CUDA_WINDOW_BATCH = 1024  # ... on a GPU: fewer, larger calls keep kernel launches a small share of the time

# -- word spotting (AVS-Spot protocol of the released evaluation code) ----------------------
SPOTTING_TEMPERATURE = 0.07  # softmax over a clip's words of cosine / 0.07
SPOT_THRESHOLD = 0.5  # a peak counts when its score reaches this
SPOT_FRAME_MARGIN = 9  # ... and lies within the word's frames ± this margin

# -- active speaker detection (AVS-Asd protocol of the released evaluation code) ------------
ASD_PEOPLE = (2, 4, 6)  # candidates per query: its own track, then the first P - 1 negatives

# -- speaking scores of clips in videos with several people (gestsearch/ingest/speaking.py) -----
SPEAKING_TEMPERATURE = 0.05  # softmax over the tracks in view of cos(speech content, pooled gesture) / this
SPEAKING_THRESHOLD = 0.5  # search --speakers-only keeps clips scoring at least this

# -- search defaults ----------------------------------------------------------------------
DEFAULT_K = 10  # hits returned
DEFAULT_CANDIDATES = 300  # stage-1 clips re-ranked exactly by word coupling

# -- media files ----------------------------------------------------------------------------
# Suffixes taken as video. Pre-cropped AVS speaker crops are .avi, so it is tried first where
# one clip could have several files.
VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".mov", ".webm", ".m4v", ".mpg", ".mpeg", ".ts")
