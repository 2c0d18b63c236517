"""`gestsearch index --ray` on a real local Ray cluster (2 CPUs): the same index as the sequential
run, incremental, and complete after an actor is killed mid-video."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from gestsearch.config import Settings
from gestsearch.store import GestureStore, clip_id_for, content_hash, repair_index, video_id_for
from indexer.distributed import index_on_ray
from indexer.pipeline import index_folder

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'gestsearch[ray]')")

pytestmark = pytest.mark.slow  # a Ray cluster and the models in two actors

WORKER = "ray::MapWorker(MapBatches(EmbedWorker))"  # the actors' process title (".submit" while embedding)


@pytest.fixture(scope="module")
def cluster():
    """One local cluster for the module (starting one takes ~6 s), writing under a temporary HOME."""
    home = Path(tempfile.mkdtemp(prefix="rayhome"))  # short: Ray's socket paths must stay under 107 bytes
    saved = os.environ.get("HOME")
    os.environ["HOME"] = str(home)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(home / "r"), log_to_driver=False)
    yield home
    ray.shutdown()
    if saved is None:
        os.environ.pop("HOME")
    else:
        os.environ["HOME"] = saved
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def settings(seeded_checkpoints) -> Settings:
    return Settings(gestsync=seeded_checkpoints["gestsync"], jegal=seeded_checkpoints["jegal"],
                    text_model=str(seeded_checkpoints["text"]), device="cpu")


@pytest.fixture(scope="module")
def sequential(shared_data, embedder, tmp_path_factory):
    """The JEGAL samples and a broken file, indexed by the sequential path: (folder, db, summary)."""
    folder = tmp_path_factory.mktemp("ray") / "media"
    shutil.copytree(shared_data / "jegal_samples", folder)
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    db = folder.parent / "sequential"
    return folder, db, index_folder(folder, embedder, db)


def _clips(db: Path) -> dict[int, object]:
    with GestureStore.open(db, read_only=True) as store:
        return {clip.clip_id: clip for clip in store.iter_clips()}


def _assert_whole(db: Path) -> None:
    """Nothing half-written: every clip row is visible (committed by its video row), and the index reads in full."""
    with GestureStore.open(db, read_only=True) as store:
        info = store.info()
    assert info.clip_rows == info.clips
    assert not repair_index(db).repaired


def test_ray_run_equals_the_sequential_run(cluster, settings, sequential, tmp_path):
    folder, db, summary = sequential
    # the Ray run reads a list naming the same videos: a relative path, an absolute one, a file:// URI
    listing = folder.parent / "videos.txt"
    listing.write_text(f"# the samples\nmedia/sample1.avi\n\n{folder / 'sample2.avi'}\n{(folder / 'broken.mp4').as_uri()}\n")
    distributed = index_on_ray(listing, settings, tmp_path / "ray")

    assert sorted(distributed.indexed) == sorted(summary.indexed) and len(summary.indexed) == 2
    assert distributed.failed == summary.failed and len(summary.failed) == 1
    assert (distributed.clips, distributed.frames, distributed.notes) == (summary.clips, summary.frames, summary.notes)
    expected, got = _clips(db), _clips(tmp_path / "ray")
    assert sorted(got) == sorted(expected)
    for clip_id, clip in expected.items():
        other = got[clip_id]
        assert (other.path, other.track, other.start_frame, other.end_frame, other.words, other.text) == (
            clip.path, clip.track, clip.start_frame, clip.end_frame, clip.words, clip.text)
        np.testing.assert_allclose(other.gesture, clip.gesture, atol=1e-6)
        np.testing.assert_allclose(other.frames, clip.frames, atol=1e-6)
        assert (other.content is None) == (clip.content is None)
        if clip.content is not None:
            np.testing.assert_allclose(other.content, clip.content, atol=1e-6)
    _assert_whole(tmp_path / "ray")

    # incremental: the videos are unchanged, so nothing goes to the cluster
    listing.write_text("media/sample1.avi\nmedia/sample2.avi\n")
    again = index_on_ray(listing, settings, tmp_path / "ray")
    assert again.indexed == [] and sorted(again.skipped) == sorted(summary.indexed) and again.failed == []


def _busy_actors(home: Path) -> list[int]:
    """Pids of this cluster's actors that are embedding a video now (other clusters on the machine
    have another HOME)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes().split(b"\0")[0].decode()
            environ = (proc / "environ").read_bytes().split(b"\0")
        except (OSError, ValueError, UnicodeDecodeError):
            continue
        if title.startswith(f"{WORKER}.submit") and f"HOME={home}".encode() in environ:
            pids.append(int(proc.name))
    return pids


def test_a_killed_actor_leaves_a_complete_index(cluster, settings, sequential, tmp_path):
    media, db, _ = sequential
    folder = tmp_path / "copies"
    folder.mkdir()
    for i in range(3):  # distinct files (and so clip ids) with the same frames
        (folder / f"v{i}.avi").write_bytes((media / "sample1.avi").read_bytes() + b"\0" * i)
        for ext in (".wav", ".txt"):
            shutil.copy(media / f"sample1{ext}", folder / f"v{i}{ext}")
    result = {}
    run = threading.Thread(target=lambda: result.update(summary=index_on_ray(folder, settings, tmp_path / "db")))
    run.start()
    killed = None
    while run.is_alive() and killed is None:
        busy = _busy_actors(cluster)
        if busy:
            killed = busy[0]
            os.kill(killed, signal.SIGKILL)  # mid-video: Ray restarts the actor and tries the video again
        time.sleep(0.05)
    run.join()
    assert killed is not None, "no actor was seen embedding"
    summary = result["summary"]
    assert summary.failed == [] and sorted(Path(p).name for p in summary.indexed) == ["v0.avi", "v1.avi", "v2.avi"]
    _assert_whole(tmp_path / "db")

    # the clips the sequential run makes: sample1's one phrase clip, in each copy
    (reference,) = [c for c in _clips(db).values() if c.path == str(media / "sample1.avi")]
    clips = _clips(tmp_path / "db")
    assert set(clips) == {
        clip_id_for(video_id_for(path), content_hash(path), reference.track, reference.start_frame, reference.end_frame)
        for path in sorted(folder.glob("*.avi"))
    }
    for clip in clips.values():
        np.testing.assert_allclose(clip.frames, reference.frames, atol=1e-6)
        np.testing.assert_allclose(clip.content, reference.content, atol=1e-6)

    again = index_on_ray(folder, settings, tmp_path / "db")
    assert again.indexed == [] and len(again.skipped) == 3
