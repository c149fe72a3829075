"""Code written for openretina 1.1.1 (``openretina.data_io.base``, ``base_dataloader``, ``cyclers``) runs here:
every public name, constructor form, attribute, method and keyword name, with openretina's meaning. Where our
behaviour differs on purpose the test says so (``docs/coming-from-openretina.md`` has the table)."""

from __future__ import annotations

import inspect
import pickle
import warnings

import numpy as np
import pytest
import torch

import openretina_core as orc
from openretina_core import (
    DatasetStatistics,
    LongCycler,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    ShortCycler,
    compute_data_info,
    get_n_neurons_per_session,
    multiple_movies_dataloaders,
    normalize_train_test_movies,
)
from openretina_core.data import UnsafePickleError, choose_validation_clips

# The public names of openretina 1.1.1's data_io/base.py and cyclers.py (facts read from its source).
OPENRETINA_BASE_NAMES = [
    "MoviesTrainTestSplit",
    "ResponsesTrainTestSplit",
    "get_n_neurons_per_session",
    "DatasetStatistics",
    "normalize_train_test_movies",
    "compute_data_info",
]
OPENRETINA_CYCLER_NAMES = ["cycle", "LongCycler", "ShortCycler"]
# Keyword names of openretina 1.1.1's multiple_movies_dataloaders and compute_data_info.
MULTIPLE_MOVIES_KEYWORDS = [
    "neuron_data_dictionary",
    "movies_dictionary",
    "train_chunk_size",
    "batch_size",
    "seed",
    "clip_length",
    "num_val_clips",
    "val_clip_indices",
    "allow_over_boundaries",
]
COMPUTE_DATA_INFO_KEYWORDS = ["neuron_data_dictionary", "movies_dictionary", "partial_data_info"]

rng = np.random.default_rng(0)
TRAIN = rng.standard_normal((3, 100, 8, 8)).astype(np.float32)
TEST = rng.standard_normal((3, 50, 8, 8)).astype(np.float32)
RESP_TRAIN = rng.standard_normal((10, 100)).astype(np.float32)
RESP_TEST = rng.standard_normal((10, 50)).astype(np.float32)


@pytest.mark.parametrize("name", OPENRETINA_BASE_NAMES + OPENRETINA_CYCLER_NAMES)
def test_every_public_name_is_importable_from_the_package(name: str) -> None:
    assert getattr(orc, name) is not None


@pytest.mark.parametrize(
    ("function", "keywords"),
    [
        (multiple_movies_dataloaders, MULTIPLE_MOVIES_KEYWORDS),
        (compute_data_info, COMPUTE_DATA_INFO_KEYWORDS),
    ],
)
def test_keyword_names_are_openretinas_in_its_order(function, keywords) -> None:
    parameters = list(inspect.signature(function).parameters)
    assert parameters[: len(keywords)] == keywords


def test_movies_accept_test_or_test_dict_exactly_one() -> None:
    single = MoviesTrainTestSplit(train=TRAIN, test=TEST)
    assert list(single.test_dict) == ["test"] and np.array_equal(single.test_movie, TEST)
    assert single.test_shape == (3, 50, 8, 8)
    two = MoviesTrainTestSplit(TRAIN, {"a": TEST, "b": TEST[:, :20]})
    assert two.test_shape == (3, 50, 8, 8), "T is the longest test stimulus"
    with pytest.raises(ValueError, match="Multiple test stimuli present"):
        _ = two.test_movie
    with pytest.raises(ValueError, match="Exactly one of test_dict and test should be set"):
        MoviesTrainTestSplit(train=TRAIN, test=TEST, test_dict={"other": TEST})
    with pytest.raises(ValueError, match=r"test_dict\['test'\]: expected shape \(3, T_test, 8, 8\)"):
        MoviesTrainTestSplit(train=TRAIN, test=np.zeros((2, 50, 8, 8)))  # openretina: AssertionError
    # Ours on purpose: a session without test stimulus is allowed (chirp, moving bar), openretina raises.
    assert MoviesTrainTestSplit(train=TRAIN).test_dict == {}
    with pytest.raises(ValueError, match="No test stimuli present"):
        _ = MoviesTrainTestSplit(train=TRAIN).test_shape


