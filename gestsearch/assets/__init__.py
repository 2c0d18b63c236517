"""Files shipped inside the package: the tiny demo model trained on the synthetic corpus."""

from __future__ import annotations

from pathlib import Path

from gestsearch.errors import ConfigError

TINY_MODEL_DIR = Path(__file__).parent / "tiny"


def bundled_model() -> tuple[Path, Path, str]:
    """(gestsync.pth, jegal.pth, text model dir) of the bundled demo model."""
    gestsync, jegal, text = TINY_MODEL_DIR / "gestsync.pth", TINY_MODEL_DIR / "jegal.pth", TINY_MODEL_DIR / "text"
    if not (gestsync.is_file() and jegal.is_file() and text.is_dir()):
        raise ConfigError(
            "no model configured: pass --gestsync and --jegal (official checkpoints), "
            "or set GESTSEARCH_GESTSYNC / GESTSEARCH_JEGAL"
        )
    return gestsync, jegal, str(text)
