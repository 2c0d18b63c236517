#!/usr/bin/env bash
# The GPU path checked in one run (benchmarks/gpu_check.py): model goldens on CUDA, GestSync
# frames/s, indexing of the demo archive against real time, search p50 at 1M clips; a JSON and
# Markdown report under $OUT (else benchmarks/out/gpu_check/). About 10 minutes at most.
#   bash benchmarks/gpu_check.sh               # on a CUDA machine, after `make setup`
#   bash benchmarks/gpu_check.sh --cpu-smoke   # tiny sizes on the CPU
# Python: $GESTSEARCH_PYTHON if set, else the repo's venv, else a python3 that already has torch (a CUDA image
# with no package registry: GESTSEARCH_BUNDLE then names a folder of gpu_bundle.sh parts, unpacked
# here for the rest), else `make setup` builds the venv.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
if [ -z "${GESTSEARCH_PYTHON:-}" ]; then
    if [ -x "$VENV/bin/python" ]; then
        GESTSEARCH_PYTHON=$VENV/bin/python
    elif python3 -c "import torch" 2>/dev/null; then
        GESTSEARCH_PYTHON=python3
    else
        make setup VENV="$VENV" || { echo "gpu_check: no $VENV and \`make setup\` failed" >&2; exit 2; }
        GESTSEARCH_PYTHON=$VENV/bin/python
    fi
fi
if [ -n "${GESTSEARCH_BUNDLE:-}" ]; then
    site=${TMPDIR:-/tmp}/gestsearch-site
    rm -rf "$site" && mkdir -p "$site"
    cat "$GESTSEARCH_BUNDLE"/gestsearch-site.tar.xz.part-* | "$GESTSEARCH_PYTHON" -c '
import sys, tarfile
try:
    tarfile.open(fileobj=sys.stdin.buffer, mode="r|xz").extractall(sys.argv[1], filter="tar")
except Exception as e:
    sys.exit(f"gpu_check: could not unpack the bundle in {sys.argv[2]}: {e}")' "$site" "$GESTSEARCH_BUNDLE" || exit 2
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
fi
# The repo itself is importable without an editable install.
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" GESTSEARCH_PYTHON
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec "$GESTSEARCH_PYTHON" benchmarks/gpu_check.py "$@"
