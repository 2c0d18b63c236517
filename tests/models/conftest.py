"""The model tests run on ``$GESTSEARCH_TEST_DEVICE`` (gestsearch.testing.device; ``cuda`` on a GPU
machine, as benchmarks/gpu_check.sh runs them): the models under test are loaded there, and inputs
follow them. Tests of the OpenVINO backend run on the CPU only."""

from __future__ import annotations

import pytest

from gestsearch.testing.device import TEST_DEVICE_ENV, device_under_test


@pytest.fixture(scope="session")
def device() -> str:
    import torch

    device = device_under_test()
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            pytest.fail(f"{TEST_DEVICE_ENV}={device}, but torch sees no CUDA GPU")
        from gestsearch.models.backend import configure_cuda

        configure_cuda()  # the goldens hold at IEEE fp32, not at cuDNN's default TF32
    return device


@pytest.fixture(scope="session")
def gestsync_model(seeded_checkpoints, device):
    from gestsearch.models import load_gestsync

    return load_gestsync(seeded_checkpoints["gestsync"], device)


@pytest.fixture(scope="session")
def jegal_model(seeded_checkpoints, device):
    from gestsearch.models import load_jegal

    return load_jegal(seeded_checkpoints["jegal"], text_backbone=seeded_checkpoints["text"], device=device)
