"""bf16 on the torch backend (autocast, on $GESTSEARCH_TEST_DEVICE) against fp32: the tolerance
gestsearch.models.backend states."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gestsearch.config import Settings
from gestsearch.embedding import Embedder
from gestsearch.errors import ConfigError
from gestsearch.models.backend import autocast, configure_cuda, each_under
from gestsearch.testing.device import device_under_test

FEATURE_COSINE, FEATURE_RELATIVE = 0.999, 0.02  # GestSync per-frame features
EMBEDDING_COSINE, EMBEDDING_ABS = 0.999, 0.005  # L2-normalised gesture embeddings


def golden_frames(src: np.ndarray) -> torch.Tensor:
    """The goldens' frame recipe (tests/models/test_models.py)."""
    up = torch.from_numpy(src).repeat_interleave(10, dim=-3).repeat_interleave(10, dim=-2)
    up[..., :111, :, :] = 0
    return (up.double() / 255).float()


def torch_embedder(checkpoints, precision: str) -> Embedder:
    settings = Settings(gestsync=checkpoints["gestsync"], jegal=checkpoints["jegal"], text_model=str(checkpoints["text"]),
                        device=device_under_test(), backend="torch", precision=precision)
    try:
        return Embedder.from_settings(settings)
    except ConfigError as e:  # bf16 where it is not native
        pytest.skip(str(e))


@pytest.mark.slow
def test_bf16_gestsync_features_stay_close_to_fp32(gestsync_model, golden):
    frames = golden_frames(golden["gs_clip_src_u8"])
    fp32 = gestsync_model.frame_features(frames)
    with autocast(str(gestsync_model.device), "bf16"):
        bf16 = gestsync_model.frame_features(frames).float()
    assert torch.nn.functional.cosine_similarity(fp32, bf16).min() > FEATURE_COSINE
    assert ((bf16 - fp32).norm(dim=1) / fp32.norm(dim=1)).max() < FEATURE_RELATIVE


@pytest.mark.slow
def test_bf16_gesture_embeddings_stay_close_to_fp32(seeded_checkpoints, golden):
    frames = golden_frames(golden["gs_clip_src_u8"]).numpy()
    chunks = [frames[:16], frames[16:]]
    fp32 = torch_embedder(seeded_checkpoints, "fp32").gestures(chunks)
    bf16 = torch_embedder(seeded_checkpoints, "bf16").gestures(chunks)
    assert bf16.dtype == np.float32 and bf16.shape == fp32.shape
    assert (fp32 * bf16).sum(1).min() > EMBEDDING_COSINE
    assert np.abs(bf16 - fp32).max() < EMBEDDING_ABS


def test_autocast_covers_each_item_and_not_the_consumer():
    seen = []

    def items():
        for _ in range(2):
            seen.append(torch.is_autocast_enabled("cpu"))
            yield torch.ones(2, 2) @ torch.ones(2, 2)

    for out in each_under(lambda: autocast("cpu", "bf16"), items()):
        assert out.dtype == torch.bfloat16 and not torch.is_autocast_enabled("cpu")
    assert seen == [True, True]
    with autocast("cpu", "fp32"):
        assert not torch.is_autocast_enabled("cpu")


def test_configure_cuda_turns_tf32_off_and_leaves_the_flags_readable():
    before = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        configure_cuda()
        assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        with torch.backends.cudnn.flags(enabled=True):  # torch itself reads them this way
            pass
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = before
