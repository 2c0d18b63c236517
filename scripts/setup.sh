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
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q -e '.[dev,ray]'
# mediapipe 0.10.14 bundles its models (newer releases download them); its declared deps are not needed.
"$VENV/bin/python" -m pip install -q --no-deps mediapipe==0.10.14
