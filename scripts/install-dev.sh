#!/usr/bin/env bash
# Create .venv (if needed) and install the core and every plugin of this repository, editable, with dev tools.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
export PIP_DISABLE_PIP_VERSION_CHECK=1
# torch first, pinned: a plain "torch" requirement would pull a multi-GB CUDA build where a CPU wheel is at hand.
if ! python -c "import torch" 2>/dev/null; then
    pip install --quiet "torch==2.13.0"
fi
plugin_args=()
for dir in plugins/*/; do
    case "$dir" in plugins/_*) continue ;; esac
    [ -f "$dir/pyproject.toml" ] && plugin_args+=(-e "$dir")
done
pip install --quiet -e ".[dev]" "${plugin_args[@]}"
