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
# Every plugin's package (add each new plugin here).
typed_plugins=(
    plugins/_template/openretina_my_lab_2025
    plugins/openretina-goldin-2022/openretina_goldin_2022
    plugins/openretina-hdf5/openretina_hdf5
    plugins/openretina-hoefling-2024/openretina_hoefling_2024
    plugins/openretina-karamanlis-2024/openretina_karamanlis_2024
    plugins/openretina-maheswaranathan-2023/openretina_maheswaranathan_2023
    plugins/openretina-sridhar-2025/openretina_sridhar_2025
    plugins/openretina-stimuli/openretina_stimuli
)
mypy "${typed_plugins[@]}"
set +e
python -m pytest -q "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: treating as a failure of the test setup" >&2
    exit 1
fi
exit "$status"
