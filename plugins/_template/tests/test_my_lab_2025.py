"""The shared plugin contract of openretina-data, on this plugin's synthetic sample.

Run `pytest` after `pip install -e ".[test]"`. Add tests of your own readers here
(a real file's shapes, a damaged file's error) beside the contract.
"""

from openretina_core.testing import DatasetPluginContract


class TestContract(DatasetPluginContract):
    dataset_id = "my_lab_2025"
