"""``BaseDataLoader``: the base class a lab subclasses to bring its own recordings.

Subclass it, call ``super().__init__(**kwargs)``, implement ``__len__`` and ``get_item(idx)`` returning
``{"stimulus": (C, T, H, W), "response": (N, T)}`` (numpy arrays or tensors). Each item is one recording
segment (a trial, a block). The base validates every item and builds the same train/validation/test loader
dict as the published datasets with one call: ``get_dataloaders(my_dataset, batch_size=...)``.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch.utils.data import Dataset

if TYPE_CHECKING:
    from openretina_core.data.loaders import DataLoaders

from openretina_core.data.containers import (
    MoviesTrainTestSplit,
    ResponsesTrainTestSplit,
    all_finite,
    as_float32,
)


class BaseDataLoader(Dataset, abc.ABC):
    """Base for custom recordings. Keyword options (all optional):

    ``session_name``: the session key in the loader dicts (default: the class name).
    ``test_items``: indices of items held out as the test set (concatenated into one test stimulus "test").
    ``clip_length``: validation clip length in frames (default: the item length when all items are equal).
    ``num_val_clips`` / ``val_clip_indices``: validation clips (default: 10% of the clips, at least one).
    ``train_chunk_size`` (50), ``seed`` (42), ``allow_over_boundaries`` (False: train chunks stay inside
    clips), ``nan_policy`` ("raise").
    """

    def __init__(
        self,
        *,
        session_name: str | None = None,
        test_items: Sequence[int] = (),
        clip_length: int | None = None,
        num_val_clips: int | None = None,
        val_clip_indices: Sequence[int] | None = None,
        train_chunk_size: int = 50,
        seed: int = 42,
        allow_over_boundaries: bool = False,
        nan_policy: str = "raise",
    ) -> None:
        self.session_name = session_name or type(self).__name__
        self.test_items = tuple(int(i) for i in test_items)
        self.clip_length = clip_length
        self.num_val_clips = num_val_clips
        self.val_clip_indices = val_clip_indices
        self.train_chunk_size = train_chunk_size
        self.seed = seed
        self.allow_over_boundaries = allow_over_boundaries
        self.nan_policy = nan_policy

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of items (recording segments)."""

    @abc.abstractmethod
    def get_item(self, idx: int) -> dict[str, Any]:
        """Return ``{"stimulus": (C, T, H, W), "response": (N, T)}`` for item ``idx``."""

    def __getitem__(self, idx: int) -> dict[str, torch.Tensor]:
        stimulus, response = self._validated_item(idx)
        return {"stimulus": torch.from_numpy(stimulus), "response": torch.from_numpy(response)}

    def _validated_item(self, idx: int) -> tuple[np.ndarray, np.ndarray]:
        name = type(self).__name__
        item = self.get_item(idx)
        if not isinstance(item, dict) or "stimulus" not in item or "response" not in item:
            got = sorted(item) if isinstance(item, dict) else type(item).__name__
            raise ValueError(
                f"{name}.get_item({idx}) must return a dict with 'stimulus' and 'response'; got {got}"
            )
        stimulus, response = as_float32(item["stimulus"]), as_float32(item["response"])
        if stimulus.ndim != 4:
            raise ValueError(
                f"{name}.get_item({idx})['stimulus']: expected shape (channels, time, height, width), "
                f"received {stimulus.shape}"
            )
        if response.ndim != 2:
            raise ValueError(
                f"{name}.get_item({idx})['response']: expected shape (neurons, time), received {response.shape}"
            )
        if stimulus.shape[1] != response.shape[1]:
            raise ValueError(
                f"{name}.get_item({idx}): stimulus has {stimulus.shape[1]} frames but response has "
                f"{response.shape[1]} bins (expected one bin per frame)"
            )
        if not all_finite(stimulus):
            raise ValueError(f"{name}.get_item({idx})['stimulus'] contains NaN or infinite values")
        return stimulus, response

    def to_containers(self) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
        """Concatenate the items into one session's containers (train items, then the test items)."""
        n_items = len(self)
        if n_items == 0:
            raise ValueError(f"{type(self).__name__} has no items")
        bad = [i for i in self.test_items if not 0 <= i < n_items]
        if bad:
            raise ValueError(f"test_items {bad} are outside [0, {n_items})")
        train_ids = [i for i in range(n_items) if i not in set(self.test_items)]
        if not train_ids:
            raise ValueError("every item is a test item; nothing is left for training")
        train_movie, train_resp, lengths = self._concatenate(train_ids)
        test_dict: dict[str, np.ndarray] = {}
        test_resp: dict[str, np.ndarray] = {}
        if self.test_items:
            test_movie, test_response, _ = self._concatenate(list(self.test_items))
            test_dict, test_resp = {"test": test_movie}, {"test": test_response}
        if self.clip_length is None:
            self.clip_length = lengths[0] if len(set(lengths)) == 1 else min(lengths)
        movies = MoviesTrainTestSplit(train=train_movie, test_dict=test_dict, stim_id=self.session_name)
        responses = ResponsesTrainTestSplit(train=train_resp, test_dict=test_resp, stim_id=self.session_name)
        return movies, responses

    def _concatenate(self, ids: list[int]) -> tuple[np.ndarray, np.ndarray, list[int]]:
        """Copy the items once into a time-major buffer (viewed as ``(C, T, H, W)``) and ``(N, T)``."""
        items = [self._validated_item(i) for i in ids]
        shapes = {(s.shape[0], *s.shape[2:]) for s, _ in items}
        neurons = {r.shape[0] for _, r in items}
        if len(shapes) != 1 or len(neurons) != 1:
            raise ValueError(
                f"items disagree on (C, H, W) {sorted(shapes)} or neuron count {sorted(neurons)}; all items of a "
                f"session must share them"
            )
        lengths = [s.shape[1] for s, _ in items]
        c, h, w = next(iter(shapes))
        buffer = np.empty((sum(lengths), c, h, w), dtype=np.float32)
        responses = np.empty((sum(lengths), next(iter(neurons))), dtype=np.float32)  # time-major as well
        offset = 0
        for (stimulus, response), length in zip(items, lengths):
            buffer[offset : offset + length] = np.moveaxis(stimulus, 0, 1)
            responses[offset : offset + length] = response.T
            offset += length
        return np.moveaxis(buffer, 0, 1), responses.T, lengths

    def get_dataloaders(self, batch_size: int = 32, **overrides: Any) -> DataLoaders:
        """The ``{"train", "validation", "test"}`` loader dict for this recording (one session)."""
        from openretina_core.data.loaders import multiple_movies_dataloaders

        movies, responses = self.to_containers()
        clip_length = int(overrides.pop("clip_length", self.clip_length))
        num_clips = movies.train.shape[1] // clip_length
        num_val = self.num_val_clips if self.num_val_clips is not None else max(1, num_clips // 10)
        if num_clips < 2:
            num_val = 0
        options: dict[str, Any] = {
            "train_chunk_size": min(self.train_chunk_size, clip_length),
            "seed": self.seed,
            "clip_length": clip_length,
            "num_val_clips": num_val,
            "val_clip_indices": self.val_clip_indices,
            "allow_over_boundaries": self.allow_over_boundaries,
            "nan_policy": self.nan_policy,
        }
        options.update(overrides)
        return multiple_movies_dataloaders(
            {self.session_name: responses}, {self.session_name: movies}, batch_size=batch_size, **options
        )
