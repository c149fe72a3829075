"""The data wing: from arrays in memory to batches on a device.

Owns the containers (train/test splits of movies and responses), the movie dataset and its batch gather, the
sampler, the dataloader builder, ``LongCycler``/``ShortCycler``, ``BaseDataLoader``, data info, the device
placement, ``get_dataloaders`` (the front door from a registry name) and the LN-Poisson simulator that plugins'
synthetic samples use.

Imports: ``openretina_core.registry`` only (never ``files``, ``cli`` or ``testing``). Plugins import from this
module only: ``from openretina_core.data import multiple_movies_dataloaders, MoviesTrainTestSplit``.
"""

from typing import TYPE_CHECKING

from openretina_core.registry.lazy import lazy_exports

if TYPE_CHECKING:
    from openretina_core.data.arguments import check_index_list
    from openretina_core.data.base_dataloader import BaseDataLoader
    from openretina_core.data.compact import (
        COMPACT_DTYPES,
        STORE_DTYPES,
        CompactArray,
        StimulusMap,
        as_compact,
        check_store_dtype,
        keeps_compact,
        stimulus_map_of,
    )
    from openretina_core.data.compact_reads import read_frames_published
    from openretina_core.data.containers import (
        MoviesTrainTestSplit,
        ResponsesTrainTestSplit,
        all_finite,
        as_float32,
        check_matching_stimulus,
    )
    from openretina_core.data.cyclers import LongCycler, ShortCycler, cycle, iter_batches
    from openretina_core.data.data_info import DatasetStatistics, compute_data_info, get_n_neurons_per_session
    from openretina_core.data.device import DeviceDataLoader, resolve_device, to_device
    from openretina_core.data.fixation_movies import (
        StreamedFrames,
        grid_frames,
        image_blocks,
        image_groups,
        window_frames,
    )
    from openretina_core.data.h5blocks import (
        RunningMoments,
        frame_blocks,
        read_float32,
        read_frames,
        require_dataset,
    )
    from openretina_core.data.loaders import (
        NAN_POLICIES,
        DataLoaders,
        MovieStore,
        apply_nan_policy,
        choose_validation_clips,
        distributed_context,
        multiple_movies_dataloaders,
        responses_time_major,
        test_batch_size,
    )
    from openretina_core.data.movie_dataset import DataPoint, MovieDataset
    from openretina_core.data.normalize import (
        movie_statistics,
        normalize_train_test_movies,
        zscore_in_place,
        zscore_movies_in_place,
    )
    from openretina_core.data.reading import MissingKeyError, UnreadableFileError, load_npy, open_hdf5
    from openretina_core.data.registered import get_dataloaders
    from openretina_core.data.safe_pickle import UnsafePickleError, file_sha256, load_pickle, verify_sha256
    from openretina_core.data.sampler import MovieSampler, make_movie_dataloader
    from openretina_core.data.simulate import (
        LNPModel,
        filter_correlation,
        make_lnp_model,
        simulate_responses,
        spike_triggered_average,
    )
    from openretina_core.data.types import SessionBatch, SessionLoader, SplitLoaders
    from openretina_core.data.values import (
        check_finite,
        check_movie_moments,
        check_real_dtype,
        count_nonfinite,
        nonfinite_mask,
        surely_finite,
    )

