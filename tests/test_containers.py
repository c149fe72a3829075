"""Containers: shapes are validated with messages that name the field, the expected and the received shape."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from openretina_core import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    check_matching_stimulus,
    compute_data_info,
)
from openretina_core.data import zscore_movies_in_place

dims = st.integers(min_value=1, max_value=4)


@settings(max_examples=40, deadline=None)
@given(c=dims, t=st.integers(1, 30), h=dims, w=dims, t_test=st.integers(1, 10))
def test_valid_movies_keep_shape_and_become_float32(c: int, t: int, h: int, w: int, t_test: int) -> None:
    movies = MoviesTrainTestSplit(
        train=np.zeros((c, t, h, w), dtype=np.float64), test_dict={"a": np.ones((c, t_test, h, w))}
    )
    assert movies.train.shape == (c, t, h, w) and movies.train.dtype == np.float32
    assert movies.test_dict["a"].shape == (c, t_test, h, w)
    assert movies.input_shape == (c, h, w)


@settings(max_examples=40, deadline=None)
@given(c=dims, h=dims, w=dims, dc=st.integers(0, 2), dh=st.integers(0, 2), dw=st.integers(0, 2))
def test_test_movie_with_other_channels_or_size_is_rejected(
    c: int, h: int, w: int, dc: int, dh: int, dw: int
) -> None:
    bad = np.zeros((c + dc, 5, h + dh, w + dw))
    if dc == dh == dw == 0:
        MoviesTrainTestSplit(train=np.zeros((c, 7, h, w)), test_dict={"x": bad})
        return
    with pytest.raises(ValueError, match=r"test_dict\['x'\].*expected shape.*received"):
        MoviesTrainTestSplit(train=np.zeros((c, 7, h, w)), test_dict={"x": bad})


@pytest.mark.parametrize("shape", [(5, 4, 4), (1, 2, 5, 4, 4), (10,)])
def test_movie_train_must_be_4d(shape: tuple[int, ...]) -> None:
    with pytest.raises(
        ValueError, match=r"MoviesTrainTestSplit.train: expected shape \(channels, time, height, width\)"
    ):
        MoviesTrainTestSplit(train=np.zeros(shape))


def test_single_test_array_is_stored_under_test_and_tensors_are_accepted() -> None:
    movies = MoviesTrainTestSplit(torch.zeros(1, 10, 3, 3), torch.ones(1, 4, 3, 3), norm_mean=np.array([0.5]))
    assert list(movies.test_dict) == ["test"] and movies.test.shape == (1, 4, 3, 3)
    assert movies.norm_mean == 0.5


def test_nan_in_movie_is_rejected_with_movie_name() -> None:
    train = np.zeros((1, 10, 2, 2), dtype=np.float32)
    train[0, 3, 1, 1] = np.nan
    with pytest.raises(ValueError, match="'train' contains NaN"):
        MoviesTrainTestSplit(train=train)


def test_float32_time_major_view_is_not_copied() -> None:
    buffer = np.zeros((20, 2, 3, 4), dtype=np.float32)
    movies = MoviesTrainTestSplit(train=buffer.transpose(1, 0, 2, 3))
    assert np.shares_memory(movies.train, buffer)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 6), t=st.integers(1, 20), t_test=st.integers(1, 8), trials=st.integers(1, 4))
def test_responses_valid_shapes(n: int, t: int, t_test: int, trials: int) -> None:
    r = ResponsesTrainTestSplit(
        train=np.zeros((n, t)),
        test_dict={"test": np.zeros((n, t_test))},
        test_by_trial_dict={"test": np.zeros((trials, n, t_test))},
    )
    assert r.n_neurons == n and r.test_by_trial is not None and r.test_by_trial.shape == (trials, n, t_test)


def test_responses_errors_name_field_and_shapes() -> None:
    with pytest.raises(
        ValueError, match=r"test_dict\['test'\]: expected shape \(3, T_test\), received \(2, 5\)"
    ):
        ResponsesTrainTestSplit(train=np.zeros((3, 10)), test_dict=np.zeros((2, 5)))
    with pytest.raises(ValueError, match=r"test_by_trial_dict\['test'\]: expected shape \(trials, 3, 5\)"):
        ResponsesTrainTestSplit(
            train=np.zeros((3, 10)), test_dict=np.zeros((3, 5)), test_by_trial_dict=np.zeros((3, 4, 5))
        )
    with pytest.raises(ValueError, match="no averaged test response"):
        ResponsesTrainTestSplit(train=np.zeros((3, 10)), test_by_trial_dict={"other": np.zeros((2, 3, 5))})


def test_check_matching_stimulus() -> None:
    movies = MoviesTrainTestSplit(train=np.zeros((1, 10, 2, 2)), test_dict={"a": np.zeros((1, 4, 2, 2))})
    check_matching_stimulus(movies, ResponsesTrainTestSplit(np.zeros((3, 10)), {"a": np.zeros((3, 4))}), "s")
    with pytest.raises(ValueError, match="train movie has 10 frames but train responses have 9"):
        check_matching_stimulus(
            movies, ResponsesTrainTestSplit(np.zeros((3, 9)), {"a": np.zeros((3, 4))}), "s"
        )
    with pytest.raises(ValueError, match="test stimuli differ"):
        check_matching_stimulus(
            movies, ResponsesTrainTestSplit(np.zeros((3, 10)), {"b": np.zeros((3, 4))}), "s"
        )
    with pytest.raises(ValueError, match="test 'a' movie has 4 frames but responses have 5"):
        check_matching_stimulus(
            movies, ResponsesTrainTestSplit(np.zeros((3, 10)), {"a": np.zeros((3, 5))}), "s"
        )


def test_normalize_in_place_matches_torch_statistics() -> None:
    rng = np.random.default_rng(0)
    train = (rng.standard_normal((1, 500, 4, 4)) * 3 + 7).astype(np.float32)
    test = (rng.standard_normal((1, 50, 4, 4)) * 3 + 7).astype(np.float32)
    expected_mean = torch.from_numpy(train).mean().item()
    expected_std = torch.from_numpy(train).std().item()
    mean, std = zscore_movies_in_place(train, {"test": test})
    assert mean == pytest.approx(expected_mean, rel=1e-5) and std == pytest.approx(expected_std, rel=1e-5)
    assert abs(train.mean()) < 1e-4 and train.std(ddof=1) == pytest.approx(1.0, rel=1e-4)
    assert abs(test.mean()) < 0.2


def test_compute_data_info_checks_consistency(caplog) -> None:
    movies = {
        "a": MoviesTrainTestSplit(np.zeros((2, 10, 3, 4)), norm_mean=1.0, norm_std=2.0),
        "b": MoviesTrainTestSplit(np.zeros((2, 10, 3, 4)), norm_mean=1.5, norm_std=2.0),
    }
    responses = {s: ResponsesTrainTestSplit(np.arange(20, dtype=float).reshape(2, 10)) for s in movies}
    info = compute_data_info(responses, movies, {"response_rate_hz": 30}, val_clip_indices={"a": [1]})
    assert info["n_neurons_dict"] == {"a": 2, "b": 2} and info["input_shape"] == (2, 3, 4)
    assert (
        info["stim_mean"] == 1.0 and info["response_rate_hz"] == 30 and info["val_clip_indices"] == {"a": [1]}
    )
    torch.testing.assert_close(info["mean_activity_dict"]["a"], torch.tensor([4.5, 14.5]))
    movies["b"] = MoviesTrainTestSplit(np.zeros((2, 10, 3, 4)), norm_mean=5.0, norm_std=2.0)
    with caplog.at_level("WARNING"):
        info = compute_data_info(responses, movies)
    assert "normalised with different norm_mean" in caplog.text
    assert info["stim_mean"] == 1.0 and info["stim_mean_dict"] == {"a": 1.0, "b": 5.0}
    movies["b"] = MoviesTrainTestSplit(np.zeros((1, 10, 3, 4)))
    with pytest.raises(ValueError, match="different input shapes"):
        compute_data_info(responses, movies)


def test_zscore_in_place_works_block_by_block_and_refuses_a_constant_movie(monkeypatch) -> None:
    from openretina_core import BadDataError
    from openretina_core.data import normalize, zscore_in_place

    monkeypatch.setattr(normalize, "_BLOCK_BYTES", 3 * 4 * 4)  # blocks of 3 rows of (2, 2) float32
    movie = np.arange(40, dtype=np.float32).reshape(10, 2, 2)
    expected = (movie - 5.0) / 2.0
    zscore_in_place(movie, 5.0, 2.0)
    np.testing.assert_allclose(movie, expected)
    with pytest.raises(BadDataError, match="constant movie"):
        zscore_in_place(movie, 0.0, 0.0)
