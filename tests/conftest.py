"""Shared fixtures. Tests never reach a model hub: caches point at temp dirs (scripts/test.sh)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

# ../shared beside the checkout; GESTSEARCH_SHARED points elsewhere (a GPU machine gets a copy sent along).
SHARED = Path(os.environ.get("GESTSEARCH_SHARED") or Path(__file__).resolve().parents[2] / "shared")


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """../shared/data (real media no one here made); skips when absent."""
    path = SHARED / "data"
    if not path.is_dir():
        pytest.skip("../shared/data is not available")
    return path


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """../shared/reference (golden outputs of the official code); skips when absent."""
    path = SHARED / "reference"
    if not path.is_dir():
        pytest.skip("../shared/reference is not available")
    return path


@pytest.fixture(scope="session")
def seeded_checkpoints(reference_dir: Path, tmp_path_factory) -> dict[str, Path]:
    """Official-format GestSync/JEGAL checkpoints and a tiny XLM-R (+ tokenizer) built by
    ../shared/reference/make_checkpoint.py with seed 1, exactly as the goldens were made."""
    import importlib.util
    import shutil

    import torch

    spec = importlib.util.spec_from_file_location("make_checkpoint", reference_dir / "make_checkpoint.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    out = tmp_path_factory.mktemp("checkpoints")
    paths = {}
    for kind in ("gestsync", "jegal"):
        paths[kind] = out / f"{kind}_seed1.pth"
        torch.save(maker.to_official_checkpoint(maker.build_state_dict(kind, 1)), paths[kind])
    paths["text"] = out / "tiny_xlmr"
    maker.save_xlmr(1, str(paths["text"]))
    for f in (reference_dir / "tiny_tokenizer").iterdir():
        shutil.copy(f, paths["text"] / f.name)
    return paths


@pytest.fixture(scope="session")
def golden(reference_dir: Path):
    import numpy as np

    return np.load(reference_dir / "golden_seed1.npz")


@pytest.fixture(scope="session")
def golden_tolerance(reference_dir: Path):
    import json

    meta = json.loads((reference_dir / "golden_seed1.json").read_text())["arrays"]
    return {name: m.get("suggested_atol") for name, m in meta.items()}


@pytest.fixture(scope="session")
def gestsync_model(seeded_checkpoints):
    from gestsearch.models import load_gestsync

    return load_gestsync(seeded_checkpoints["gestsync"])


@pytest.fixture(scope="session")
def jegal_model(seeded_checkpoints):
    from gestsearch.models import load_jegal

    return load_jegal(seeded_checkpoints["jegal"], text_backbone=seeded_checkpoints["text"])


@pytest.fixture(scope="session")
def embedder(seeded_checkpoints):
    """The seeded official-format checkpoints behind the project's Embedder."""
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder

    s = Settings(gestsync=seeded_checkpoints["gestsync"], jegal=seeded_checkpoints["jegal"],
                 text_model=str(seeded_checkpoints["text"]), device="cpu")
    return Embedder.from_settings(s)


@pytest.fixture(scope="session")
def sample_index(shared_data, embedder, tmp_path_factory):
    """The shared samples indexed once into one index: the JEGAL samples (pre-cropped, with .wav
    and WhisperX .txt) and the raw GestSync samples (several people, no transcript).
    Returns (jegal folder, gestsync folder, db, jegal summary, gestsync summary)."""
    import shutil

    from indexer.pipeline import index_folder

    jegal = tmp_path_factory.mktemp("jegal_media")
    for f in (shared_data / "jegal_samples").iterdir():
        shutil.copy(f, jegal / f.name)
    raw = tmp_path_factory.mktemp("gestsync_media")
    for f in (shared_data / "gestsync_samples").iterdir():
        shutil.copy(f, raw / f.name)
    db = tmp_path_factory.mktemp("db") / "index"
    return jegal, raw, db, index_folder(jegal, embedder, db), index_folder(raw, embedder, db)