def test_openretina_positional_order() -> None:
    movies = MoviesTrainTestSplit(TRAIN, None, TEST, "natural", None, 0.5, 2.0)
    assert movies.stim_id == "natural" and movies.norm_mean == 0.5 and movies.norm_std == 2.0
    responses = ResponsesTrainTestSplit(RESP_TRAIN, None, RESP_TEST, None, None, "natural", {"eye": "left"})
    assert responses.stim_id == "natural" and responses.session_kwargs == {"eye": "left"}


def test_transposed_arrays_are_warned_about() -> None:
    with pytest.warns(UserWarning, match="more channels"):
        MoviesTrainTestSplit(train=np.zeros((3, 2, 4, 4)), test=np.zeros((3, 5, 4, 4)))
    with pytest.warns(UserWarning, match="more neurons"):
        ResponsesTrainTestSplit(train=np.zeros((10, 5)), test=np.zeros((10, 50)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        MoviesTrainTestSplit(train=TRAIN, test=TEST)


def test_responses_accept_openretinas_spellings() -> None:
    trials = rng.standard_normal((4, 10, 50)).astype(np.float32)
    responses = ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST, test_by_trial=trials)
    assert np.array_equal(responses.test_response, RESP_TEST) and responses.test_neurons == 10
    assert responses.n_neurons == 10
    assert (
        np.array_equal(responses.get_test_by_trial(), trials) and responses.get_test_by_trial("other") is None
    )
    assert np.array_equal(responses.test_by_trial, trials)
    with pytest.raises(ValueError, match="Exactly one of test_dict and test should be set"):
        ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST, test_dict={"x": RESP_TEST})
    with pytest.raises(ValueError, match="test_by_trial needs exactly one test stimulus"):
        ResponsesTrainTestSplit(
            train=RESP_TRAIN, test_dict={"a": RESP_TEST, "b": RESP_TEST}, test_by_trial=trials
        )
    with pytest.raises(ValueError, match=r"test_dict\['test'\]: expected shape \(10, T_test\)"):
        ResponsesTrainTestSplit(train=RESP_TRAIN, test=np.zeros((5, 50)))  # openretina: AssertionError
    two = ResponsesTrainTestSplit(train=RESP_TRAIN, test_dict={"a": RESP_TEST, "b": RESP_TEST})
    with pytest.raises(KeyError, match="2 test stimuli"):  # openretina: ValueError("Multiple test stimuli")
        _ = two.test_response


def test_check_matching_stimulus_method_and_stim_ids() -> None:
    movies = MoviesTrainTestSplit(train=TRAIN, test=TEST, stim_id="natural")
    ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST).check_matching_stimulus(movies)
    with pytest.raises(ValueError, match="train movie has 100 frames but train responses have 90 bins"):
        ResponsesTrainTestSplit(train=RESP_TRAIN[:, :90], test=RESP_TEST).check_matching_stimulus(movies)
    with pytest.raises(ValueError, match="test stimuli differ"):
        ResponsesTrainTestSplit(train=RESP_TRAIN, test_dict={"x": RESP_TEST}).check_matching_stimulus(movies)
    with pytest.raises(ValueError, match="Stimulus ID in responses and movies do not match"):
        ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST, stim_id="chirp").check_matching_stimulus(
            movies
        )


def test_from_pickle_reads_openretinas_layout_with_the_restricted_unpickler(tmp_path) -> None:
    path = tmp_path / "movies.pkl"
    content = {
        "train": TRAIN,
        "test": TEST,
        "random_sequences": np.array([[1, 0], [0, 1]]),
        "movie_stats": {"dichromatic": {"mean": np.array([0.5]), "sd": np.array([1.2])}},
    }
    path.write_bytes(pickle.dumps(content))
    movies = MoviesTrainTestSplit.from_pickle(path)
    assert np.array_equal(movies.train, TRAIN) and np.array_equal(movies.test_movie, TEST)
    assert movies.norm_mean == 0.5 and movies.norm_std == pytest.approx(1.2)
    assert movies.random_sequences.tolist() == [[1, 0], [0, 1]]

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    bad = tmp_path / "evil.pkl"
    bad.write_bytes(pickle.dumps({"train": TRAIN, "test": Evil()}))
    with pytest.raises(UnsafePickleError, match="refused to load global builtins.print"):
        MoviesTrainTestSplit.from_pickle(bad)
    wrong = tmp_path / "wrong.pkl"
    wrong.write_bytes(pickle.dumps({"movie": TRAIN}))
    with pytest.raises(
        ValueError, match=r"expected a dict with keys 'train' and 'test', received \['movie'\]"
    ):
        MoviesTrainTestSplit.from_pickle(wrong)


