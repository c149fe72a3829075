#!/usr/bin/env bash
# The checks that need a GPU, prepared so that one short call on a CUDA machine runs them all.
#
#   bash scripts/gpu-checks.sh prepare   # here (network or /opt/wheels): wheels of the core, every plugin and the
#                                        # dependencies the GPU image lacks, into .gpu-wheels/ (git-ignored)
#   bash scripts/gpu-checks.sh run       # on the CUDA machine, with .gpu-wheels carried along: installs them into
#                                        # /tmp/site (its own torch stays), runs the CUDA tests and bench_gpu.py;
#                                        # logs and JSON go to $OUT (or ./gpu-checks-output)
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=.gpu-wheels
case "${1:-}" in
prepare)
    PYTHON="${PYTHON:-python3}"
    rm -rf "$WHEELS" && mkdir -p "$WHEELS"
    dirs=(.)
    for dir in plugins/*/; do
        case "$dir" in plugins/_*) continue ;; esac
        dirs+=("$dir")
    done
    "$PYTHON" -m pip wheel --quiet --no-deps -w "$WHEELS" "${dirs[@]}"
    # Pure-Python dependencies missing from the GPU image (its package list: /work/.library/device/KINDS.md).
    "$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: -d "$WHEELS" platformdirs
    ls "$WHEELS"
    ;;
run)
    out="${OUT:-gpu-checks-output}"
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$WHEELS"/*.whl
    export PYTHONPATH=/tmp/site PYTHONUNBUFFERED=1 OPENRETINA_NO_PROGRESS=1
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$out/gpu.txt"
    python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$out/gpu.txt"
    status=0
    python3 -m pytest -q -p no:cacheprovider -m cuda tests plugins 2>&1 | tee "$out/cuda-tests.log" || status=1
    python3 benchmarks/bench_gpu.py > "$out/bench_gpu.json" 2> "$out/bench_gpu.err" || status=1
    cat "$out/bench_gpu.json"
    exit "$status"
    ;;
*)
    echo "usage: bash scripts/gpu-checks.sh prepare|run" >&2
    exit 2
    ;;
esac
