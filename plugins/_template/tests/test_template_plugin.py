"""The template's own tests: the shared plugin contract."""

from openretina_core.testing import DatasetPluginContract


class TestMyLabContract(DatasetPluginContract):
    dataset_id = "my_lab_2025"
