"""A cold `gestsearch search "…"` loads only what a text query uses (issue #21: ≤ 2 s cold): on the
CPU, the numpy text encoder answers and torch is never imported.

The time itself is measured by benchmarks/bench_cold.py; this test guards the cause: which
modules a fresh process imports and which models it builds for a text query.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gestsearch.assets import bundled_model
from gestsearch.embedding import fingerprint
from gestsearch.store import GestureStore
from gestsearch.testing.store import synthetic_video

pytestmark = pytest.mark.slow  # a fresh Python process that loads the tiny model

NOT_FOR_TEXT = [
    "torch", "av", "cv2", "mediapipe", "torchaudio", "pocketsphinx", "transformers", "huggingface_hub", "PIL", "scipy",
    "openvino", "onnxruntime", "gestsearch.media.audio", "gestsearch.media.masking", "gestsearch.export",
]
USED = ["tokenizers", "safetensors", "faiss", "lancedb"]

# Runs the CLI in a fresh interpreter, then reports what it imported and how many GestSync
# networks exist (the class is imported here, after the search, if the search did not).
PROBE = """
import gc, json, os, sys
watched = {name.split(".")[0] for name in json.loads(sys.argv.pop())}
exit_at_once = os._exit

def report(code):
    loaded = sorted(name for name in sys.modules if name.split(".")[0] in watched)
    from gestsearch.models.gestsync import GestSync
    networks = sum(isinstance(o, GestSync) for o in gc.get_objects())
    print(json.dumps({"code": code, "loaded": loaded, "gestsync_networks": networks}), file=sys.stderr)  # the real stderr: fd 2 is quieted
    sys.stderr.flush()
    exit_at_once(code)

os._exit = report  # the search ends the process at once (cli/main.py): report just before
from cli.main import main
sys.argv = ["gestsearch", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def bundled_index(tmp_path_factory) -> Path:
    """A small index that claims the bundled model's fingerprint (synthetic vectors, no media)."""
    db = tmp_path_factory.mktemp("cold") / "index.lance"
    with GestureStore.open(db, fingerprint=fingerprint(*bundled_model()), create=True) as store:
        for name in ("a.mp4", "b.mp4"):
            store.add_video(*synthetic_video(db.parent / name, store.fingerprint, n_clips=3))
    return db


def _search(db: Path, tmp_path: Path, *args: str) -> tuple[dict, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GESTSEARCH_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path)  # no user config file
    env["CUDA_VISIBLE_DEVICES"] = ""  # the CPU path, also on a GPU machine
    names = json.dumps(NOT_FOR_TEXT + USED)
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, "search", *args, "--db", str(db), "--json", names],
        capture_output=True, text=True, env=env, cwd=Path(__file__).parents[2], timeout=300,
    )
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return report, json.loads(proc.stdout) if proc.stdout.strip() else {}


def test_a_text_query_loads_only_the_text_side(bundled_index, tmp_path):
    report, result = _search(bundled_index, tmp_path, "stop the money", "-k", "2")
    assert report["code"] == 0 and result["mode"] == "text" and len(result["hits"]) == 2
    loaded = set(report["loaded"])
    assert loaded.isdisjoint(NOT_FOR_TEXT), sorted(loaded & set(NOT_FOR_TEXT))
    assert set(USED) <= loaded
    assert report["gestsync_networks"] == 0


def test_gestsync_loads_on_first_gesture_use():
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.models import GestSync

    embedder = Embedder.from_settings(Settings(), gestsync_now=False)
    assert not isinstance(embedder._gestsync, GestSync)
    assert isinstance(embedder.gestsync, GestSync) and embedder.gestsync is embedder.gestsync


def test_a_gesture_id_query_loads_no_model_code(bundled_index, tmp_path):
    report, result = _search(bundled_index, tmp_path, "--like", "1", "-k", "2")
    assert report["code"] in (0, 2)  # clip 1 may not exist; the point is what was imported
    assert "torch" not in report["loaded"]


def test_the_numpy_path_ranks_like_the_torch_path(bundled_index):
    from gestsearch.config import Settings
    from gestsearch.embedding import Embedder
    from gestsearch.models.numpy_text import NumpyTextEncoder
    from gestsearch.search.engine import Searcher

    results = []
    for encoder in (NumpyTextEncoder.from_settings(Settings()), Embedder.from_settings(Settings(), gestsync_now=False)):
        with GestureStore.open(bundled_index, fingerprint=encoder.info.fingerprint, read_only=True) as store:
            searcher = Searcher(store, encoder)
            results.append(searcher.search(searcher.text_query("stop the money now"), k=6).result)
    numpy_hits, torch_hits = (r.hits for r in results)
    assert [h.clip_id for h in numpy_hits] == [h.clip_id for h in torch_hits]
    assert np.allclose([h.score for h in numpy_hits], [h.score for h in torch_hits], atol=1e-6)
