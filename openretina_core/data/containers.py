"""Validated containers for one session's stimulus movies and neural responses.

Shapes follow one convention everywhere: movies ``(channels, time, height, width)``, responses
``(neurons, time)``, per-trial test responses ``(trials, neurons, time)``. Arrays are stored as float32
numpy arrays without copying when they already are float32 (a time-major buffer viewed as
``(C, T, H, W)`` stays a view, so the dataloader builder can use it without a copy).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import define, field

ArrayLike = Any  # numpy arrays, torch tensors, nested sequences


def as_float32(value: ArrayLike) -> np.ndarray:
    """Convert to a float32 numpy array, copying only when the dtype or type requires it."""
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch here
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def all_finite(array: np.ndarray, chunk_elements: int = 1 << 24) -> bool:
    """Check for NaN/inf in bounded memory (no full-size boolean temporary for multi-GB movies)."""
    flat = array.reshape(-1) if array.flags.c_contiguous else None
    if flat is None:
        # Iterate along the largest axis so each slice is small.
        axis = int(np.argmax(array.shape)) if array.ndim else 0
        step = max(1, chunk_elements // max(1, array.size // max(1, array.shape[axis])))
        for start in range(0, array.shape[axis], step):
            part = array[(slice(None),) * axis + (slice(start, start + step),)]  # a view, never a copy
            if not np.isfinite(part).all():
                return False
        return True
    for start in range(0, flat.size, chunk_elements):
        if not np.isfinite(flat[start : start + chunk_elements]).all():
            return False
    return True


def _shape_error(owner: str, name: str, expected: str, received: tuple[int, ...]) -> ValueError:
    return ValueError(f"{owner}.{name}: expected shape {expected}, received {tuple(received)}")


def _to_test_dict(value: Any) -> dict[str, np.ndarray]:
    """Accept a single test movie/response (stored under the key "test") or a name -> array mapping."""
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): as_float32(v) for k, v in value.items()}
    return {"test": as_float32(value)}


def _optional_float(value: Any) -> float | None:
    if value is None:
        return None
    return float(np.asarray(value).reshape(-1)[0])


def _optional_sequences(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if hasattr(value, "numpy"):
        array = value.numpy()
    return array.astype(np.int64, copy=False)


@define(frozen=True, eq=False)
class MoviesTrainTestSplit:
    """The stimulus of one session (or of all sessions, when shared).

    ``train`` is ``(C, T, H, W)``; ``test_dict`` maps a test-stimulus name to ``(C, T_test, H, W)`` (a single
    array is stored as ``{"test": array}``). ``random_sequences`` is ``(n_clips, n_sequences)``: column k is the
    presentation order of the training clips in stimulus version k. ``norm_mean``/``norm_std`` record the
    statistics the movie was normalised with, so models can undo or reuse them.
    """

    train: np.ndarray = field(converter=as_float32)
    test_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    stim_id: str | None = None
    random_sequences: np.ndarray | None = field(default=None, converter=_optional_sequences)
    norm_mean: float | None = field(default=None, converter=_optional_float)
    norm_std: float | None = field(default=None, converter=_optional_float)

    def __attrs_post_init__(self) -> None:
        owner = "MoviesTrainTestSplit"
        if self.train.ndim != 4:
            raise _shape_error(owner, "train", "(channels, time, height, width)", self.train.shape)
        channels, _, height, width = self.train.shape
        for name, movie in self.test_dict.items():
            if movie.ndim != 4 or movie.shape[0] != channels or movie.shape[2:] != (height, width):
                raise _shape_error(
                    owner, f"test_dict[{name!r}]", f"({channels}, T_test, {height}, {width})", movie.shape
                )
        for name, movie in {"train": self.train, **self.test_dict}.items():
            if not all_finite(movie):
                raise ValueError(f"{owner}: movie {name!r} contains NaN or infinite values")
        if self.random_sequences is not None and self.random_sequences.ndim != 2:
            raise _shape_error(
                owner, "random_sequences", "(n_clips, n_sequences)", self.random_sequences.shape
            )
        if self.norm_std is not None and not self.norm_std > 0:
            raise ValueError(f"{owner}.norm_std: expected a positive number, received {self.norm_std}")

    @property
    def test(self) -> np.ndarray:
        """The test movie when there is exactly one."""
        if len(self.test_dict) != 1:
            raise KeyError(f"this movie has {len(self.test_dict)} test stimuli: {sorted(self.test_dict)}")
        return next(iter(self.test_dict.values()))

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(C, H, W)``: what a model's input layer needs."""
        c, _, h, w = self.train.shape
        return (c, h, w)

    @property
    def nbytes(self) -> int:
        return int(self.train.nbytes + sum(m.nbytes for m in self.test_dict.values()))


