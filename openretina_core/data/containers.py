"""Validated containers for one session's stimulus movies and neural responses.

Shapes follow one convention everywhere: movies ``(channels, time, height, width)``, responses
``(neurons, time)``, per-trial test responses ``(trials, neurons, time)``. Arrays are stored as float32
numpy arrays without copying when they already are float32 (a time-major buffer viewed as
``(C, T, H, W)`` stays a view, so the dataloader builder can use it without a copy). A movie may instead be a
:class:`~openretina_core.data.compact.CompactArray` (published dtype plus its map to float32): kept as it is.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
from attrs import define, field

from openretina_core.data.compact import CompactArray
from openretina_core.data.safe_pickle import load_pickle
from openretina_core.registry.errors import BadDataError

ArrayLike = Any  # numpy arrays, torch tensors, nested sequences


def as_float32(value: ArrayLike) -> np.ndarray:
    """Convert to a float32 numpy array, copying only when the dtype or type requires it (array subclasses
    such as memory maps and prepared-store views are kept; a compact movie stays compact)."""
    if isinstance(value, CompactArray):
        return value
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # torch.Tensor without importing torch here
        value = value.detach().cpu().numpy()
    array = np.asanyarray(value)
    if array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def all_finite(array: np.ndarray, chunk_elements: int = 1 << 24) -> bool:
    """Check for NaN/inf in bounded memory (no full-size boolean temporary for multi-GB movies). Arrays whose
    values were checked when they were stored (``verified_finite``, set by the prepared store) are not read."""
    if getattr(array, "verified_finite", False):
        return True
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


def _shape_error(owner: str, name: str, expected: str, received: tuple[int, ...]) -> BadDataError:
    return BadDataError(f"{owner}.{name}: expected shape {expected}, received {tuple(received)}")


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


def _one_test_source(owner: str, test_dict: Any, test: Any) -> Any:
    """openretina's two spellings: ``test_dict=`` (a mapping, or one array) or ``test=`` (one array), not both."""
    given_dict = test_dict is not None and not (isinstance(test_dict, Mapping) and not test_dict)
    if given_dict and test is not None:
        raise BadDataError(
            f"{owner}: Exactly one of test_dict and test should be set, received both "
            f"(test_dict keys {sorted(test_dict) if isinstance(test_dict, Mapping) else ['test']})"
        )
    return {"test": test} if test is not None else test_dict


def _warn_if_transposed(owner: str, array: np.ndarray, rows: str) -> None:
    if array.shape[0] > array.shape[1]:
        warnings.warn(
            f"{owner}.train has more {rows} ({array.shape[0]}) than time bins ({array.shape[1]}): check the axis "
            f"order",
            UserWarning,
            stacklevel=4,
        )


