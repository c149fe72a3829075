"""A generated stimulus as a dataset source: containers, dataloaders, an STA that recovers the LN filters."""

from __future__ import annotations

import numpy as np
import pytest
from openretina_stimuli import generate_noise_stimulus, make_stimulus_dataset

from openretina_core import check_matching_stimulus, multiple_movies_dataloaders
from openretina_core.data import (
    filter_correlation,
    make_lnp_model,
    simulate_responses,
    spike_triggered_average,
)


def test_containers_from_an_array_are_aligned_and_time_major() -> None:
    stimulus = generate_noise_stimulus((2, 500, 8, 10), seed=1)
    movies, responses = make_stimulus_dataset(stimulus, n_neurons=5, test_frames=100, n_test_trials=4, seed=2)
    check_matching_stimulus(movies, responses, "session")
    assert movies.train.shape == (2, 400, 8, 10) and movies.test.shape == (2, 100, 8, 10)
    assert responses.train.shape == (5, 400) and responses.test_by_trial.shape == (4, 5, 100)
    np.testing.assert_allclose(responses.test_response, responses.test_by_trial.mean(axis=0), rtol=1e-6)
    # Time-major storage: one frame's channels are adjacent in memory, and the frames follow the stimulus.
    assert movies.train.strides[0] < movies.train.strides[1]
    np.testing.assert_array_equal(movies.train, stimulus[:, :400])
    np.testing.assert_array_equal(movies.test, stimulus[:, 400:])
    assert (responses.train >= 0).all() and np.array_equal(responses.train, np.round(responses.train))


def test_rates_follow_the_core_lnp_model_across_the_split() -> None:
    stimulus = generate_noise_stimulus((1, 300, 6, 6), seed=3)
    model = make_lnp_model(3, 1, 6, 6, filter_length=5, seed=4)
    _, responses = make_stimulus_dataset(stimulus, model=model, poisson=False, test_frames=60)
    expected = simulate_responses(model, stimulus, poisson=False)
    np.testing.assert_allclose(np.concatenate([responses.train, responses.test_response], axis=1), expected)


def test_by_name_and_sta_recovers_the_filters() -> None:
    filter_length = 6
    model = make_lnp_model(4, 1, 8, 8, filter_length=filter_length, seed=5)
    movies, responses = make_stimulus_dataset(
        "noise", shape=(1, 8000, 8, 8), seed=6, model=model, test_frames=400, n_test_trials=2
    )
    assert movies.stim_id == "noise"
    loaders = multiple_movies_dataloaders(
        {"lnp": responses},
        {"lnp": movies},
        train_chunk_size=40,
        batch_size=32,
        clip_length=100,
        num_val_clips=5,
    )
    assert set(loaders) == {"train", "validation", "test"}
    estimate = spike_triggered_average(loaders["train"]["lnp"], filter_length)
    correlation = filter_correlation(estimate, model.filters)
    assert correlation.min() > 0.8, correlation


def test_bad_arguments() -> None:
    stimulus = generate_noise_stimulus((1, 50, 4, 4))
    with pytest.raises(TypeError):
        make_stimulus_dataset(stimulus, shape=(1, 50, 4, 4))
    with pytest.raises(ValueError, match="test_frames"):
        make_stimulus_dataset(stimulus, test_frames=50)
    with pytest.raises(ValueError, match="model filters"):
        make_stimulus_dataset(stimulus, model=make_lnp_model(2, 2, 4, 4))
