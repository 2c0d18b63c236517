"""Training settings, with explicit per-preset defaults.

``TrainConfig.for_preset(name, **overrides)`` is the way to get one:

=====================  ==========================  ===================================
setting                ``tiny`` (from scratch)      ``paper`` (fine-tune official)
=====================  ==========================  ===================================
lr                     3e-4                         5e-5 (the paper's)
epochs / batch size    20 / 32                      10 / 32
GestSync conv trunk    blocks 1-2 fixed (random),   frozen (features cached)
                       blocks 3-6 pre-trained
GestSync window head   pre-trained                  frozen
GestSync pre-training  8 epochs (lr 1e-3), then     none
                       frozen
text backbone          trained (word-level, ours)   frozen (XLM-R, as released)
BatchNorm calibration  1024 frames                  none (official statistics)
word contrast γ        0.5                          0 (the paper's objective)
=====================  ==========================  ===================================

Shared defaults are the paper's: AdamW with weight decay 1e-4 and betas (0.9, 0.98),
β = 0.5 between the sequence and the word-coupling loss, modality dropout 0.5, and a
learnable temperature starting at 0.07 (``learn_temperature=False`` keeps it fixed).

The word contrast ``L_word`` (``gestsearch.train.losses``) is this project's addition, off for
the paper preset: on the synthetic corpus the paper's two losses alone reach retrieval but leave
every word of a clip with the same spotting score (AVS-Spot 1 %); γ = 0.5 keeps spotting
(``benchmarks/README.md``, "Training the tiny preset").

GestSync pre-training (``gestsearch.train.pretrain``) is stage 1 for a network trained from
scratch: the trainable GestSync parts learn to name the word spoken at each frame, then freeze,
and stage 2 trains JEGAL with the paper's objective. Without it the tiny preset's contrastive
training collapses (``benchmarks/README.md``, "Training the tiny preset"). ``pretrained_gestsync``
replaces stage 1 with the GestSync network of an earlier tiny run (its ``gestsync.pth``), so
stage 2 can be run again, e.g. on more clips, without pre-training again.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from gestsearch.config import DEFAULT_TEXT_MODEL
from gestsearch.errors import ConfigError
from gestsearch.types import Preset

Init = tuple[str | os.PathLike, str | os.PathLike, str]  # gestsync.pth, jegal.pth, text model (id or dir)

PRESET_DEFAULTS: dict[str, dict[str, object]] = {
    "tiny": dict(
        lr=3e-4, epochs=20, batch_size=32, frozen_trunk_blocks=2, pretrain_epochs=8, word_weight=0.5,
        train_gestsync_head=True, train_text_backbone=True, calibration_frames=1024,
    ),
    "paper": dict(
        lr=5e-5, epochs=10, batch_size=32, frozen_trunk_blocks=6, pretrain_epochs=0, word_weight=0.0,
        train_gestsync_head=False, train_text_backbone=False, calibration_frames=0,
    ),
}


@dataclass(frozen=True)
class TrainConfig:
    preset: Preset = "tiny"  # model sizes when training from scratch ("tiny"); "paper" needs init checkpoints
    epochs: int = 20
    batch_size: int = 32  # clips per step: the InfoNCE negatives are the other clips of the batch
    lr: float = 3e-4  # peak learning rate, after a linear warm-up; cosine decay to 0
    weight_decay: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.98)
    warmup: float = 0.05  # share of all steps spent warming up (at least 30 steps, at most half)
    max_grad_norm: float | None = 1.0  # gradient clipping (None: off)
    bf16: bool = False  # forward passes under bfloat16 autocast (weights, loss and validation stay float32)
    beta: float = 0.5  # loss = β·L_seq + (1 − β)·L_couple + γ·L_word
    word_weight: float = 0.5  # γ: the within-clip word contrast (not in the paper; see gestsearch.train.losses)
    temperature: float = 0.07  # initial InfoNCE temperature of both losses
    learn_temperature: bool = True  # CLIP-style learnable log-scale, clamped to [1, 100]
    modality_dropout: float = 0.5  # per clip: probability of zeroing the text or the audio half
    feature_dropout: float = 0.0  # dropout on the GestSync per-frame features in stage 2 (augmentation; 0: off)
    query_crop: float = 0.0  # per clip: probability that its content side is 1-3 random consecutive words (short queries)
    frozen_trunk_blocks: int = 2  # GestSync conv-trunk blocks kept fixed (their output is cached); the rest train
    train_gestsync_head: bool = True  # GestSync window transformer + head
    train_text_backbone: bool = True
    calibration_frames: int = 1024  # frames to recompute the random conv trunk's BatchNorm statistics on
    pretrain_epochs: int = 8  # stage 1: frame → spoken-word classification of the GestSync network, then frozen (0: none)
    pretrain_lr: float = 1e-3
    pretrained_gestsync: Path | None = None  # stage 1 done: an earlier tiny run's gestsync.pth, loaded and frozen
    mask_faces: bool = True  # mask the face like the indexer (False: clips already masked, as AVS crops)
    val_fraction: float = 0.1  # held-out share of the corpus (ignored with val_corpus)
    val_corpus: Path | None = None  # a separate corpus to validate on
    cache_dir: Path | None = None  # where the feature caches go (default: the output directory)
    workers: int = 1  # processes computing the feature caches (speed only: the features do not depend on it)
    seed: int = 0

    @classmethod
    def for_preset(cls, preset: Preset = "tiny", **overrides: object) -> TrainConfig:
        """The preset's defaults (see the module docstring), then ``overrides`` (None values ignored)."""
        if preset not in PRESET_DEFAULTS:
            raise ConfigError(f"unknown model preset {preset!r} (expected one of {', '.join(PRESET_DEFAULTS)})")
        values = {**PRESET_DEFAULTS[preset], **{k: v for k, v in overrides.items() if v is not None}}
        if overrides.get("pretrained_gestsync") is not None and overrides.get("pretrain_epochs") is None:
            values["pretrain_epochs"] = 0  # the loaded network replaces stage 1
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(f"unknown training setting(s): {', '.join(sorted(unknown))}")
        return cls(preset=preset, **values)

    def __post_init__(self) -> None:
        checks = {
            "preset": self.preset in PRESET_DEFAULTS,
            "epochs": self.epochs >= 1,
            "batch_size": self.batch_size >= 2,
            "lr": self.lr > 0 and math.isfinite(self.lr),
            "weight_decay": self.weight_decay >= 0,
            "betas": len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
            "warmup": 0 <= self.warmup < 1,
            "max_grad_norm": self.max_grad_norm is None or self.max_grad_norm > 0,
            "beta": 0 <= self.beta <= 1,
            "word_weight": self.word_weight >= 0 and math.isfinite(self.word_weight),
            "temperature": 0.01 <= self.temperature <= 1,
            "modality_dropout": 0 <= self.modality_dropout <= 1,
            "query_crop": 0 <= self.query_crop <= 1,
            "feature_dropout": 0 <= self.feature_dropout < 1,
            "frozen_trunk_blocks": 1 <= self.frozen_trunk_blocks <= 6,
            "calibration_frames": self.calibration_frames >= 0,
            "pretrain_epochs": self.pretrain_epochs >= 0 and not (
                self.pretrain_epochs and self.frozen_trunk_blocks == 6 and not self.train_gestsync_head
            ),
            "pretrain_lr": self.pretrain_lr > 0 and math.isfinite(self.pretrain_lr),
            "val_fraction": 0 <= self.val_fraction < 1,
            "workers": self.workers >= 1,
            "seed": self.seed >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = ", ".join(f"{name}={getattr(self, name)!r}" for name in bad)
            raise ConfigError(f"invalid training setting(s): {values}")
        if self.pretrained_gestsync is not None and (self.preset != "tiny" or self.pretrain_epochs):
            raise ConfigError("a pre-trained GestSync network replaces stage 1 of the tiny preset: "
                              "it goes with the tiny preset and 0 pre-training epochs")

    def to_dict(self) -> dict:
        """Plain JSON types (paths as strings)."""
        return {k: str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        values = dict(d)
        values["betas"] = tuple(values["betas"])
        values.setdefault("pretrain_epochs", 0)  # saved before GestSync pre-training existed
        values.setdefault("word_weight", 0.0)  # saved before the word contrast existed
        values.setdefault("query_crop", 0.0)
        values.setdefault("feature_dropout", 0.0)
        for key in ("val_corpus", "cache_dir", "pretrained_gestsync"):
            values[key] = Path(values[key]) if values.get(key) else None
        return cls(**values)

    def differences(self, other: TrainConfig, ignore: tuple[str, ...] = ()) -> list[str]:
        """Names of the settings that differ from ``other``."""
        return [f.name for f in fields(self) if f.name not in ignore and getattr(self, f.name) != getattr(other, f.name)]


def initial_weights(preset: Preset, gestsync: Path | None, jegal: Path | None, text_model: str | None) -> Init | None:
    """What a run starts from: nothing for the tiny preset (trained from scratch); the official
    checkpoints, which the paper preset fine-tunes (ConfigError when they are not given)."""
    if preset != "paper":
        return None
    if not (gestsync and jegal):
        raise ConfigError("the paper preset fine-tunes official checkpoints: give --gestsync and --jegal")
    return gestsync, jegal, text_model or DEFAULT_TEXT_MODEL
