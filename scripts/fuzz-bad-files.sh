#!/usr/bin/env bash
# The damaged-file fuzz test with many random examples per dataset (CI runs a few fixed ones).
# Usage: bash scripts/fuzz-bad-files.sh [examples per dataset, default 200]
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OPENRETINA_FUZZ_EXAMPLES="${1:-200}" OPENRETINA_FUZZ_RANDOM=1 OPENRETINA_NO_PROGRESS=1 MPLBACKEND=Agg
python -m pytest -q -p no:cacheprovider tests/test_fuzz_bad_files.py -W ignore::UserWarning
