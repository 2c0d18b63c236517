"""Per-clip training features, computed once per corpus and trunk and kept in one cache file.

For every clip the cache holds what the frozen parts of the pipeline produce from its media,
exactly as the indexer and ``Embedder`` do:

- ``activations``: the output of the GestSync conv trunk's first ``blocks`` blocks for each
  of the T + 20 steps of the edge-padded clip, ``(T + 20, C, h, w)`` float16
  (``GestSync.stream_activations`` over ``iter_track_frames`` chunks of the clip's speaker track,
  found and cropped as ``gestsearch index`` does;
  with all 6 blocks these are the trunk steps, h = w = 1);
- ``mel``: log-mel of the audio from the first word's start, ``(T', 80)`` float16
  (``Embedder.content`` cuts the audio there too);
- the word boundaries and the spotting target.

The file name carries a key: sha256 of the corpus fingerprint, the trunk weights as given
(before any BatchNorm calibration), the calibration size, the number of blocks and the
masking flag. A random
trunk is calibrated (:func:`calibrate_batchnorm`) before its first cache is built; the cache
stores the calibrated trunk, which later runs load instead of recalibrating.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import multiprocessing
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gestsearch import runtime
from gestsearch.atomic import atomic_path
from gestsearch.constants import MEL_PER_FRAME, SAMPLE_RATE, SAMPLES_PER_FRAME
from gestsearch.errors import GestsearchError, ModelInputError
from gestsearch.features import log_mel
from gestsearch.media import iter_track_frames, load_audio, load_transcript, main_track, probe
from gestsearch.models.gestsync import GestSync, VideoTrunk
from gestsearch.progress import Progress
from gestsearch.train.corpus import Corpus, CorpusClip
from gestsearch.types import Boundary

FORMAT = 3  # bump when the cache layout or the feature recipe changes (3: the indexer's speaker crop)
CHUNK_FRAMES = 64
MIN_CALIBRATION_CHUNK = 8  # frames: 4 trunk steps


@dataclass(frozen=True)
class CacheEvent:
    corpus: str  # "train", "train 2/3" (one of several training corpora) or "val"
    done: int
    total: int

    # as a progress event (gestsearch.progress.ProgressEvent): a bar per corpus
    info = ""
    message = None

    @property
    def task(self) -> str:
        return f"caching {self.corpus} features"


@dataclass
class ClipFeatures:
    name: str
    activations: torch.Tensor  # (T + 20, C, h, w) float16: the first trunk blocks' output per step
    mel: torch.Tensor  # (T', 80) float16 log-mel from the first word on
    boundaries: list[Boundary]
    target: int | None  # row of the spotting target in ``boundaries``

    @property
    def n_frames(self) -> int:
        return len(self.activations) - 20

    @property
    def words(self) -> list[str]:
        return [w for w, _, _ in self.boundaries]

    def words_span(self, start: int, count: int) -> ClipFeatures:
        """The clip with only words ``start … start + count − 1`` on its content side (the log-mel
        cut at the span's first word, as the speech path expects); the gesture side is unchanged."""
        cut = MEL_PER_FRAME * (int(self.boundaries[start][1]) - int(self.boundaries[0][1]))
        target = self.target - start if self.target is not None and start <= self.target < start + count else None
        return ClipFeatures(self.name, self.activations, self.mel[cut:], self.boundaries[start : start + count], target)

    def to_dict(self) -> dict:
        return {"name": self.name, "activations": self.activations, "mel": self.mel,
                "boundaries": [list(b) for b in self.boundaries], "target": self.target}

    @classmethod
    def from_dict(cls, d: dict) -> ClipFeatures:
        return cls(d["name"], d["activations"], d["mel"], [tuple(b) for b in d["boundaries"]], d["target"])


def query_crops(
    clips: list[ClipFeatures], probability: float, generator: torch.Generator, max_words: int = 3
) -> list[ClipFeatures]:
    """Each clip, or with ``probability`` its :meth:`ClipFeatures.words_span` of 1 … ``max_words``
    random consecutive words: a short query against the whole clip, as in search."""
    out = []
    for clip in clips:
        n = len(clip.boundaries)
        if n > 1 and torch.rand(1, generator=generator).item() < probability:
            count = int(torch.randint(1, min(max_words, n) + 1, (1,), generator=generator))
            clip = clip.words_span(int(torch.randint(0, n - count + 1, (1,), generator=generator)), count)
        out.append(clip)
    return out


@dataclass
class FeatureSet:
    clips: list[ClipFeatures]
    skipped: list[str]  # "name: reason" for clips that could not be used
    path: Path  # the cache file


def trunk_fingerprint(trunk: VideoTrunk) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(trunk.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def load_or_build(
    corpus: Corpus,
    gestsync: GestSync,
    cache_dir: Path,
    blocks: int = 6,
    calibration_frames: int = 0,
    mask: bool = True,
    max_frames: int = 500,
    progress: Progress | None = None,
    label: str = "train",
    workers: int = 1,
) -> FeatureSet:
    """Features of every clip of ``corpus``, from the cache file when it matches, else computed and saved.

    ``blocks``: how many trunk blocks the cached activations have gone through (the others are trained).
    With ``calibration_frames`` > 0, the trunk's BatchNorm statistics are first recomputed on
    that many frames from the corpus's first clips (input statistics only: no labels are used).
    Either way ``gestsync.trunk`` ends up as the cache stores it. ``progress`` sees a
    :class:`CacheEvent` per clip featurised, naming the corpus ``label``. Clips longer than ``max_frames`` or without usable words or
    audio are skipped, with the reason. ``workers`` > 1 featurises clips in that many processes
    (speaker tracking and face masking use one core each); the features do not depend on it.
    """
    key = hashlib.sha256(
        f"{FORMAT}:{corpus.fingerprint()}:{trunk_fingerprint(gestsync.trunk)}:{blocks}:{calibration_frames}:{mask}:{max_frames}".encode()
    ).hexdigest()
    path = Path(cache_dir) / f"features-{key[:16]}.pt"
    cached = _read(path, key)
    if cached is not None:
        gestsync.trunk.load_state_dict(cached["trunk"])
        return FeatureSet([ClipFeatures.from_dict(c) for c in cached["clips"]], cached["skipped"], path)
    if calibration_frames:
        frames = itertools.chain.from_iterable(_frames(clip.video, mask) for clip in corpus.clips)
        calibrate_batchnorm(gestsync.trunk, _take_frames(frames, calibration_frames))
    clips, skipped = [], [f"{name}: no media" for name in corpus.missing]
    with _featuriser(gestsync, blocks, mask, max_frames, workers) as featurise_clips:
        for done, (clip, result) in enumerate(zip(corpus.clips, featurise_clips(corpus.clips)), start=1):
            if isinstance(result, ClipFeatures):
                clips.append(result)
            else:
                skipped.append(f"{clip.name}: {result}")
            if progress:
                progress(CacheEvent(label, done, len(corpus.clips)))
    _write(path, {"key": key, "trunk": gestsync.trunk.state_dict(), "clips": [c.to_dict() for c in clips], "skipped": skipped})
    return FeatureSet(clips, skipped, path)


def featurise(
    clip: CorpusClip, gestsync: GestSync, blocks: int = 6, mask: bool = True, max_frames: int = 500
) -> ClipFeatures:
    """Trunk activations, log-mel and words of one clip. Raises a ``GestsearchError`` when it is unusable."""
    n_frames = probe(clip.video).n_frames
    if n_frames > max_frames:
        raise ModelInputError(f"{n_frames} frames, more than the gesture encoder's {max_frames}: cut the clip")
    boundaries = clip.boundaries
    if boundaries is None:
        transcript = load_transcript(clip.video)
        boundaries = tuple(tuple(b) for b in transcript.boundaries()) if transcript else ()
    if not boundaries:
        raise ModelInputError("no timed words (no transcript sidecar)")
    audio = load_audio(clip.video)
    if audio is None:
        raise ModelInputError("no audio")
    first = int(boundaries[0][1])
    mel = log_mel(audio[first * SAMPLES_PER_FRAME :])
    last_start = int(boundaries[-1][1]) - first
    if last_start >= -(-len(mel) // MEL_PER_FRAME):
        raise ModelInputError(f"the last word starts after the end of the audio ({len(audio) / SAMPLE_RATE:.2f} s)")
    chunks = (torch.from_numpy(c) for c in _frames(clip.video, mask))
    activations = torch.cat(list(gestsync.stream_activations(chunks, blocks)))
    words = [(str(w), int(s), int(e)) for w, s, e in boundaries]
    return ClipFeatures(clip.name, activations.half().cpu(), mel.half(), words, clip.target)


FeaturiseResult = ClipFeatures | str  # the features, or why the clip is unusable


@contextlib.contextmanager
def _featuriser(
    gestsync: GestSync, blocks: int, mask: bool, max_frames: int, workers: int
) -> Iterator[Callable[[list[CorpusClip]], Iterator[FeaturiseResult]]]:
    """A function from clips to their :func:`featurise` results, in order: in this process, or
    in ``workers`` spawned processes that each hold a copy of the (calibrated) trunk."""
    if workers <= 1:
        yield lambda clips: (_featurise_or_reason(c, gestsync, blocks, mask, max_frames) for c in clips)
        return
    context = multiprocessing.get_context("spawn")  # fork after torch and MediaPipe threads start can hang
    with ProcessPoolExecutor(workers, context, _start_worker, (gestsync, blocks, mask, max_frames)) as pool:
        yield lambda clips: (_from_worker(r) for r in pool.map(_featurise_in_worker, clips, chunksize=2))


def _featurise_or_reason(clip: CorpusClip, gestsync: GestSync, blocks: int, mask: bool, max_frames: int) -> FeaturiseResult:
    try:
        return featurise(clip, gestsync, blocks, mask, max_frames)
    except GestsearchError as e:
        return str(e)


_worker_args: tuple | None = None


def _start_worker(gestsync: GestSync, blocks: int, mask: bool, max_frames: int) -> None:
    global _worker_args
    runtime.set_threads(runtime.SMALL_MODEL_THREADS)  # the workers share the cores between them
    _worker_args = (gestsync.eval(), blocks, mask, max_frames)


def _featurise_in_worker(clip: CorpusClip) -> dict | str:
    result = _featurise_or_reason(clip, *_worker_args)
    if isinstance(result, str):
        return result
    # numpy crosses the process boundary by plain pickling (torch tensors would go through shared-memory handles)
    return {**result.to_dict(), "activations": result.activations.numpy(), "mel": result.mel.numpy()}


def _from_worker(result: dict | str) -> FeaturiseResult:
    if isinstance(result, str):
        return result
    return ClipFeatures.from_dict({**result, "activations": torch.from_numpy(result["activations"]),
                                   "mel": torch.from_numpy(result["mel"])})


@torch.no_grad()
def calibrate_batchnorm(trunk: VideoTrunk, chunks: Iterable[torch.Tensor]) -> None:
    """Recompute every BatchNorm's running mean/variance as the average over ``chunks`` of
    (T, 270, 480, 3) frames (train-mode forward passes, momentum None), then switch to eval mode."""
    norms = [m for m in trunk.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None
    trunk.train()
    for chunk in chunks:
        trunk(chunk[None].permute(0, 4, 1, 2, 3))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
    trunk.eval()


def _frames(video: Path, mask: bool) -> Iterator[np.ndarray]:
    """Model input of a clip: its speaker track, found, cropped and masked exactly as
    ``gestsearch index`` does it (``main_track`` + ``iter_track_frames``), so that a model learns
    from what it will be shown in search. The whole clip must be the speaker's."""
    n_frames = probe(video).n_frames
    track = main_track(video)
    if (track.start_frame, track.end_frame) != (0, n_frames):
        raise ModelInputError(
            f"the speaker is found in frames {track.start_frame}-{track.end_frame} of {n_frames}; "
            "a training clip needs the speaker throughout"
        )
    return iter_track_frames(video, track, CHUNK_FRAMES, mask=mask)


def _take_frames(chunks: Iterable[np.ndarray], n: int) -> Iterator[torch.Tensor]:
    """Chunks with ``n`` frames in all (the last one cut); chunks of fewer than ``MIN_CALIBRATION_CHUNK``
    frames are left out (BatchNorm needs several trunk steps per batch)."""
    for chunk in chunks:
        if n < MIN_CALIBRATION_CHUNK:
            return
        chunk = chunk[:n]
        if len(chunk) >= MIN_CALIBRATION_CHUNK:
            yield torch.from_numpy(chunk)
            n -= len(chunk)


def _read(path: Path, key: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # a truncated or foreign file: rebuild it
        return None
    return data if isinstance(data, dict) and data.get("key") == key else None


def _write(path: Path, data: dict) -> None:
    with atomic_path(path) as tmp:
        torch.save(data, tmp)
