"""Loading and saving GestSync and JEGAL checkpoints (official format, strict)."""

from __future__ import annotations

import os

import torch

from gestsearch.config import DEFAULT_TEXT_MODEL
from gestsearch.models.checkpoint import GESTSYNC_KEYS, JEGAL_KEYS, load_official_state, read_checkpoint, save_official
from gestsearch.models.config import ModelPreset, preset_of
from gestsearch.models.gestsync import GestSync
from gestsearch.models.jegal import JEGAL
from gestsearch.models.text import TextBackbone


def load_gestsync(path: str | os.PathLike, device: str | torch.device = "cpu") -> GestSync:
    """Load an official (or gestsearch-written) GestSync checkpoint, strictly, in eval mode."""
    data = read_checkpoint(path)
    model = GestSync(preset_of(data).gestsync)
    load_official_state(model, data["state_dict"], GESTSYNC_KEYS, path)
    return model.eval().to(device)


def load_jegal(
    path: str | os.PathLike,
    text_backbone: TextBackbone | str | os.PathLike | None = DEFAULT_TEXT_MODEL,
    device: str | torch.device = "cpu",
) -> JEGAL:
    """Load a JEGAL checkpoint strictly, in eval mode.

    ``text_backbone``: a loaded ``TextBackbone``, or a Hugging Face id / local directory that is
    loaded on first text use (gesture-only work never loads it).
    """
    data = read_checkpoint(path)
    model = JEGAL(preset_of(data).jegal)
    load_official_state(model, data["state_dict"], JEGAL_KEYS, path)
    model.text_backbone = str(text_backbone) if isinstance(text_backbone, os.PathLike) else text_backbone
    return model.eval().to(device)


def save_gestsync(model: GestSync, path: str | os.PathLike, preset: ModelPreset | None = None) -> None:
    save_official(model, GESTSYNC_KEYS, path, {"gestsearch": {"preset": preset.to_dict()}} if preset else None)


def save_jegal(model: JEGAL, path: str | os.PathLike, preset: ModelPreset | None = None) -> None:
    save_official(model, JEGAL_KEYS, path, {"gestsearch": {"preset": preset.to_dict()}} if preset else None)
