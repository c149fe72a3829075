"""Samples: chunks of trials with the model's frame overhead, gathered by the core's movie dataset.

A model whose first temporal kernel spans ``num_of_frames`` frames (dilated by ``temporal_dilation``) and whose
hidden layers span ``f`` frames each (dilated by ``d``) needs ``overhead = (num_of_frames - 1) *
temporal_dilation + sum((f - 1) * d)`` frames before its first prediction. A sample is therefore ``chunk +
overhead`` consecutive frames of one trial and the ``chunk`` responses aligned with its last ``chunk`` frames
(shifted by ``extra_frame`` more bins for white noise): chunk ``k`` of a trial starts at frame ``k * chunk``, and
a trial of ``T`` frames has ``floor((T - overhead - extra_frame) / chunk)`` of them (chunks never cross trials).

The splits are index maps into the session's stored movie and responses (nothing is copied); a batch is one
gather per tensor (``openretina_core.data.MovieDataset``), whose targets are cut to the last ``chunk`` bins.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from openretina_core import BadDataError
from openretina_core.data import DataPoint, MovieDataset, MovieSampler, make_movie_dataloader


def frame_overhead(
    num_of_frames: int | Sequence[int],
    temporal_dilation: int = 1,
    hidden_temporal_dilation: int | Sequence[int] = 1,
    num_of_layers: int | None = None,
) -> int:
    """Extra input frames a model needs before its first output (see the module doc).

    ``num_of_frames`` is the first layer's temporal kernel size, or one size per layer (``[15, 11, 7]``, as
    openretina's configs pass ``temporal_kernel_sizes``). ``num_of_layers`` defaults to the number of sizes and
    must agree with it; ``hidden_temporal_dilation`` is one dilation for every hidden layer or one per layer.
    """
    sizes = (
        [int(num_of_frames)]
        if isinstance(num_of_frames, (int, np.integer))
        else [int(f) for f in num_of_frames]
    )
    if not sizes or min(sizes) < 1:
        raise BadDataError(f"num_of_frames must be positive kernel sizes, got {num_of_frames!r}")
    layers = len(sizes) if num_of_layers is None else int(num_of_layers)
    if layers != len(sizes) and not (len(sizes) == 1 and layers == 1):
        raise BadDataError(
            f"num_of_layers={layers} but num_of_frames={num_of_frames!r} gives {len(sizes)} kernel size(s): give "
            f"one temporal kernel size per layer, e.g. num_of_frames=[15, 11, 7]"
        )
    if int(temporal_dilation) < 1:
        raise BadDataError(f"temporal_dilation must be >= 1, got {temporal_dilation}")
    hidden = sizes[1:]
    if isinstance(hidden_temporal_dilation, (int, np.integer, str)):
        dilations = [int(hidden_temporal_dilation)] * len(hidden)
    else:
        dilations = [int(d) for d in hidden_temporal_dilation]
    if len(dilations) != len(hidden) or any(d < 1 for d in dilations):
        raise BadDataError(
            f"hidden_temporal_dilation={hidden_temporal_dilation!r} must be one positive dilation, or one per "
            f"hidden layer ({len(hidden)})"
        )
    return (sizes[0] - 1) * int(temporal_dilation) + sum((f - 1) * d for f, d in zip(hidden, dilations))


def chunks_per_trial(frames: int, chunk: int, overhead: int, extra_frame: int = 0) -> int:
    """How many samples a trial of ``frames`` frames gives (``floor((T - overhead - extra_frame) / chunk)``)."""
    if chunk < 1:
        raise BadDataError(f"time_chunk_size must be >= 1, got {chunk}")
    return max(0, (int(frames) - int(overhead) - int(extra_frame)) // int(chunk))


def trial_sequence(
    positions: Sequence[int], frames: int, chunk: int, overhead: int, extra_frame: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index maps of a split made of the stored trials ``positions`` (each ``frames`` long, stored in order):
    ``(movie_index, response_index, starts)``. Response position ``p`` of a trial reads bin ``p + extra_frame``
    (clamped inside the trial: the clamped bins are never part of a sample)."""
    pos = np.asarray(list(positions), dtype=np.int64)
    offsets = np.arange(frames, dtype=np.int64)
    movie_index = (pos[:, None] * frames + offsets).reshape(-1)
    response_index = (pos[:, None] * frames + np.minimum(offsets + int(extra_frame), frames - 1)).reshape(-1)
    per_trial = chunks_per_trial(frames, chunk, overhead, extra_frame)
    starts = (np.arange(len(pos))[:, None] * frames + np.arange(per_trial) * chunk).reshape(-1)
    return movie_index, response_index, starts


