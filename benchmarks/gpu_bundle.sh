#!/usr/bin/env bash
# Packs what a CUDA image without a package registry lacks for benchmarks/gpu_check.sh: the packages
# gestsearch needs beyond torch, transformers, numpy, pyarrow, OpenCV, typer and rich (which such
# images carry), for one Python version, as one xz stream split into parts small enough to send one
# per call. gpu_check.sh unpacks the parts when GESTSEARCH_BUNDLE names the folder holding them.
#   bash benchmarks/gpu_bundle.sh 3.12 .gpu 3      # Python version, output folder, number of parts
set -euo pipefail
PY_VERSION=${1:?Python version of the target, e.g. 3.12}
OUT=${2:?output folder}
PARTS=${3:-3}
# MediaPipe's own dependencies come too: any import under `mediapipe` runs its package __init__, which
# imports every solution's drawing helpers (matplotlib.pyplot) and the tasks API (absl, attrs, flatbuffers).
# torchaudio (the mel filterbank of the speech path) matches the images' torch 2.11 builds; their python3 may lack it.
PACKAGES=(lancedb==0.40.0 lance-namespace==0.13.0 lance-namespace-urllib3-client==0.13.0 deprecation==2.1.0
          pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
          faiss-cpu==1.15.1 av==18.1.0 mediapipe==0.10.14 protobuf==4.25.9
          absl-py==2.5.1 attrs==26.1.0 flatbuffers==25.12.19 matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1
          fonttools==4.68.0 kiwisolver==1.5.1 pillow==13.0.0 pyparsing==3.3.3 python-dateutil==4.0.0 six==1.17.0
          torchaudio==2.11.0)
PLATFORMS=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
           --platform manylinux2014_x86_64)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m pip install -q --no-deps --no-compile --only-binary=:all: --implementation cp --python-version "$PY_VERSION" \
    "${PLATFORMS[@]}" --target "$work/site" "${PACKAGES[@]}"
# MediaPipe's models that indexing never loads (it uses face detection and the plain face mesh):
# without them the bundle fits three sends. Their Python modules stay: mediapipe.python.solutions
# imports every solution.
modules="$work/site/mediapipe/modules"
find "$modules"/{pose_landmark,pose_detection,hand_landmark,palm_detection,iris_landmark,selfie_segmentation} \
     "$modules"/{holistic_landmark,objectron} "$modules/face_landmark/face_landmark_with_attention.tflite" \
     -name '*.tflite' -delete
rm -rf "$work/site/mpl_toolkits" "$work/site/matplotlib/mpl-data/sample_data"  # pyplot's import needs neither
find "$work/site" -name __pycache__ -prune -exec rm -rf {} +
find "$work/site" -path '*dist-info/sboms' -prune -exec rm -rf {} +
mkdir -p "$OUT"
rm -f "$OUT"/gestsearch-site.tar.xz.part-*
tar -C "$work/site" -cf - . | xz -9 -T0 >"$work/site.tar.xz"
split -n "$PARTS" "$work/site.tar.xz" "$OUT/gestsearch-site.tar.xz.part-"
ls -l "$OUT"/gestsearch-site.tar.xz.part-*
