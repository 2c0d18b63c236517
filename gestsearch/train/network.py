"""The networks under training and their batched, differentiable forward paths.

Gesture side: cached activations of the first conv-trunk blocks → the other trunk blocks
(trained, or nothing to do when the cache holds whole-trunk steps) → GestSync windows (one per
frame, 21 steps) → window transformer + head, mean over the window → JEGAL gesture encoder.
When nothing of GestSync is trained its per-frame features are computed once and kept.
Content side: words → text backbone → JEGAL text encoder, averaged per word; log-mel →
speech CNN, averaged per word; the two halves (either zeroed by modality dropout) → fusion.
Every path is the one ``Embedder`` runs at inference, batched with masks, so a trained model
embeds clips and queries the same way through the index.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import pad_sequence

from gestsearch.models import JEGAL, PRESETS, GestSync, ModelPreset, TextBackbone, save_gestsync, save_jegal
from gestsearch.train.data import ClipFeatures
from gestsearch.train.losses import ModalityKeep
from gestsearch.train.tokenizer import is_order_free

MEL_FLOOR = math.log(1e-20)  # log-mel of digital silence (gestsearch.features.log_mel): pads short clips


def padded(rows: list[torch.Tensor], padding_value: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """(n_i, D) tensors → (B, N_max, D) padded and the (B, N_max) 0/1 mask."""
    lengths = torch.tensor([len(r) for r in rows])
    mask = (torch.arange(int(lengths.max()))[None] < lengths[:, None]).float()
    return pad_sequence(rows, batch_first=True, padding_value=padding_value), mask.to(rows[0].device)


def preset_of(gestsync: GestSync, jegal: JEGAL) -> ModelPreset:
    """The named preset these networks' sizes match, else a "custom" one."""
    for preset in PRESETS.values():
        if preset.gestsync == gestsync.config and preset.jegal == jegal.config:
            return preset
    return ModelPreset("custom", gestsync.config, jegal.config)