def test_get_n_neurons_per_session_and_dataset_statistics() -> None:
    responses = {
        "a": ResponsesTrainTestSplit(train=np.zeros((10, 100)), test=np.zeros((10, 50))),
        "b": ResponsesTrainTestSplit(train=np.zeros((15, 100)), test=np.zeros((15, 50))),
    }
    assert get_n_neurons_per_session(responses) == {"a": 10, "b": 15}
    empty = DatasetStatistics.empty()
    assert (empty.unique_train_frames, empty.unique_test_frames, empty.n_sessions) == (0, {}, 0)


def test_normalize_train_test_movies_has_openretinas_signature() -> None:
    train = (TRAIN * 3 + 7).astype(np.float32)
    test = (TEST * 3 + 7).astype(np.float32)
    before = train.copy()
    train_z, test_z, stats = normalize_train_test_movies(train, test)
    assert np.array_equal(train, before), "the inputs are not modified"
    reference = torch.from_numpy(train)
    mean, std = reference.mean().item(), reference.std().item()  # what openretina computes
    assert stats["norm_mean"] == pytest.approx(mean, rel=1e-5) and stats["norm_std"] == pytest.approx(
        std, rel=1e-5
    )
    np.testing.assert_allclose(train_z, (train - mean) / std, atol=1e-5)
    np.testing.assert_allclose(test_z, (test - mean) / std, atol=1e-5)
    assert train_z.dtype == np.float32 and test_z.dtype == np.float32


def test_compute_data_info_with_openretinas_keywords() -> None:
    movies = MoviesTrainTestSplit(train=TRAIN, test=TEST, norm_mean=0.5, norm_std=2.0)
    responses = {
        "s": ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST, session_kwargs={"eye": "left"})
    }
    info = compute_data_info(
        neuron_data_dictionary=responses, movies_dictionary=movies, partial_data_info={"rate_hz": 30}
    )
    assert info["n_neurons_dict"] == {"s": 10} and info["input_shape"] == (3, 8, 8)
    assert info["stim_mean"] == 0.5 and info["stim_std"] == 2.0 and info["rate_hz"] == 30
    assert info["sessions_kwargs"] == {"s": {"eye": "left"}}
    assert torch.allclose(info["mean_activity_dict"]["s"], torch.from_numpy(RESP_TRAIN.mean(axis=1)))


def test_long_cycler_has_max_batches_and_openretinas_constructor() -> None:
    loaders = {"a": [1, 2, 3], "b": [4]}
    cycler = LongCycler(loaders, shuffle=False)
    assert cycler.max_batches == 3 and len(cycler) == 6 and cycler.shuffle is False
    assert [k for k, _ in cycler] == ["a", "b", "a", "b", "a", "b"]
    assert sorted(batch for _, batch in ShortCycler(loaders)) == [1, 2, 3, 4]


# np.random.RandomState(seed).choice(num_clips, num_val_clips, replace=False), as openretina 1.1.1's
# multiple_movies_dataloaders draws validation clips; values written down as facts.
OPENRETINA_DRAWS = [
    (42, 30, 5, [27, 15, 23, 17, 8]),
    (0, 30, 5, [2, 28, 13, 10, 26]),
    (7, 108, 10, [51, 84, 65, 93, 46, 45, 66, 76, 13, 52]),
    (42, 100, 10, [83, 53, 70, 45, 44, 39, 22, 80, 10, 0]),
    (123, 12, 3, [5, 0, 4]),
    (2**31 - 1, 50, 7, [31, 49, 35, 8, 7, 4, 24]),
]


@pytest.mark.parametrize(("seed", "num_clips", "num_val", "expected"), OPENRETINA_DRAWS)
def test_openretina_split_reproduces_its_validation_clips(seed, num_clips, num_val, expected) -> None:
    chosen = choose_validation_clips(num_clips, num_val, None, seed, "s", split="openretina")
    assert chosen.tolist() == expected
    ours = choose_validation_clips(num_clips, num_val, None, seed, "s")
    assert ours.tolist() == sorted(ours.tolist()), "our default is sorted"


