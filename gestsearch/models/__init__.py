"""GestSync and JEGAL networks and their official-checkpoint loaders.

>>> gestsync = load_gestsync("gestsync.pth")
>>> jegal = load_jegal("jegal.pth", text_backbone="FacebookAI/xlm-roberta-base")

Names are imported on first use: the torch-free parts of this package (key maps, checkpoint
reading, the tokenizer, the numpy text encoder) serve cold text queries that never import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_SOURCES = {
    "GestSync": "gestsync", "JEGAL": "jegal", "TextBackbone": "text",
    "ModelPreset": "config", "GestSyncConfig": "config", "JegalConfig": "config", "PAPER": "config", "TINY": "config",
    "PRESETS": "config", "GESTSYNC_KEYS": "checkpoint", "JEGAL_KEYS": "checkpoint",
    "load_gestsync": "loading", "load_jegal": "loading", "save_gestsync": "loading", "save_jegal": "loading",
}
__all__ = [
    "GestSync", "JEGAL", "TextBackbone", "ModelPreset", "GestSyncConfig", "JegalConfig", "PAPER", "TINY", "PRESETS",
    "GESTSYNC_KEYS", "JEGAL_KEYS", "load_gestsync", "load_jegal", "save_gestsync", "save_jegal",
]

if TYPE_CHECKING:
    from gestsearch.models.checkpoint import GESTSYNC_KEYS, JEGAL_KEYS
    from gestsearch.models.config import PAPER, PRESETS, TINY, GestSyncConfig, JegalConfig, ModelPreset
    from gestsearch.models.gestsync import GestSync
    from gestsearch.models.jegal import JEGAL
    from gestsearch.models.loading import load_gestsync, load_jegal, save_gestsync, save_jegal
    from gestsearch.models.text import TextBackbone


def __getattr__(name: str):
    if name not in _SOURCES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SOURCES[name]}"), name)
    globals()[name] = value
    return value
