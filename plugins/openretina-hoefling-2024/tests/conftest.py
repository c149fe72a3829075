"""Synthetic Höfling 2024 files, written once per test session (they take about a second)."""

from __future__ import annotations

from pathlib import Path

import pytest

from openretina_core.registry import SyntheticSample


@pytest.fixture(scope="session")
def hoefling_sample(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    """The default sample: 4 fields, 3 clip orders, both eyes, the errata field, both time layouts."""
    from openretina_hoefling_2024.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("hoefling_sample"), seed=0)


@pytest.fixture(scope="session")
def hoefling_single_sequence(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    """A sample whose stimulus pickle has no ``random_sequences`` (one clip order for every field)."""
    from openretina_hoefling_2024.sample import write_sample

    return write_sample(tmp_path_factory.mktemp("hoefling_single"), seed=1, n_sequences=None)


@pytest.fixture(scope="session")
def hoefling_responses_file(hoefling_sample: SyntheticSample) -> Path:
    from openretina_hoefling_2024 import constants

    return Path(hoefling_sample.data_dir) / constants.RESPONSES_FILE
