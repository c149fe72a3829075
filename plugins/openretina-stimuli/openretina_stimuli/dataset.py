"""Turn a generated stimulus into a small dataset with known ground truth (for tests and demos).

The responses come from openretina-core's LN-Poisson model (``openretina_core.data``), so a model or a
spike-triggered average trained on the result can recover the model's filters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from openretina_core.data import (
    LNPModel,
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    make_lnp_model,
    simulate_responses,
)


def _time_major(movie: Any) -> np.ndarray:
    """A ``(C, T, H, W)`` float32 view of a ``(T, C, H, W)`` buffer, copying only if the layout differs."""
    if hasattr(movie, "detach"):
        movie = movie.detach().cpu().numpy()
    movie = np.asarray(movie)
    if movie.ndim != 4:
        raise ValueError(f"stimulus must be (channels, time, height, width), received shape {movie.shape}")
    if movie.dtype == np.float32 and (movie.shape[0] == 1 or movie.transpose(1, 0, 2, 3).flags.c_contiguous):
        return movie
    buffer = np.empty((movie.shape[1], movie.shape[0], *movie.shape[2:]), dtype=np.float32)
    buffer[...] = movie.transpose(1, 0, 2, 3)
    return buffer.transpose(1, 0, 2, 3)


def make_stimulus_dataset(
    stimulus: Any,
    n_neurons: int = 8,
    filter_length: int = 10,
    test_frames: int | None = None,
    n_test_trials: int = 3,
    seed: int = 0,
    poisson: bool = True,
    model: LNPModel | None = None,
    stim_id: str | None = None,
    **params: Any,
) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
    """``(movies, responses)`` containers for one session watching ``stimulus``.

    ``stimulus`` is a ``(C, T, H, W)`` array/tensor, or the name of a registered generator called as
    ``openretina_core.get_stimulus(stimulus, **params)``. The last ``test_frames`` frames (default a fifth)
    become the test stimulus ``"test"``, shown ``n_test_trials`` times (independent Poisson draws of the same
    rates; their mean is ``test_dict["test"]``). Responses are ``(n_neurons, T)`` spike counts of ``model``
    (default ``make_lnp_model(n_neurons, C, H, W, filter_length, seed)``), or the rates when
    ``poisson=False``. The movie is stored time-major, the layout the dataloaders use without a copy, and
    is not normalised (``norm_mean=0``, ``norm_std=1`` record the identity).
    """
    if isinstance(stimulus, str):
        from openretina_core import get_stimulus

        stim_id = stim_id or stimulus
        stimulus = get_stimulus(stimulus, **params)
    elif params:
        raise TypeError(f"generator parameters {sorted(params)} need a stimulus name, not an array")
    movie = _time_major(stimulus)
    del stimulus  # keep one float32 copy of the movie
    channels, n_frames, height, width = movie.shape
    n_test = n_frames // 5 if test_frames is None else int(test_frames)
    if not 0 <= n_test < n_frames:
        raise ValueError(
            f"test_frames must be in [0, {n_frames - 1}] for a {n_frames}-frame stimulus, got {n_test}"
        )
    if n_test and n_test_trials < 1:
        raise ValueError(f"n_test_trials must be at least 1, received {n_test_trials}")
    if model is None:
        model = make_lnp_model(n_neurons, channels, height, width, filter_length=filter_length, seed=seed)
    elif model.spatial.shape[1:] != (channels, height, width):
        raise ValueError(
            f"model filters are (C, H, W) = {model.spatial.shape[1:]}, "
            f"the stimulus is {(channels, height, width)}"
        )
    rates = simulate_responses(model, movie, seed=seed, poisson=False)  # (N, T), continuous filter history
    rng = np.random.default_rng(seed)
    split = n_frames - n_test
    train = rng.poisson(rates[:, :split]).astype(np.float32) if poisson else rates[:, :split]
    test_dict: dict[str, np.ndarray] = {}
    trials_dict: dict[str, np.ndarray] = {}
    if n_test:
        test_rates = rates[:, split:]
        trials = np.broadcast_to(test_rates, (n_test_trials, *test_rates.shape))
        trials = rng.poisson(trials).astype(np.float32) if poisson else np.array(trials)
        test_dict["test"], trials_dict["test"] = trials.mean(axis=0), trials
    name = stim_id or "stimulus"
    movies = MoviesTrainTestSplit(
        train=movie[:, :split],
        test_dict={"test": movie[:, split:]} if n_test else {},
        stim_id=name,
        norm_mean=0.0,  # generated values are used as they are: the identity normalisation
        norm_std=1.0,
    )
    responses = ResponsesTrainTestSplit(
        train=train,
        test_dict=test_dict,
        test_by_trial_dict=trials_dict,
        stim_id=name,
        session_kwargs={"simulated": "LNP", "lnp_seed": seed, "filter_length": model.temporal.shape[1]},
    )
    return movies, responses
