"""openretina-core: data input/output for retina models.

Public API only. Importing this package discovers no plugins; the registry is built on first use.
"""

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