def test_builder_serves_openretinas_clips_in_openretinas_order() -> None:
    clip, n_clips = 10, 30
    frames = np.arange(clip * n_clips, dtype=np.float32)
    movies = MoviesTrainTestSplit(
        train=frames[None, :, None, None].repeat(2, axis=2), test=np.zeros((1, 20, 2, 1))
    )
    responses = {"s": ResponsesTrainTestSplit(train=np.stack([frames, frames]), test=np.zeros((2, 20)))}
    loaders = multiple_movies_dataloaders(
        responses,
        movies,
        train_chunk_size=5,
        batch_size=2,
        seed=42,
        clip_length=clip,
        num_val_clips=5,
        split="openretina",
    )
    assert loaders.data_info["val_clip_indices"] == {"s": [27, 15, 23, 17, 8]}
    served = [
        int(inputs[b, 0, 0, 0, 0]) // clip
        for inputs, _ in loaders["validation"]["s"]
        for b in range(len(inputs))
    ]
    assert served == [27, 15, 23, 17, 8]
    train_frames = loaders["train"]["s"].dataset.movie_index.tolist()
    assert sorted({f // clip for f in train_frames}) == [
        c for c in range(n_clips) if c not in {27, 15, 23, 17, 8}
    ]
    with pytest.raises(
        ValueError, match=r"split must be one of \('seeded', 'openretina'\), received 'random'"
    ):
        multiple_movies_dataloaders(responses, movies, clip_length=clip, num_val_clips=5, split="random")


def test_deliberate_differences_in_the_containers() -> None:
    """Rows of docs/coming-from-openretina.md: `.test` is the single test movie (openretina: None), containers
    are frozen (openretina's responses are a mutable dataclass), arrays are stored as float32 (openretina keeps
    the given dtype)."""
    import attrs

    movies = MoviesTrainTestSplit(train=TRAIN.astype(np.float64), test=TEST)
    assert movies.train.dtype == np.float32 and np.array_equal(movies.test, TEST)
    responses = ResponsesTrainTestSplit(train=RESP_TRAIN, test=RESP_TEST)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        responses.train = RESP_TRAIN  # type: ignore[misc]
    responses.session_kwargs["eye"] = "left"  # the metadata dict stays mutable
    assert responses.session_kwargs == {"eye": "left"}


def test_mean_activity_ignores_nan_bins() -> None:
    """openretina's plain mean turns a neuron with one NaN bin into NaN; ours is the mean of its valid bins."""
    train = RESP_TRAIN.copy()
    train[0, 3] = np.nan
    info = compute_data_info(
        {"s": ResponsesTrainTestSplit(train=train, test=RESP_TEST)}, MoviesTrainTestSplit(TRAIN, test=TEST)
    )
    assert info["mean_activity_dict"]["s"][0].item() == pytest.approx(float(np.nanmean(train[0])), rel=1e-6)


def test_every_documented_difference_names_an_existing_test() -> None:
    """Each row of the table in docs/coming-from-openretina.md is held by a test that exists."""
    import re
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    text = (repo / "docs" / "coming-from-openretina.md").read_text().split("## Every difference", 1)[1]
    rows = [
        line for line in text.splitlines() if line.startswith("| ") and not line.startswith("| behaviour")
    ]
    rows = [row for row in rows if not set(row) <= {"|", "-", " "}]
    assert len(rows) >= 20, "the table of differences is missing rows"
    for row in rows:
        references = re.findall(r"`([^`]*?(?:\.py)(?:::\w+)?|::\w+)`", row.rsplit("|", 2)[-2])
        assert references, f"row names no test: {row[:80]}"
        current: Path | None = None
        for reference in references:
            file_part, _, name = reference.partition("::")
            if file_part:
                candidates = [repo / file_part, repo / "tests" / file_part]
                current = next((c for c in candidates if c.is_file()), None)
                assert current is not None, f"no test file {file_part!r} (row: {row[:60]})"
            assert current is not None
            if name:
                assert f"def {name}(" in current.read_text(), f"{current.name} has no test {name!r}"
