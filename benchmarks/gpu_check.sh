#!/usr/bin/env bash
# The GPU path checked in one run (benchmarks/gpu_check.py): model goldens on CUDA, GestSync
# frames/s, indexing of the demo archive against real time, search p50 at 1M clips; a JSON and
# Markdown report under $OUT (else benchmarks/out/gpu_check/). About 10 minutes at most.
#   bash benchmarks/gpu_check.sh               # on a CUDA machine, after `make setup`
#   bash benchmarks/gpu_check.sh --cpu-smoke   # tiny sizes on the CPU
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ ! -x "$VENV/bin/python" ]; then
    make setup VENV="$VENV" || { echo "gpu_check: no $VENV and \`make setup\` failed" >&2; exit 2; }
fi
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$VENV/bin/python" benchmarks/gpu_check.py "$@"