def _optional_dict(value: Any) -> dict[str, Any]:
    return dict(value) if value is not None else {}


@define(frozen=True, eq=False)
class ResponsesTrainTestSplit:
    """The responses of one session, aligned bin-for-frame with its movie.

    ``train`` is ``(N, T)``; ``test_dict`` maps a test name to the trial-averaged ``(N, T_test)``;
    ``test_by_trial_dict`` maps a test name to the single trials ``(trials, N, T_test)``. ``session_kwargs``
    holds per-session metadata (eye, ROI ids, cell indices, normalisation statistics, ...).
    NaN values are allowed here; the dataloader builder applies an explicit NaN policy.
    """

    train: np.ndarray = field(converter=as_float32)
    test_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    test_by_trial_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    stim_id: str | None = None
    session_kwargs: dict[str, Any] = field(converter=_optional_dict, factory=dict)

    def __attrs_post_init__(self) -> None:
        owner = "ResponsesTrainTestSplit"
        if self.train.ndim != 2:
            raise _shape_error(owner, "train", "(neurons, time)", self.train.shape)
        n_neurons = self.train.shape[0]
        for name, resp in self.test_dict.items():
            if resp.ndim != 2 or resp.shape[0] != n_neurons:
                raise _shape_error(owner, f"test_dict[{name!r}]", f"({n_neurons}, T_test)", resp.shape)
        for name, trials in self.test_by_trial_dict.items():
            if name not in self.test_dict:
                raise ValueError(
                    f"{owner}.test_by_trial_dict: key {name!r} has no averaged test response; "
                    f"test_dict keys are {sorted(self.test_dict)}"
                )
            t_test = self.test_dict[name].shape[1]
            if trials.ndim != 3 or trials.shape[1:] != (n_neurons, t_test):
                raise _shape_error(
                    owner, f"test_by_trial_dict[{name!r}]", f"(trials, {n_neurons}, {t_test})", trials.shape
                )

    @property
    def n_neurons(self) -> int:
        return int(self.train.shape[0])

    @property
    def test_response(self) -> np.ndarray:
        """The averaged test response when there is exactly one."""
        if len(self.test_dict) != 1:
            raise KeyError(
                f"these responses have {len(self.test_dict)} test stimuli: {sorted(self.test_dict)}"
            )
        return next(iter(self.test_dict.values()))

    @property
    def test_by_trial(self) -> np.ndarray | None:
        """The single-trial test responses when there is exactly one test stimulus."""
        if len(self.test_by_trial_dict) != 1:
            return None
        return next(iter(self.test_by_trial_dict.values()))


def check_matching_stimulus(
    movies: MoviesTrainTestSplit, responses: ResponsesTrainTestSplit, session: str = "<session>"
) -> None:
    """Raise ``ValueError`` unless the responses line up with the movie frame for frame."""
    t_movie, t_resp = movies.train.shape[1], responses.train.shape[1]
    if t_movie != t_resp:
        raise ValueError(
            f"session {session!r}: train movie has {t_movie} frames but train responses have {t_resp} bins"
        )
    if set(movies.test_dict) != set(responses.test_dict):
        raise ValueError(
            f"session {session!r}: test stimuli differ: movie has {sorted(movies.test_dict)}, "
            f"responses have {sorted(responses.test_dict)}"
        )
    for name, movie in movies.test_dict.items():
        if movie.shape[1] != responses.test_dict[name].shape[1]:
            raise ValueError(
                f"session {session!r}: test {name!r} movie has {movie.shape[1]} frames but responses have "
                f"{responses.test_dict[name].shape[1]} bins"
            )


def normalize_train_test_movies(
    train: np.ndarray, test_dict: Mapping[str, np.ndarray]
) -> tuple[float, float]:
    """Z-score train and test movies *in place* with one scalar mean/std taken from the train movie.

    Statistics are accumulated in float64 over chunks (no float64 copy of the movie). The std is the unbiased
    estimate, as torch computes it. Returns ``(mean, std)`` to record in the container.
    """
    flat = train.reshape(-1)
    total, total_sq, count = 0.0, 0.0, flat.size
    chunk = 1 << 24
    for start in range(0, count, chunk):
        part = flat[start : start + chunk].astype(np.float64)
        total += float(part.sum())
    mean = total / count
    for start in range(0, count, chunk):
        part = flat[start : start + chunk].astype(np.float64) - mean
        total_sq += float(np.dot(part, part))
    std = float(np.sqrt(total_sq / max(1, count - 1)))
    if not std > 0:
        raise ValueError("cannot normalise a constant movie (train std is 0)")
    for movie in (train, *test_dict.values()):
        movie -= np.float32(mean)
        movie /= np.float32(std)
    return mean, std
