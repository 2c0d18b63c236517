#!/usr/bin/env bash
# Runs the test suite offline, with every cache pointed at a throw-away directory.
# Python: $GESTSEARCH_PYTHON if set (benchmarks/gpu_check.sh on a machine without the venv), else the venv's.
set -uo pipefail
VENV=${VENV:-.venv}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 HF_DATASETS_OFFLINE=1
export HOME="$tmp/home" XDG_CACHE_HOME="$tmp/cache" XDG_CONFIG_HOME="$tmp/config"
export TORCH_HOME="$tmp/torch" HF_HOME="$tmp/hf" MPLCONFIGDIR="$tmp/mpl"
mkdir -p "$HOME"
"${GESTSEARCH_PYTHON:-$VENV/bin/python}" -m pytest -q -p no:cacheprovider "$@"