_EXPORTS = {
    **dict.fromkeys(
        ["RunningMoments", "frame_blocks", "read_float32", "read_frames", "require_dataset"], ".h5blocks"
    ),
    "BaseDataLoader": ".base_dataloader",
    "check_index_list": ".arguments",
    **dict.fromkeys(
        ["StreamedFrames", "grid_frames", "image_blocks", "image_groups", "window_frames"], ".fixation_movies"
    ),
    **dict.fromkeys(
        [
            "COMPACT_DTYPES",
            "STORE_DTYPES",
            "CompactArray",
            "StimulusMap",
            "check_store_dtype",
            "as_compact",
            "keeps_compact",
            "stimulus_map_of",
        ],
        ".compact",
    ),
    "read_frames_published": ".compact_reads",
    **dict.fromkeys(
        [
            "MoviesTrainTestSplit",
            "ResponsesTrainTestSplit",
            "all_finite",
            "as_float32",
            "check_matching_stimulus",
        ],
        ".containers",
    ),
    **dict.fromkeys(["LongCycler", "ShortCycler", "cycle", "iter_batches"], ".cyclers"),
    **dict.fromkeys(["DatasetStatistics", "compute_data_info", "get_n_neurons_per_session"], ".data_info"),
    **dict.fromkeys(["DeviceDataLoader", "resolve_device", "to_device"], ".device"),
    **dict.fromkeys(
        [
            "NAN_POLICIES",
            "DataLoaders",
            "MovieStore",
            "apply_nan_policy",
            "choose_validation_clips",
            "distributed_context",
            "multiple_movies_dataloaders",
            "responses_time_major",
            "test_batch_size",
        ],
        ".loaders",
    ),
    **dict.fromkeys(["DataPoint", "MovieDataset"], ".movie_dataset"),
    **dict.fromkeys(
        ["movie_statistics", "normalize_train_test_movies", "zscore_in_place", "zscore_movies_in_place"],
        ".normalize",
    ),
    **dict.fromkeys(["MissingKeyError", "UnreadableFileError", "load_npy", "open_hdf5"], ".reading"),
    **dict.fromkeys(["UnsafePickleError", "file_sha256", "load_pickle", "verify_sha256"], ".safe_pickle"),
    "get_dataloaders": ".registered",
    **dict.fromkeys(["MovieSampler", "make_movie_dataloader"], ".sampler"),
    **dict.fromkeys(
        ["LNPModel", "filter_correlation", "make_lnp_model", "simulate_responses", "spike_triggered_average"],
        ".simulate",
    ),
    **dict.fromkeys(["SessionBatch", "SessionLoader", "SplitLoaders"], ".types"),
    **dict.fromkeys(
        [
            "check_finite",
            "check_movie_moments",
            "check_real_dtype",
            "count_nonfinite",
            "nonfinite_mask",
            "surely_finite",
        ],
        ".values",
    ),
}
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
__all__ = [
    "COMPACT_DTYPES",
    "NAN_POLICIES",
    "STORE_DTYPES",
    "BaseDataLoader",
    "CompactArray",
    "DataLoaders",
    "DataPoint",
    "DatasetStatistics",
    "DeviceDataLoader",
    "LNPModel",
    "LongCycler",
    "MissingKeyError",
    "MovieDataset",
    "MovieSampler",
    "MovieStore",
    "MoviesTrainTestSplit",
    "ResponsesTrainTestSplit",
    "RunningMoments",
    "SessionBatch",
    "SessionLoader",
    "ShortCycler",
    "SplitLoaders",
    "StimulusMap",
    "StreamedFrames",
    "UnreadableFileError",
    "UnsafePickleError",
    "all_finite",
    "apply_nan_policy",
    "as_compact",
    "as_float32",
    "check_finite",
    "check_index_list",
    "check_matching_stimulus",
    "check_movie_moments",
    "check_real_dtype",
    "check_store_dtype",
    "choose_validation_clips",
    "compute_data_info",
    "count_nonfinite",
    "cycle",
    "distributed_context",
    "file_sha256",
    "filter_correlation",
    "frame_blocks",
    "get_dataloaders",
    "get_n_neurons_per_session",
    "grid_frames",
    "image_blocks",
    "image_groups",
    "iter_batches",
    "keeps_compact",
    "load_npy",
    "load_pickle",
    "make_lnp_model",
    "make_movie_dataloader",
    "movie_statistics",
    "multiple_movies_dataloaders",
    "nonfinite_mask",
    "normalize_train_test_movies",
    "open_hdf5",
    "read_float32",
    "read_frames",
    "read_frames_published",
    "require_dataset",
    "resolve_device",
    "responses_time_major",
    "simulate_responses",
    "spike_triggered_average",
    "stimulus_map_of",
    "surely_finite",
    "test_batch_size",
    "to_device",
    "verify_sha256",
    "window_frames",
    "zscore_in_place",
    "zscore_movies_in_place",
]
