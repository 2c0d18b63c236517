"""Indexing throughput (frames/s) and bytes on disk per indexed second of video.

Renders a synthetic archive (gestsearch synth), indexes it with paper-size models
(seeded weights in the official format: same architecture and cost as the released ones)
and, when present, the bundled tiny demo model; reports frames/s end to end (decode, face
masking, GestSync, JEGAL, LanceDB + FAISS writes) and bytes on disk per second of video.

    .venv/bin/python benchmarks/bench_index.py [--clips 20]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch


def paper_checkpoints(directory: Path) -> tuple[Path, Path, Path]:
    """Seeded official-format GestSync/JEGAL and a tiny XLM-R (../shared/reference/make_checkpoint.py)."""
    import importlib.util
    import shutil

    reference = Path(__file__).resolve().parents[2] / "shared" / "reference"
    spec = importlib.util.spec_from_file_location("make_checkpoint", reference / "make_checkpoint.py")
    maker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(maker)
    paths = [directory / "gestsync.pth", directory / "jegal.pth", directory / "text"]
    for kind, path in zip(("gestsync", "jegal"), paths):
        torch.save(maker.to_official_checkpoint(maker.build_state_dict(kind, 1)), path)
    maker.save_xlmr(1, str(paths[2]))
    for f in (reference / "tiny_tokenizer").iterdir():
        shutil.copy(f, paths[2] / f.name)
    return tuple(paths)


def run(label: str, archive: Path, db: Path, settings) -> dict:
    from gestsearch.embedding import Embedder
    from gestsearch.store import GestureStore
    from indexer.pipeline import index_folder

    embedder = Embedder.from_settings(settings)
    start = time.perf_counter()
    summary = index_folder(archive, embedder, db)
    seconds = time.perf_counter() - start
    with GestureStore.open(db, read_only=True) as store:
        info = store.info()
        video_s = sum(v.duration_s for v in store.videos())
    return {
        "model": label, "videos": len(summary.indexed), "frames": summary.frames, "seconds": seconds,
        "frames_per_s": summary.frames / seconds, "bytes_per_video_s": info.bytes_on_disk / video_s,
        "clips": info.clips,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=20)
    args = parser.parse_args()
    from gestsearch.config import Settings
    from gestsearch.synth import generate_corpus

    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        generate_corpus(tmp / "archive", args.clips, seed=9999)
        rows = []
        try:
            from gestsearch.assets import bundled_model

            bundled_model()
            rows.append(run("bundled tiny", tmp / "archive", tmp / "db_tiny", Settings(device="cpu")))
        except Exception as e:
            print(f"(bundled tiny model skipped: {e})")
        gs, jg, text = paper_checkpoints(tmp)
        rows.append(run("paper size (seeded weights)", tmp / "archive", tmp / "db_paper",
                        Settings(gestsync=gs, jegal=jg, text_model=str(text), device="cpu")))
    print(f"{args.clips} synthetic clips, 480x270, 25 fps, 2 threads")
    print("| model | videos | frames | seconds | frames/s | bytes on disk per video second | clips |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['videos']} | {r['frames']} | {r['seconds']:.1f} | {r['frames_per_s']:.1f} "
              f"| {r['bytes_per_video_s']:,.0f} | {r['clips']} |")


if __name__ == "__main__":
    main()
