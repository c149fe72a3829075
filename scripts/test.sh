#!/usr/bin/env bash
# Install everything, then lint, type-check and run the whole test suite (core and every plugin).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-dev.sh
. .venv/bin/activate
export OPENRETINA_STRICT_PLUGINS=1 OPENRETINA_NO_PROGRESS=1 MPLBACKEND=Agg
ruff check .
ruff format --check .
mypy openretina_core
set +e
python -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating as a failure of the test setup" >&2
    exit 1
fi
exit "$status"
