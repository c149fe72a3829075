"""The types a training loop sees, for type checkers: one session's loader, the loaders dict's splits, and the
``(session, batch)`` pair a cycler yields.

``get_dataloaders`` returns a :class:`~openretina_core.data.loaders.DataLoaders`, a
``dict[str, SplitLoaders]`` (``"train"``, ``"validation"``, one entry per test stimulus) whose loaders yield
:class:`~openretina_core.data.movie_dataset.DataPoint` batches, so
``for session, batch in LongCycler(loaders["train"])`` gives ``batch.inputs`` and ``batch.targets`` as tensors.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, TypeAlias, TypeVar

from openretina_core.data.movie_dataset import DataPoint

BatchT_co = TypeVar("BatchT_co", covariant=True)


class SessionLoader(Protocol[BatchT_co]):
    """One session's loader: batches to iterate (``DataPoint`` for this package's loaders) and their count.

    A torch ``DataLoader`` and a ``DeviceDataLoader`` are both one."""

    def __iter__(self) -> Iterator[BatchT_co]: ...

    def __len__(self) -> int: ...


SplitLoaders: TypeAlias = dict[str, SessionLoader[DataPoint]]
"""One split of the loaders dict: session name -> that session's loader."""

SessionBatch: TypeAlias = tuple[str, DataPoint]
"""What a cycler over this package's loaders yields: the session's name and its batch."""
