"""openretina-core: data input/output for retina models.

Public API only. Importing this package discovers no plugins; the registry is built on first use. The code
lives in four wings and two faces (``docs/architecture.md``): ``registry`` (hooks, plugin manager, name tables,
specs), ``data`` (containers, movie dataset, loaders, cyclers, device), ``files`` (fetch, cache, archives),
``cli`` and ``testing``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:  # the names below, for type checkers; at run time they load on first access
    from openretina_core.data.base_dataloader import BaseDataLoader
    from openretina_core.data.containers import (
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        check_matching_stimulus,
    )
    from openretina_core.data.cyclers import LongCycler, ShortCycler, cycle
    from openretina_core.data.data_info import DatasetStatistics, compute_data_info, get_n_neurons_per_session
    from openretina_core.data.loaders import DataLoaders, multiple_movies_dataloaders
    from openretina_core.data.movie_dataset import DataPoint, MovieDataset
    from openretina_core.data.normalize import normalize_train_test_movies
    from openretina_core.data.registered import get_dataloaders
    from openretina_core.data.sampler import MovieSampler
    from openretina_core.files.download import fetch_dataset, prepare_dataset, verify_dataset
    from openretina_core.registry.errors import (
        BadArchiveError,
        BadArgumentError,
        BadDataError,
        BadFileError,
        DataIntegrityError,
        MissingFileError,
        OpenRetinaDataError,
        PluginError,
        UnknownOptionError,
    )
    from openretina_core.registry.hookspecs import hookimpl
    from openretina_core.registry.specs import (
        DatasetInfo,
        DatasetSpec,
        RemoteFile,
        StimulusSpec,
        SyntheticSample,
    )
    from openretina_core.registry.tables import dataset_info, get_stimulus, list_datasets, list_stimuli
    from openretina_core.store.by_name import prepare

# Importing the package imports neither torch nor h5py (a command-line call such as ``openretina-data list``
# starts in a fraction of a second); each name loads its module on first access.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "BaseDataLoader": "openretina_core.data.base_dataloader",
        "DataLoaders": "openretina_core.data.loaders",
        "DataPoint": "openretina_core.data.movie_dataset",
        "DatasetInfo": "openretina_core.registry.specs",
        "DatasetSpec": "openretina_core.registry.specs",
        "LongCycler": "openretina_core.data.cyclers",
        "MovieDataset": "openretina_core.data.movie_dataset",
        "MovieSampler": "openretina_core.data.sampler",
        "MoviesTrainTestSplit": "openretina_core.data.containers",
        "RemoteFile": "openretina_core.registry.specs",
        "ResponsesTrainTestSplit": "openretina_core.data.containers",
        "ShortCycler": "openretina_core.data.cyclers",
        "StimulusSpec": "openretina_core.registry.specs",
        "SyntheticSample": "openretina_core.registry.specs",
        "check_matching_stimulus": "openretina_core.data.containers",
        "compute_data_info": "openretina_core.data.data_info",
        "dataset_info": "openretina_core.registry.tables",
        "fetch_dataset": "openretina_core.files.download",
        "get_dataloaders": "openretina_core.data.registered",
        "get_stimulus": "openretina_core.registry.tables",
        "hookimpl": "openretina_core.registry.hookspecs",
        "list_datasets": "openretina_core.registry.tables",
        "list_stimuli": "openretina_core.registry.tables",
        "multiple_movies_dataloaders": "openretina_core.data.loaders",
        "normalize_train_test_movies": "openretina_core.data.normalize",
        "DatasetStatistics": "openretina_core.data.data_info",
        "get_n_neurons_per_session": "openretina_core.data.data_info",
        "cycle": "openretina_core.data.cyclers",
        "prepare_dataset": "openretina_core.files.download",
        "prepare": "openretina_core.store.by_name",
        "BadArchiveError": "openretina_core.registry.errors",
        "BadArgumentError": "openretina_core.registry.errors",
        "BadDataError": "openretina_core.registry.errors",
        "BadFileError": "openretina_core.registry.errors",
        "DataIntegrityError": "openretina_core.registry.errors",
        "MissingFileError": "openretina_core.registry.errors",
        "OpenRetinaDataError": "openretina_core.registry.errors",
        "PluginError": "openretina_core.registry.errors",
        "UnknownOptionError": "openretina_core.registry.errors",
        "verify_dataset": "openretina_core.files.download",
    },
)

__version__ = "0.1.0"

__all__ = [
    "BadArchiveError",
    "BadArgumentError",
    "BadDataError",
    "BadFileError",
    "BaseDataLoader",
    "DataIntegrityError",
    "DataLoaders",
    "DataPoint",
    "DatasetInfo",
    "DatasetSpec",
    "DatasetStatistics",
    "LongCycler",
    "MissingFileError",
    "MovieDataset",
    "MovieSampler",
    "MoviesTrainTestSplit",
    "OpenRetinaDataError",
    "PluginError",
    "RemoteFile",
    "ResponsesTrainTestSplit",
    "ShortCycler",
    "StimulusSpec",
    "SyntheticSample",
    "UnknownOptionError",
    "__version__",
    "check_matching_stimulus",
    "compute_data_info",
    "cycle",
    "dataset_info",
    "fetch_dataset",
    "get_dataloaders",
    "get_n_neurons_per_session",
    "get_stimulus",
    "hookimpl",
    "list_datasets",
    "list_stimuli",
    "multiple_movies_dataloaders",
    "normalize_train_test_movies",
    "prepare",
    "prepare_dataset",
    "verify_dataset",
]
