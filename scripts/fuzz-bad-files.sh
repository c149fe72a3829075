#!/usr/bin/env bash
# The damaged-file fuzz test with many random examples per dataset (CI runs a few fixed ones).
# Usage: bash scripts/fuzz-bad-files.sh [examples per dataset, default 200] [pytest arguments, e.g. -k hoefling]
# Each dataset's examples run as one pytest item, so the per-test timeout is off here (60 Karamanlis examples
# take over 300 s on a busy 2-core machine).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
export OPENRETINA_FUZZ_EXAMPLES="${1:-200}" OPENRETINA_FUZZ_RANDOM=1 OPENRETINA_NO_PROGRESS=1 MPLBACKEND=Agg
shift || true
python -m pytest -q -p no:cacheprovider --timeout=0 tests/test_fuzz_bad_files.py -W ignore::UserWarning \
    -W ignore::hypothesis.errors.HypothesisWarning "$@"
