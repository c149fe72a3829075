"""openretina-core: data input/output for retina models.

Public API only. Importing this package discovers no plugins; the registry is built on first use.
"""

from typing import TYPE_CHECKING

from openretina_core.lazy import lazy_exports

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first access
    from openretina_core.api import dataset_info, get_dataloaders, get_stimulus
    from openretina_core.base_dataloader import BaseDataLoader
    from openretina_core.containers import (
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        check_matching_stimulus,
        normalize_train_test_movies,
    )
    from openretina_core.cyclers import LongCycler, ShortCycler
    from openretina_core.data_info import compute_data_info
    from openretina_core.download import fetch_dataset, prepare_dataset, verify_dataset
    from openretina_core.hookspecs import hookimpl
    from openretina_core.info import DatasetInfo, DatasetSpec, RemoteFile, StimulusSpec, SyntheticSample
    from openretina_core.loaders import DataLoaders, multiple_movies_dataloaders
    from openretina_core.movie_dataset import DataPoint, MovieDataset, MovieSampler
    from openretina_core.registry import list_datasets, list_stimuli

# Importing the package imports neither torch nor h5py (a command-line call such as ``openretina-data list``
# starts in a fraction of a second); each name loads its module on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BaseDataLoader": "openretina_core.base_dataloader",
        "DataLoaders": "openretina_core.loaders",
        "DataPoint": "openretina_core.movie_dataset",
        "DatasetInfo": "openretina_core.info",
        "DatasetSpec": "openretina_core.info",
        "LongCycler": "openretina_core.cyclers",
        "MovieDataset": "openretina_core.movie_dataset",
        "MovieSampler": "openretina_core.movie_dataset",
        "MoviesTrainTestSplit": "openretina_core.containers",
        "RemoteFile": "openretina_core.info",
        "ResponsesTrainTestSplit": "openretina_core.containers",
        "ShortCycler": "openretina_core.cyclers",
        "StimulusSpec": "openretina_core.info",
        "SyntheticSample": "openretina_core.info",
        "check_matching_stimulus": "openretina_core.containers",
        "compute_data_info": "openretina_core.data_info",
        "dataset_info": "openretina_core.api",
        "fetch_dataset": "openretina_core.download",
        "get_dataloaders": "openretina_core.api",
        "get_stimulus": "openretina_core.api",
        "hookimpl": "openretina_core.hookspecs",
        "list_datasets": "openretina_core.registry",
        "list_stimuli": "openretina_core.registry",
        "multiple_movies_dataloaders": "openretina_core.loaders",
        "normalize_train_test_movies": "openretina_core.containers",
        "prepare_dataset": "openretina_core.download",
        "verify_dataset": "openretina_core.download",
    },
)

__version__ = "0.1.0"

__all__ = [
    "BaseDataLoader",
    "DataLoaders",
    "DataPoint",
    "DatasetInfo",
    "DatasetSpec",
    "LongCycler",
    "MovieDataset",
    "MovieSampler",
    "MoviesTrainTestSplit",
    "RemoteFile",
    "ResponsesTrainTestSplit",
    "ShortCycler",
    "StimulusSpec",
    "SyntheticSample",
    "__version__",
    "check_matching_stimulus",
    "compute_data_info",
    "dataset_info",
    "fetch_dataset",
    "get_dataloaders",
    "get_stimulus",
    "hookimpl",
    "list_datasets",
    "list_stimuli",
    "multiple_movies_dataloaders",
    "normalize_train_test_movies",
    "prepare_dataset",
    "verify_dataset",
]
