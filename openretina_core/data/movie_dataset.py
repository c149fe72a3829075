"""The movie dataset: chunks of a stored movie aligned with responses, fetched a batch at a time.

A dataset never copies the movie. It holds a time-major ``(T, C, H, W)`` tensor (shared by every session that
uses the same stimulus) and, optionally, an index map from positions of its logical sequence (a split, a clip
order) to stored frames. A batch is one ``index_select`` per tensor into a pooled buffer (reused once nothing
references it); the ``(B, C, T, H, W)`` batch is a view of that ``(B, T, C, H, W)`` buffer (contiguous when
C == 1). Iterating a whole pass plans every batch's index work in one vectorised step first. A movie kept in its
published dtype (``movie_map``) is gathered compact and decoded to float32 per batch: here, or after the transfer
when ``decode_after_transfer`` is set (``DeviceDataLoader`` does that for CUDA).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset

from openretina_core.data.compact import StimulusMap
from openretina_core.data.copy_threads import COPY_THREADS
from openretina_core.data.decode import BatchDecoder
from openretina_core.data.file_rows import FileRows
from openretina_core.data.gather import PASS_GATHER_MAX_BYTES, ChunkGatherer, as_index_tensor

INPUT_ORDER = (0, 2, 1, 3, 4)  # gathered (B, T, C, H, W) chunks -> (B, C, T, H, W) inputs


class DataPoint(NamedTuple):
    """One sample ``(inputs (C, T, H, W), targets (T, N))`` or one batch ``((B, C, T, H, W), (B, T, N))``."""

    inputs: torch.Tensor
    targets: torch.Tensor


def passthrough_collate(batch: Any) -> Any:
    """Collate for datasets that assemble whole batches themselves (``__getitems__``)."""
    if isinstance(batch, DataPoint):
        return batch
    if isinstance(batch, list) and batch and isinstance(batch[0], DataPoint):
        return DataPoint(torch.stack([b.inputs for b in batch]), torch.stack([b.targets for b in batch]))
    return torch.utils.data.default_collate(batch)


class MovieDataset(Dataset[DataPoint]):
    """Chunks of ``chunk_size`` consecutive positions of a (possibly re-indexed) movie and its responses.

    ``movie``: time-major ``(T_stored, C, H, W)`` tensor: float32, or a published dtype with ``movie_map``
    giving its float32 values. ``responses``: ``(T_stored_resp, N)``.
    ``movie_index`` / ``response_index``: ``(L,)`` maps from sequence position to stored frame/bin (identity
    when ``None``; then ``L`` is the stored length). ``flip_width`` mirrors every chunk along width (e.g. a
    left-eye recording shown a right-eye movie). ``movie_file``: the file region the movie maps; chunks are then
    read from the file (one read each, bounded memory) instead of gathered from the mapping. Indexing by a start
    position returns one :class:`DataPoint`; ``__getitems__`` returns a whole batch with one gather per tensor.
    """

    def __init__(
        self,
        movie: torch.Tensor,
        responses: torch.Tensor,
        chunk_size: int,
        movie_index: Any = None,
        response_index: Any = None,
        flip_width: bool = False,
        test_responses_by_trial: torch.Tensor | None = None,
        name: str = "",
        movie_file: FileRows | None = None,
        movie_map: StimulusMap | None = None,
    ) -> None:
        if movie.ndim != 4:
            raise ValueError(
                f"movie: expected a time-major (T, C, H, W) tensor, received {tuple(movie.shape)}"
            )
        if responses.ndim != 2:
            raise ValueError(f"responses: expected (T, N), received {tuple(responses.shape)}")
        self.movie_index = as_index_tensor(movie_index)
        self.response_index = as_index_tensor(response_index)
        length_movie = len(self.movie_index) if self.movie_index is not None else movie.shape[0]
        length_resp = len(self.response_index) if self.response_index is not None else responses.shape[0]
        if length_movie != length_resp:
            raise ValueError(
                f"{name or 'dataset'}: movie sequence has {length_movie} frames but responses have {length_resp}"
            )
        if chunk_size < 1 or chunk_size > length_movie:
            raise ValueError(
                f"{name or 'dataset'}: chunk_size {chunk_size} must be between 1 and the sequence length "
                f"{length_movie}"
            )
        self.sequence_length = int(length_movie)
        self.chunk_size = int(chunk_size)
        self.flip_width = bool(flip_width)
        self.name = name
        self.test_responses_by_trial = test_responses_by_trial
        # Gatherers hold the stored tensors (see the ``movie`` and ``responses`` properties).
        self._movie_chunks = ChunkGatherer(movie, self.movie_index, self.chunk_size, movie_file)
        self._response_chunks = ChunkGatherer(responses, self.response_index, self.chunk_size)
        self.movie_map = movie_map
        self._decoder = BatchDecoder(movie_map, movie.shape[1]) if movie_map is not None else None
        # Set by DeviceDataLoader for CUDA: batches leave compact and are decoded after the transfer.
        self.decode_after_transfer = False

    # -- map-style dataset ---------------------------------------------------------------------------------
    def __len__(self) -> int:
        """Number of valid start positions."""
        return self.sequence_length - self.chunk_size + 1

    def __getitem__(self, start: int) -> DataPoint:
        batch = self.__getitems__([int(start)])
        return DataPoint(batch.inputs[0], batch.targets[0])

    def __getitems__(self, starts: Sequence[int]) -> DataPoint:
        start_np = np.asarray(starts, dtype=np.int64).reshape(-1)
        if len(start_np) and (start_np.min() < 0 or start_np.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)}), got {start_np.tolist()}")
        return DataPoint(
            self._finish_inputs(self._movie_chunks.gather(start_np)), self._gather_responses(start_np)
        )

    def iter_batches(
        self, starts: np.ndarray, batch_size: int, drop_last: bool, grouped: bool = True
    ) -> Iterator[DataPoint]:
        """The batches ``__getitems__`` would return for consecutive groups of ``batch_size`` starts (as a
        DataLoader with a batch sampler forms them). The index work of all of them is done here, at once;
        the copies happen as the returned iterator is advanced. ``grouped``: small batches may be copied a
        few at a time (then the iterator, suspended, holds the buffer of the batches it has copied ahead)."""
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if drop_last:
            starts = starts[: len(starts) // batch_size * batch_size]
        if len(starts) and (starts.min() < 0 or starts.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)})")
        movie, responses = self._movie_chunks, self._response_chunks
        neuron_major = self._responses_neuron_major()
        group = movie.group_size(batch_size) if grouped else 1
        if (
            group > 1
            and len(starts) > batch_size
            and not neuron_major
            and not self._inputs_finished_apart()
            and responses.pass_bytes(len(starts)) <= PASS_GATHER_MAX_BYTES
        ):
            return self._grouped_batches(movie.plan(starts, batch_size * group), starts, batch_size, group)
        movie_steps = movie.plan(starts, batch_size)
        response_steps = (
            None
            if neuron_major
            else movie_steps
            if movie.plans_like(responses)
            else responses.plan(starts, batch_size)
        )
        return self._planned_batches(movie_steps, response_steps, starts, batch_size)

    def _grouped_batches(
        self, movie_steps: list[tuple[bool, torch.Tensor]], starts: np.ndarray, batch_size: int, group: int
    ) -> Iterator[DataPoint]:
        """Small batches, their inputs copied ``group`` batches at a time and their targets all at once (both
        when the first batch is asked for)."""
        inputs = self._movie_chunks.fetch_groups(movie_steps, batch_size, group, INPUT_ORDER)
        yield from map(DataPoint, inputs, self._response_chunks.gather_batches(starts, batch_size))

    def _planned_batches(
        self,
        movie_steps: list[tuple[bool, torch.Tensor]],
        response_steps: list[tuple[bool, torch.Tensor]] | None,
        starts: np.ndarray,
        batch_size: int,
    ) -> Iterator[DataPoint]:
        movie, responses = self._movie_chunks, self._response_chunks
        prefetch = movie.reads_file  # the next batch's disk reads overlap this batch's work
        if response_steps is not None and not prefetch and not self._inputs_finished_apart():
            # The common case: each batch is two copies and two tensors. The movie's buffer is handed out as
            # its (B, C, T, H, W) view directly (what ``_finish_inputs`` makes of it, without the extra view);
            # a small pass's targets are gathered at once, as views of one tensor.
            inputs = movie.fetch_all(movie_steps, INPUT_ORDER)
            if responses.pass_bytes(len(starts)) <= PASS_GATHER_MAX_BYTES:
                yield from map(DataPoint, inputs, responses.gather_batches(starts, batch_size))
            else:
                yield from map(DataPoint, inputs, responses.fetch_all(response_steps))
            return
        for step, (whole, index) in enumerate(movie_steps):
            if prefetch and step + 1 < len(movie_steps):
                movie.prefetch(*movie_steps[step + 1])
            # No local names for batches: a suspended generator must not keep its last batch alive (batch
            # buffers are reused only once nothing references them).
            yield DataPoint(
                self._finish_inputs(movie.fetch(whole, index)),
                self._gather_responses(starts[step * batch_size : (step + 1) * batch_size])
                if response_steps is None
                else responses.fetch(*response_steps[step]),
            )

    def _decodes_here(self) -> bool:
        """Whether batches are decoded while assembled: always, unless ``decode_after_transfer`` and the raw
        movie is narrow (a raw float32 movie, mapped in place, saves nothing on the bus, and its batches
        could not be told from decoded ones afterwards)."""
        if self._decoder is None:
            return False
        return not self.decode_after_transfer or self.movie.dtype == torch.float32

    def _inputs_finished_apart(self) -> bool:
        """Whether a batch's inputs need more than a view of the gathered chunks (a decode here, a flip)."""
        return self.flip_width or self._decodes_here()

    def _finish_inputs(self, chunks: torch.Tensor) -> torch.Tensor:
        """``(B, T, C, H, W)`` chunks -> ``(B, C, T, H, W)`` inputs (a view unless flipped or decoded)."""
        if self._decoder is not None and self._decodes_here():
            chunks = self._decoder.decode(chunks, 2)
        inputs = chunks.permute(INPUT_ORDER)
        return inputs.flip(-1) if self.flip_width else inputs

    def decode_inputs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Float32 ``(B, C, T, H, W)`` inputs of a batch that left compact (``decode_after_transfer``), on
        whatever device it now is; float32 inputs (decoded already, see ``_decodes_here``) are returned as they
        are."""
        if self._decoder is None or inputs.dtype == torch.float32:
            return inputs
        return self._decoder.decode(inputs, 1)

    def _responses_neuron_major(self) -> bool:
        responses = self.responses
        return not responses.is_contiguous() and responses.T.is_contiguous()

    def _gather_responses(self, starts: np.ndarray) -> torch.Tensor:
        """``(B, chunk, N)``. Responses stored neuron-major (a transposed view) are gathered along their
        contiguous time axis and returned as a transposed view, which avoids both a copy of the stored
        responses and a slow strided gather."""
        responses = self.responses
        if self._responses_neuron_major():
            rows = self._response_chunks.stored_rows(
                (starts[:, None] + np.arange(self.chunk_size)).reshape(-1)
            )
            nbytes = len(rows) * responses.shape[1] * responses.element_size()
            gathered = COPY_THREADS.run(
                nbytes, responses.device, lambda: torch.index_select(responses.T, 1, rows)
            )
            return gathered.T.view(len(starts), self.chunk_size, -1)
        return self._response_chunks.gather(starts)

    # The stored tensors; rebinding one (e.g. moving it to a device) rebinds its gatherer.
    @property
    def movie(self) -> torch.Tensor:
        return self._movie_chunks.source

    @movie.setter
    def movie(self, value: torch.Tensor) -> None:
        self._movie_chunks.bind(value)

    @property
    def responses(self) -> torch.Tensor:
        return self._response_chunks.source

    @responses.setter
    def responses(self, value: torch.Tensor) -> None:
        self._response_chunks.bind(value)

    def _gather_movie(self, positions: torch.Tensor) -> torch.Tensor:
        frames = self.movie_index[positions] if self.movie_index is not None else positions
        return torch.index_select(self.movie, 0, frames.to(self.movie.device))

    # -- conveniences expected by openretina users -----------------------------------------------------------
    @property
    def n_neurons(self) -> int:
        return int(self.responses.shape[1])

    @property
    def movies(self) -> torch.Tensor:
        """The whole sequence as ``(C, L, H, W)`` (gathers when re-indexed; a view otherwise)."""
        positions = torch.arange(self.sequence_length)
        movie = self._gather_movie(positions) if self.movie_index is not None else self.movie
        if self._decoder is not None:
            movie = self._decoder.decode(movie, 1, pooled=False)
        movie = movie.permute(1, 0, 2, 3)
        return movie.flip(-1) if self.flip_width else movie

    @property
    def sequence_responses(self) -> torch.Tensor:
        """The whole sequence's responses ``(L, N)``."""
        if self.response_index is None:
            return self.responses
        return torch.index_select(self.responses, 0, self.response_index.to(self.responses.device))

    @property
    def mean_response(self) -> torch.Tensor:
        """Per-neuron mean over the sequence, ``(N,)``."""
        return self.sequence_responses.mean(dim=0)

    def to(self, device: torch.device | str, movie: torch.Tensor | None = None) -> MovieDataset:
        """Move the arrays to ``device`` in place (pass an already-moved shared ``movie`` to avoid a copy)."""
        device = torch.device(device)
        self.movie = movie if movie is not None else self.movie.to(device)
        self.responses = self.responses.to(device)
        if self.movie_index is not None:
            self.movie_index = self.movie_index.to(device)
        if self.response_index is not None:
            self.response_index = self.response_index.to(device)
        return self
