"""Stage 1 for a GestSync network trained from scratch: make it see gestures before JEGAL learns on it.

The released JEGAL sits on a GestSync trunk pre-trained on audio-visual sync. A random tiny trunk
has no such start: its per-frame features carry no gesture identity (linear probes are at
chance, see ``benchmarks/README.md``), so the contrastive objective finds nothing to amplify and
every embedding collapses onto one vector. This stage trains the trainable trunk blocks and
the window head to classify, for every frame, **the word being spoken at that frame** (the
transcript's word timings: no gesture labels, so it works on any corpus with transcripts).
Frames between words, and words seen fewer than ``MIN_WORD_COUNT`` times, are not targets.
Each frame's feature sees a 25-frame window (±0.5 s), wide enough for the lead of gestures over
speech. Words that are not gestured cannot be predicted from the video and only add a constant
cost; the gestured ones can. The classifier is dropped afterwards and stage 2 (the paper's
objective) trains JEGAL on the frozen network.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gestsearch.progress import EpochSteps
from gestsearch.train.data import ClipFeatures
from gestsearch.train.network import TrainingModel

MIN_WORD_COUNT = 2
IGNORE = -100  # cross-entropy ignore index: frames without a target word


@dataclass(frozen=True)
class PretrainStep(EpochSteps):
    epoch: int
    step: int  # 1-based within the epoch
    steps: int
    loss: float

    @property
    def task(self) -> str:
        return f"pre-training GestSync, epoch {self.epoch}"

    @property
    def info(self) -> str:
        return f"loss {self.loss:.3f}"


@dataclass(frozen=True)
class PretrainEpoch:
    """Mean loss and frame accuracy (percent of target frames) over the epoch's training batches
    (batches without a target frame are skipped and not counted)."""

    epoch: int
    epochs: int
    loss: float
    accuracy: float
    seconds: float

    # as a progress event (gestsearch.progress.ProgressEvent): a line, no bar
    task = ""
    info = ""

    @property
    def done(self) -> int:
        return self.epoch

    @property
    def total(self) -> int:
        return self.epochs

    @property
    def message(self) -> str:
        return (f"pre-training epoch {self.epoch}/{self.epochs}: loss {self.loss:.3f}, "
                f"spoken-word frame accuracy {self.accuracy:.1f}%")


def word_classes(clips: list[ClipFeatures]) -> dict[str, int]:
    """Word → class index for the words spoken at least ``MIN_WORD_COUNT`` times, most frequent first."""
    counts = Counter(word.lower() for clip in clips for word in clip.words)
    frequent = sorted((w for w, n in counts.items() if n >= MIN_WORD_COUNT), key=lambda w: (-counts[w], w))
    return {word: i for i, word in enumerate(frequent)}


def frame_targets(clip: ClipFeatures, classes: dict[str, int]) -> torch.Tensor:
    """(T,) class of the word spoken at each frame, ``IGNORE`` where none (or a rare word) is."""
    targets = torch.full((clip.n_frames,), IGNORE, dtype=torch.long)
    for word, start, end in clip.boundaries:
        if word.lower() in classes:
            targets[max(0, start) : end + 1] = classes[word.lower()]
    return targets


def pretrain_gestsync(
    model: TrainingModel,
    batches: Callable[[], list[list[ClipFeatures]]],
    classes: dict[str, int],
    epochs: int,
    lr: float,
    weight_decay: float,
    emit: Callable[[PretrainStep | PretrainEpoch], None],
) -> list[PretrainEpoch]:
    """Train ``model``'s trainable GestSync parts on frame → spoken-word classification.

    ``batches()`` gives one shuffled epoch of clips. Returns the per-epoch metrics.
    """
    params = model.gestsync_parameters()
    if not params:
        raise ValueError("nothing of the GestSync network is trainable")
    classifier = nn.Linear(model.gestsync.config.out_dim, len(classes))
    optimizer = torch.optim.AdamW([*params, *classifier.parameters()], lr=lr, weight_decay=weight_decay)
    history = []
    for epoch in range(1, epochs + 1):
        started = time.perf_counter()
        epoch_batches = batches()
        loss_sum, taken, correct, counted = 0.0, 0, 0, 0
        for step, batch in enumerate(epoch_batches, start=1):
            targets = torch.cat([frame_targets(clip, classes) for clip in batch])
            known = targets != IGNORE
            if not known.any():
                continue
            model.train(True)
            logits = classifier(torch.cat(model.frame_features(batch)))  # (frames, classes)
            loss = F.cross_entropy(logits, targets, ignore_index=IGNORE)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            correct += int((logits.argmax(1)[known] == targets[known]).sum())
            counted += int(known.sum())
            loss_sum += loss.item()
            taken += 1
            emit(PretrainStep(epoch, step, len(epoch_batches), loss.item()))
        metrics = PretrainEpoch(
            epoch, epochs, loss_sum / max(1, taken), 100.0 * correct / max(1, counted), time.perf_counter() - started
        )
        history.append(metrics)
        emit(metrics)
    model.train(False)
    return history
