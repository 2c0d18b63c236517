"""Which model: the checkpoints the settings name and the fingerprint an index records of them.

Without torch, so that a text query answered by the numpy encoder (``gestsearch.models.numpy_text``)
and the torch ``Embedder`` name the same model the same way.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from gestsearch.config import Settings
from gestsearch.errors import ConfigError
from gestsearch.models.checkpoint import file_sha256


@dataclass
class ModelInfo:
    name: str  # shown to users: which model produced the vectors
    fingerprint: str  # identifies the checkpoints; the index refuses to mix fingerprints


def resolve_checkpoints(settings: Settings) -> tuple[Path, Path, str, str]:
    """(gestsync.pth, jegal.pth, text model, display name): the configured checkpoints, else the
    bundled demo model."""
    if settings.gestsync and settings.jegal:
        text = Path(settings.text_model).name if Path(settings.text_model).is_dir() else settings.text_model
        return settings.gestsync, settings.jegal, settings.text_model, f"{settings.gestsync.name} + {settings.jegal.name} + {text}"
    if settings.gestsync or settings.jegal:
        raise ConfigError("give both --gestsync and --jegal (or neither, for the bundled demo model)")
    from gestsearch.assets import bundled_model

    return (*bundled_model(), "bundled tiny demo model (trained on the synthetic corpus)")


_FINGERPRINTS: dict[tuple, str] = {}


def fingerprint(gestsync: Path, jegal: Path, text_model: str) -> str:
    """16 hex digits identifying the weights (file contents) and the text model."""
    key = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (gestsync, jegal)) + (text_model,)
    if key not in _FINGERPRINTS:
        text_id = _text_model_id(text_model)
        digest = hashlib.sha256(f"{file_sha256(gestsync)}:{file_sha256(jegal)}:{text_id}".encode())
        _FINGERPRINTS[key] = digest.hexdigest()[:16]
    return _FINGERPRINTS[key]


def _text_model_id(text_model: str) -> str:
    """A local text model is identified by its weight files, a hub model by its id."""
    path = Path(text_model)
    if not path.is_dir():
        return text_model
    weights = sorted(p for p in path.iterdir() if p.suffix in (".safetensors", ".bin"))
    return ",".join(file_sha256(p) for p in weights) or text_model
