"""Release step: install a tiny training run as the model bundled in the package.

    .venv/bin/python scripts/bundle_tiny.py RUN [--dest gestsearch/assets/tiny]

RUN is the output folder of ``gestsearch train`` (or ``benchmarks/train_tiny.py``). The bundle
keeps the official checkpoint format with float16 weights (half the size, same rankings), the
run's text model, and its config.json as train_config.json, so the recipe travels with it.
The old bundle is replaced only once the new one is complete.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from gestsearch.assets import TINY_MODEL_DIR


def bundle(run: Path, dest: Path = TINY_MODEL_DIR) -> Path:
    """Copy ``run``'s model into ``dest`` (float16 weights, official format)."""
    staging = dest.with_name(dest.name + ".new")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    for name in ("gestsync.pth", "jegal.pth"):
        checkpoint = torch.load(run / name, map_location="cpu", weights_only=True)
        checkpoint["state_dict"] = {
            k: v.half() if v.is_floating_point() else v for k, v in checkpoint["state_dict"].items()
        }
        torch.save(checkpoint, staging / name)
    shutil.copytree(run / "text", staging / "text")
    shutil.copy(run / "config.json", staging / "train_config.json")
    shutil.rmtree(dest, ignore_errors=True)
    staging.rename(dest)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path, help="a training run's output folder")
    parser.add_argument("--dest", type=Path, default=TINY_MODEL_DIR, help="where the bundle goes")
    args = parser.parse_args()
    missing = [n for n in ("gestsync.pth", "jegal.pth", "text", "config.json") if not (args.run / n).exists()]
    if missing:
        parser.error(f"{args.run} is not a finished training run (missing {', '.join(missing)})")
    print(f"bundled: {bundle(args.run, args.dest)}")


if __name__ == "__main__":
    main()
