"""The device the model tests run on: ``$GESTSEARCH_TEST_DEVICE``, ``cpu`` unless set (``cuda`` on
a GPU machine, as benchmarks/gpu_check.sh sets it)."""

from __future__ import annotations

import os

TEST_DEVICE_ENV = "GESTSEARCH_TEST_DEVICE"


def device_under_test() -> str:
    return os.environ.get(TEST_DEVICE_ENV) or "cpu"