def _optional_sequences(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    array = np.asarray(value)
    if hasattr(value, "numpy"):
        array = value.numpy()
    return array.astype(np.int64, copy=False)


@define(frozen=True, eq=False, init=False)
class MoviesTrainTestSplit:
    """The stimulus of one session (or of all sessions, when shared).

    ``train`` is ``(C, T, H, W)``; ``test_dict`` maps a test-stimulus name to ``(C, T_test, H, W)`` (a single
    array, given as ``test_dict=`` or as openretina's ``test=``, is stored as ``{"test": array}``). ``random_sequences`` is ``(n_clips, n_sequences)``: column k is the
    presentation order of the training clips in stimulus version k. ``norm_mean``/``norm_std`` record the
    statistics the movie was normalised with, so models can undo or reuse them.
    """

    train: np.ndarray = field(converter=as_float32)
    test_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    stim_id: str | None = None
    random_sequences: np.ndarray | None = field(default=None, converter=_optional_sequences)
    norm_mean: float | None = field(default=None, converter=_optional_float)
    norm_std: float | None = field(default=None, converter=_optional_float)

    def __init__(
        self,
        train: ArrayLike,
        test_dict: Any = None,
        test: ArrayLike | None = None,
        stim_id: str | None = None,
        random_sequences: ArrayLike | None = None,
        norm_mean: float | None = None,
        norm_std: float | None = None,
    ) -> None:
        test_dict = _one_test_source("MoviesTrainTestSplit", test_dict, test)
        self.__attrs_init__(train, test_dict, stim_id, random_sequences, norm_mean, norm_std)

    @classmethod
    def from_pickle(
        cls, file_path: str | os.PathLike[str], sha256: str | None = None
    ) -> MoviesTrainTestSplit:
        """openretina's pickle layout (``train``, ``test``, optional ``random_sequences`` and
        ``movie_stats["dichromatic"]["mean"|"sd"]``), read with the restricted unpickler (no code runs; with
        ``sha256`` the file is verified first)."""
        content = load_pickle(file_path, sha256=sha256)
        if not isinstance(content, Mapping) or "train" not in content or "test" not in content:
            keys = sorted(content) if isinstance(content, Mapping) else type(content).__name__
            raise BadDataError(f"{file_path}: expected a dict with keys 'train' and 'test', received {keys}")
        stats = content.get("movie_stats", {}).get("dichromatic", {})
        return cls(
            train=content["train"],
            test=content["test"],
            random_sequences=content.get("random_sequences"),
            norm_mean=stats.get("mean"),
            norm_std=stats.get("sd"),
        )

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
                raise BadDataError(f"{owner}: movie {name!r} contains NaN or infinite values")
        if self.random_sequences is not None and self.random_sequences.ndim != 2:
            raise _shape_error(
                owner, "random_sequences", "(n_clips, n_sequences)", self.random_sequences.shape
            )
        if self.norm_std is not None and not self.norm_std > 0:
            raise BadDataError(f"{owner}.norm_std: expected a positive number, received {self.norm_std}")
        _warn_if_transposed(owner, self.train, "channels")

    @property
    def test(self) -> np.ndarray:
        """The test movie when there is exactly one."""
        if len(self.test_dict) != 1:
            raise KeyError(f"this movie has {len(self.test_dict)} test stimuli: {sorted(self.test_dict)}")
        return next(iter(self.test_dict.values()))

    @property
    def test_movie(self) -> np.ndarray:
        """openretina's name for :attr:`test`: the test movie, when there is exactly one."""
        if len(self.test_dict) > 1:
            raise BadDataError(
                f"Multiple test stimuli present: {sorted(self.test_dict)}; use test_dict[name]"
            )
        if not self.test_dict:
            raise BadDataError("No test stimuli present")
        return next(iter(self.test_dict.values()))

    @property
    def test_shape(self) -> tuple[int, int, int, int]:
        """``(C, T, H, W)`` of the test stimuli, ``T`` the longest one's length."""
        if not self.test_dict:
            raise BadDataError("No test stimuli present")
        c, _, h, w = self.train.shape
        return (c, max(m.shape[1] for m in self.test_dict.values()), h, w)

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


@define(frozen=True, eq=False, init=False)
class ResponsesTrainTestSplit:
    """The responses of one session, aligned bin-for-frame with its movie.

    ``train`` is ``(N, T)``; ``test_dict`` maps a test name to the trial-averaged ``(N, T_test)``;
    ``test_by_trial_dict`` maps a test name to the single trials ``(trials, N, T_test)``. ``session_kwargs``
    holds per-session metadata (eye, ROI ids, cell indices, normalisation statistics, ...).
    NaN values are allowed here; the dataloader builder applies an explicit NaN policy. openretina's spellings
    ``test=`` and ``test_by_trial=`` (for a single test stimulus) are accepted too.
    """

    train: np.ndarray = field(converter=as_float32)
    test_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    test_by_trial_dict: dict[str, np.ndarray] = field(converter=_to_test_dict, factory=dict)
    stim_id: str | None = None
    session_kwargs: dict[str, Any] = field(converter=_optional_dict, factory=dict)

    def __init__(
        self,
        train: ArrayLike,
        test_dict: Any = None,
        test: ArrayLike | None = None,
        test_by_trial: ArrayLike | None = None,
        test_by_trial_dict: Any = None,
        stim_id: str | None = None,
        session_kwargs: Mapping[str, Any] | None = None,
    ) -> None:
        owner = "ResponsesTrainTestSplit"
        test_dict = _one_test_source(owner, test_dict, test)
        trials = _to_test_dict(test_by_trial_dict)
        if test_by_trial is not None:
            names = sorted(test_dict) if isinstance(test_dict, Mapping) else ["test"]
            if len(names) != 1:
                raise BadDataError(
                    f"{owner}: test_by_trial needs exactly one test stimulus to belong to, received {names}; "
                    f"pass test_by_trial_dict instead"
                )
            trials.setdefault(names[0], test_by_trial)
        self.__attrs_init__(train, test_dict, trials, stim_id, session_kwargs)

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
                raise BadDataError(
                    f"{owner}.test_by_trial_dict: key {name!r} has no averaged test response; "
                    f"test_dict keys are {sorted(self.test_dict)}"
                )
            t_test = self.test_dict[name].shape[1]
            if trials.ndim != 3 or trials.shape[1:] != (n_neurons, t_test):
                raise _shape_error(
                    owner, f"test_by_trial_dict[{name!r}]", f"(trials, {n_neurons}, {t_test})", trials.shape
                )
        _warn_if_transposed(owner, self.train, "neurons")

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

    @property
    def test_neurons(self) -> int:
        """Neurons in the test responses (the same as in ``train``: checked on construction)."""
        if not self.test_dict:
            raise BadDataError("No test responses present")
        return int(next(iter(self.test_dict.values())).shape[0])

    def get_test_by_trial(self, name: str = "test") -> np.ndarray | None:
        """The ``(trials, neurons, time)`` single trials of test stimulus ``name``, or None."""
        return self.test_by_trial_dict.get(name)

    def check_matching_stimulus(self, movies: MoviesTrainTestSplit, session: str = "<session>") -> None:
        """Raise ``ValueError`` unless these responses line up with ``movies`` (openretina's method form)."""
        check_matching_stimulus(movies, self, session)


def check_matching_stimulus(
    movies: MoviesTrainTestSplit, responses: ResponsesTrainTestSplit, session: str = "<session>"
) -> None:
    """Raise ``ValueError`` unless the responses line up with the movie frame for frame."""
    t_movie, t_resp = movies.train.shape[1], responses.train.shape[1]
    if t_movie != t_resp:
        raise BadDataError(
            f"session {session!r}: train movie has {t_movie} frames but train responses have {t_resp} bins"
        )
    if set(movies.test_dict) != set(responses.test_dict):
        raise BadDataError(
            f"session {session!r}: test stimuli differ: movie has {sorted(movies.test_dict)}, "
            f"responses have {sorted(responses.test_dict)}"
        )
    for name, movie in movies.test_dict.items():
        if movie.shape[1] != responses.test_dict[name].shape[1]:
            raise BadDataError(
                f"session {session!r}: test {name!r} movie has {movie.shape[1]} frames but responses have "
                f"{responses.test_dict[name].shape[1]} bins"
            )
    if movies.stim_id is not None and responses.stim_id is not None and movies.stim_id != responses.stim_id:
        raise BadDataError(
            f"session {session!r}: Stimulus ID in responses and movies do not match "
            f"({responses.stim_id!r} vs {movies.stim_id!r})"
        )
