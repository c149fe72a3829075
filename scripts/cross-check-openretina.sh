#!/usr/bin/env bash
# Cross-check every dataset plugin's synthetic sample against openretina 1.1.1's own readers.
#
# Builds a separate venv (.venv-openretina/, never the project's .venv) holding openretina==1.1.1 without its
# dependency list, only what its data_io readers import, plus this repository's core and plugins (editable),
# then runs scripts/cross_check_openretina.py, which writes each sample, loads it with both libraries and prints
# one table per dataset. Heavy (torch in a second venv, minutes of composing); not part of CI.
#
#   scripts/cross-check-openretina.sh                       # every dataset
#   scripts/cross-check-openretina.sh --datasets hoefling_2024 --keep /tmp/xcheck
#
# Environment: CROSS_CHECK_VENV (default .venv-openretina), PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${CROSS_CHECK_VENV:-.venv-openretina}"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"

# pip, without the noise of this setup: openretina's declared dependencies are left out on purpose, so pip's
# "openretina 1.1.1 requires X, which is not installed" lines are expected (and so are ignored local indexes).
pip_install() {
    local status=0
    "$PY" -m pip install --quiet "$@" 2>&1 | {
        grep -v -E "^WARNING: Location '.*' is ignored|^openretina 1\.1\.1 requires |^ERROR: pip's dependency resolver does not currently" || true
    } || status=$?
    return "$status"
}

# torch first, pinned: the CPU wheel on this disk (a plain "torch" requirement would pull a multi-GB CUDA build).
if ! "$PY" -c "import torch" 2>/dev/null; then
    pip_install "torch==2.13.0"
fi

# openretina itself without its dependency list (lightning, hydra, wandb, mlflow, jupyter, torchvision, ...).
pip_install --no-deps "openretina==1.1.1"
# What openretina.data_io (hoefling_2024, karamanlis_2024, maheswaranathan_2023, goldin_2022, h5_dataset_reader,
# base, base_dataloader) imports at module level, and what the openretina.utils modules they import bring along: file_utils, h5_handling, misc,
# and utils/__init__.py, which imports utils.plotting (cv2, matplotlib, seaborn, IPython, moviepy, scipy).
# torchvision is left out on purpose: PyPI's torchvision wheels link torch's CUDA libraries and do not import
# beside the CPU torch; the helper stands in for the one thing openretina uses (transforms.Resize on tensors).
pip_install numpy h5py einops jaxtyping tqdm psutil requests tenacity "huggingface_hub>=0.25" omegaconf pyyaml \
    scipy matplotlib seaborn opencv-python-headless ipython "moviepy>=2.0.0"

# This repository's core and dataset plugins, editable, with their dependencies (torch is already satisfied).
plugin_args=()
for dir in plugins/*/; do
    case "$dir" in plugins/_*) continue ;; esac
    [ -f "$dir/pyproject.toml" ] && plugin_args+=(-e "$dir")
done
pip_install -e . "${plugin_args[@]}"

exec "$PY" scripts/cross_check_openretina.py "$@"