class OverheadMovieDataset(MovieDataset):
    """A :class:`~openretina_core.data.MovieDataset` whose samples are ``chunk + overhead`` frames and the
    ``chunk`` targets of their last frames: inputs ``(B, C, chunk + overhead, H, W)``, targets ``(B, chunk, N)``.
    The responses are gathered with the frames and cut (a view), so batches keep the core's one-gather path.

    With ``rendered`` (an ``entries.RenderedMovie``: the movie's store entry is being written in a thread, and
    ``movie`` is a placeholder), each batch renders its frames into a reused buffer and is decoded as gathered
    frames are; the first batch drawn after the entry is committed switches to the mapped movie, and anything
    that needs the whole movie (``movie``, ``movies``, ``to``) waits for it. A failure of the write is raised
    from the next batch."""

    def __init__(
        self,
        movie: torch.Tensor,
        responses: torch.Tensor,
        chunk: int,
        overhead: int,
        rendered: Any = None,
        checks: Sequence[Any] = (),
        **kwargs: Any,
    ):
        self.rendered = rendered
        # Other background writes (the responses' entry): their failures are raised from every batch.
        self.checks = tuple(checks)
        super().__init__(movie, responses, int(chunk) + int(overhead), **kwargs)
        self.overhead = int(overhead)
        self.target_chunk = int(chunk)
        self._rows = None if self.movie_index is None else self.movie_index.numpy()
        self._frames: torch.Tensor | None = None  # the rendered batches' reused buffer

    @property  # type: ignore[override]
    def movie(self) -> torch.Tensor:
        if self.rendered is not None:
            self._use(self.rendered.wait_committed())
        return self._movie_chunks.source

    @movie.setter
    def movie(self, value: torch.Tensor) -> None:
        self._movie_chunks.bind(value)

    def _use(self, committed: torch.Tensor) -> None:
        assert self.rendered is not None
        self._movie_chunks.file_rows = self.rendered.file_rows
        self._movie_chunks.bind(committed)
        self.rendered, self._frames = None, None

    def _rendering(self) -> Any:
        """The ``RenderedMovie`` batches are rendered from, or None once the entry is committed (then mapped)."""
        if self.rendered is None:
            return None
        committed = self.rendered.committed()  # raises the write's failure
        if committed is None:
            return self.rendered
        self._use(committed)
        return None

    def __getstate__(self) -> dict[str, Any]:
        if self.rendered is not None:  # a thread does not travel: hand over the committed movie
            self._use(self.rendered.wait_committed())
        for write in self.checks:
            write.wait()
        return {**self.__dict__, "checks": ()}

    def _trim(self, batch: DataPoint) -> DataPoint:
        for write in self.checks:
            write.check()
        return DataPoint(batch.inputs, batch.targets[:, self.overhead :])

    def __getitems__(self, starts: Sequence[int]) -> DataPoint:
        rendered = self._rendering()
        if rendered is None:
            return self._trim(super().__getitems__(starts))
        start_np = np.asarray(starts, dtype=np.int64).reshape(-1)
        if len(start_np) and (start_np.min() < 0 or start_np.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)}), got {start_np.tolist()}")
        return self._rendered_batch(rendered, start_np)

    def iter_batches(
        self, starts: np.ndarray, batch_size: int, drop_last: bool, grouped: bool = True
    ) -> Iterator[DataPoint]:
        rendered = self._rendering()
        if rendered is None:
            return map(self._trim, super().iter_batches(starts, batch_size, drop_last, grouped))
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        if drop_last:
            starts = starts[: len(starts) // batch_size * batch_size]
        if len(starts) and (starts.min() < 0 or starts.max() >= len(self)):
            raise IndexError(f"start positions must lie in [0, {len(self)})")
        groups = [starts[i : i + batch_size] for i in range(0, len(starts), batch_size)]
        return map(partial(self._rendered_batch, rendered), groups)

    def _rendered_batch(self, rendered: Any, starts: np.ndarray) -> DataPoint:
        """One batch with its frames rendered (bit for bit the frames the entry stores)."""
        rendered.write.check()
        positions = starts[:, None] + np.arange(self.chunk_size)
        rows = positions if self._rows is None else self._rows[positions]
        shape = (len(starts), self.chunk_size, *rendered.shape[1:])
        reuse = self._decoder is not None and not self.decode_after_transfer  # decoded into another tensor
        frames = self._frames if reuse and self._frames is not None else None
        if frames is None or tuple(frames.shape) != shape:
            frames = torch.empty(shape, dtype=rendered.tensor.dtype)
            self._frames = frames if reuse else None
        rendered.render_rows(rows.reshape(-1), frames.numpy().reshape(-1, *shape[3:]))
        inputs = self._finish_inputs(frames)
        return self._trim(DataPoint(inputs, self._gather_responses(starts)))


class TrialBlockSampler(MovieSampler):
    """White-noise training order: each trial's chunks are shuffled among themselves, then the trials' blocks
    are shuffled, so a pass reads one trial after another (openretina's ``ChunkedSampler``). ``block`` starts
    per trial, consecutive in ``starts``; drawn from a generator seeded by ``(seed, epoch)``."""

    def __init__(self, starts: np.ndarray, block: int, chunk_size: int, sequence_length: int, **kwargs: Any):
        super().__init__(starts, chunk_size, sequence_length, shuffle=True, shift="none", **kwargs)
        if block < 1 or len(self.starts) % block:
            raise BadDataError(f"{len(self.starts)} starts do not form blocks of {block}")
        self.block = int(block)

    def epoch_starts(self, epoch: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, int(epoch)])
        blocks = self.starts.numpy().reshape(-1, self.block)
        within = rng.permuted(np.broadcast_to(np.arange(self.block), blocks.shape), axis=1)
        order = rng.permutation(len(blocks))
        starts = torch.as_tensor(np.take_along_axis(blocks, within, axis=1)[order].reshape(-1))
        if self.num_replicas > 1:
            n = len(starts)
            starts = starts[: n - n % self.num_replicas][self.rank :: self.num_replicas]
        return starts


def loader_with_sampler(
    dataset: MovieDataset,
    batch_size: int,
    sampler: MovieSampler,
    *,
    num_workers: int = 0,
    pin_memory: bool = False,
) -> DataLoader:
    """A training loader like the core's (``make_movie_dataloader``: same batch collation, last partial batch
    dropped) around another :class:`MovieSampler`."""
    template = make_movie_dataloader(dataset, batch_size, np.zeros(1, dtype=np.int64), train=False)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        drop_last=True,
        collate_fn=template.collate_fn,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=num_workers > 0,
    )