class TrainingModel:
    """GestSync, JEGAL and the text backbone; which parts train is set here.

    ``frozen_blocks``: conv-trunk blocks whose output the clip features hold (fixed); the
    remaining blocks train. ``train_head``: the GestSync window transformer and head.
    """

    def __init__(
        self, gestsync: GestSync, jegal: JEGAL, backbone: TextBackbone,
        frozen_blocks: int = 6, train_head: bool = True, train_text: bool = True,
    ):
        self.gestsync, self.jegal, self.backbone = gestsync, jegal, backbone
        self.frozen_blocks, self.train_head, self.train_text = frozen_blocks, train_head, train_text
        jegal.text_backbone = backbone
        self.preset = preset_of(gestsync, jegal)
        self._frozen_features: dict[int, torch.Tensor] = {}  # id(clip) → features when GestSync is frozen
        gestsync.requires_grad_(False)
        self.trunk_blocks = list(gestsync.trunk.blocks[frozen_blocks:])
        self.head_modules = [gestsync.transformer, gestsync.head]
        for module in self.trunk_blocks:
            module.requires_grad_(True)
        for module in self.head_modules:
            module.requires_grad_(train_head)
        backbone.model.requires_grad_(train_text)
        if is_order_free(backbone.model):
            backbone.model.embeddings.position_embeddings.requires_grad_(False)
        self.train(False)

    @property
    def gestsync_frozen(self) -> bool:
        return not (self.trunk_blocks or self.train_head)

    def gestsync_parameters(self) -> list[nn.Parameter]:
        """The trainable parameters of the GestSync network (trunk blocks, window head)."""
        return [p for m in (*self.trunk_blocks, *self.head_modules) for p in m.parameters() if p.requires_grad]

    def freeze_gestsync(self) -> None:
        """Fix the whole GestSync network (after its pre-training): its features are then computed once per clip."""
        self.gestsync.requires_grad_(False)
        self.trunk_blocks, self.train_head = [], False
        self._frozen_features.clear()
        self.train(False)

    def trainable(self) -> list[nn.Parameter]:
        """JEGAL's, the GestSync network's (:meth:`gestsync_parameters`), then the text backbone's trainable parameters."""
        jegal = [p for p in self.jegal.parameters() if p.requires_grad]
        text = [p for p in self.backbone.model.parameters() if p.requires_grad]
        return [*jegal, *self.gestsync_parameters(), *text]

    def train(self, mode: bool = True) -> None:
        """Dropout/BatchNorm modes: trained parts follow ``mode``; frozen parts stay in eval mode."""
        self.gestsync.eval()
        for module in self.trunk_blocks:
            module.train(mode)
        for module in self.head_modules:
            module.train(mode and self.train_head)
        self.jegal.train(mode)
        self.backbone.model.train(mode and self.train_text)

    # -- forward paths -----------------------------------------------------------------------
    def frame_features(self, clips: list[ClipFeatures]) -> list[torch.Tensor]:
        """Per clip (T, feature_dim) GestSync features of its cached trunk activations."""
        if self.gestsync_frozen:
            return [self._frozen(c) for c in clips]
        steps = self.trunk_steps(torch.cat([c.activations.float() for c in clips]))
        windows = torch.cat([self.gestsync.windows(s) for s in steps.split([len(c.activations) for c in clips])])
        return list(self.gestsync.encode_windows(windows).mean(1).split([c.n_frames for c in clips]))

    def trunk_steps(self, activations: torch.Tensor) -> torch.Tensor:
        """(S, C, h, w) activations of the frozen blocks → (S, dim) trunk steps."""
        return self.gestsync.trunk.rest(activations.transpose(0, 1)[None], self.frozen_blocks)[0].T

    def gestures(self, clips: list[ClipFeatures], feature_dropout: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T_max, dim) gesture embeddings (not normalised) and the (B, T_max) frame mask.
        ``feature_dropout``: dropout on the GestSync features first (training-time augmentation)."""
        features, mask = padded(self.frame_features(clips))
        features = F.dropout(features, feature_dropout, training=feature_dropout > 0)
        return self.jegal.forward_gestures(features, mask), mask

    def content(self, clips: list[ClipFeatures], keep: ModalityKeep | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, W_max, dim) content embeddings from text and speech (halves scaled by ``keep``) and the word mask."""
        text = self.jegal.text_words_batch([c.words for c in clips])
        mels, _ = padded([c.mel.float() for c in clips], MEL_FLOOR)
        audio = self.jegal.speech_words_batch(mels, [c.boundaries for c in clips], [len(c.mel) for c in clips])
        if keep is not None:
            audio, text = audio * keep.audio[:, None, None], text * keep.text[:, None, None]
        _, mask = padded([torch.zeros(len(c.boundaries)) for c in clips])
        return self.jegal.fuse(audio, text), mask

    @torch.no_grad()
    def _frozen(self, clip: ClipFeatures) -> torch.Tensor:
        if id(clip) not in self._frozen_features:
            steps = self.trunk_steps(clip.activations.float())
            self._frozen_features[id(clip)] = self.gestsync.window_features(steps)
        return self._frozen_features[id(clip)]

    # -- state -------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "gestsync": self.gestsync.state_dict(),
            "jegal": self.jegal.state_dict(),
            "text": self.backbone.model.state_dict() if self.train_text else None,
        }

    def load_state_dict(self, state: dict) -> None:
        self.gestsync.load_state_dict(state["gestsync"])
        self.jegal.load_state_dict(state["jegal"])
        if state["text"] is not None:
            self.backbone.model.load_state_dict(state["text"])

    def save(self, out_dir: Path) -> None:
        """gestsync.pth and jegal.pth in the official format (+ preset), and text/ when the backbone is trained."""
        save_gestsync(self.gestsync, out_dir / "gestsync.pth", self.preset)
        save_jegal(self.jegal, out_dir / "jegal.pth", self.preset)
        if self.train_text:
            self.backbone.save(out_dir / "text")
