#!/usr/bin/env bash
# The main job: install everything, then run the demo on every dataset's bundled synthetic sample.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dev.sh
. .venv/bin/activate
openretina-data demo --output "${DEMO_OUTPUT:-demo_output}" "$@"
