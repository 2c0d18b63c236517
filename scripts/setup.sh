#!/usr/bin/env bash
# Installs everything gestsearch needs into a virtual environment in the repo.
# System packages (espeak-ng for synthetic speech, chromium for the report test) come from apt when missing.
set -euo pipefail
VENV=${1:-.venv}
need=()
command -v espeak-ng >/dev/null 2>&1 || need+=(espeak-ng)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "installing system packages: ${need[*]}"
        apt-get update -qq >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
        echo "warning: please install ${need[*]} (apt-get install ${need[*]}); related features are skipped" >&2
    fi
fi
# torch 2.11.0 from PyPI is the CUDA build: the environment takes about 6.5 GB, and pip needs room to
# unpack its largest wheels besides. Say so up front rather than as an OSError halfway through.
mkdir -p "$VENV"
free_kb=$(df -Pk "$VENV" | awk 'NR == 2 {print $4}')
if [ -n "$free_kb" ] && [ "$free_kb" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: $((free_kb / 1024)) MiB free where $VENV goes; installing needs about 8 GiB" >&2
fi
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
# No wheel cache: it would hold a second copy of the CUDA wheels.
pip=("$VENV/bin/python" -m pip install -q --no-cache-dir)
"${pip[@]}" --upgrade pip
"${pip[@]}" -e '.[dev,ray]'
# mediapipe 0.10.14 bundles its models (newer releases download them); its declared deps are not needed.
"${pip[@]}" --no-deps mediapipe==0.10.14
