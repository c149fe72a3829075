"""``RetinaDataModule``: a registry dataset (or a lab's ``BaseDataLoader``) as a ``LightningDataModule``.

    from openretina_core.lightning import RetinaDataModule

    data = RetinaDataModule("karamanlis_2024", species="marmoset", download=True, batch_size=32)
    trainer = lightning.pytorch.Trainer(max_epochs=10)
    trainer.fit(model, datamodule=data)  # training_step(batch, batch_idx): session, (inputs, targets) = batch

What Lightning does and what this module leaves to the cyclers:

- ``prepare_data`` (once per node) downloads missing files and writes the prepared store; ``setup`` (every
  process) builds the loaders. Under DDP the loaders shard their own samples across ranks, so Lightning's
  ``DistributedSampler`` is not involved (the cyclers are iterable datasets, which Lightning leaves alone).
- Training iterates ``LongCycler`` (sessions round-robin, the epoch taken from the trainer), validation and
  test iterate ``ShortCycler`` (every sample once, no padded duplicates).
- ``transfer_batch_to_device`` moves ``(session, DataPoint)`` through the ``move_batch`` hook (pinned memory,
  non-blocking copies); a dataset small enough for the GPU can be kept there (``keep_on_device``), and
  batches are then assembled on the device.
- The training position is part of every checkpoint (the fit loop saves the train loader's state and the
  module's ``state_dict``), so ``trainer.fit(..., ckpt_path=...)`` resumes mid-epoch with exactly the batches
  not yet trained on. Where Lightning fetches batches ahead of the training step (it does for a loader
  without a length, or several of them), the saved position leaves those out: it counts the batches that
  reached ``transfer_batch_to_device`` in training.
"""

from __future__ import annotations

import collections
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

try:
    from lightning.pytorch import LightningDataModule
except ImportError as exc:  # the one optional dependency of this face: say how to get it
    raise ImportError(
        'openretina_core.lightning needs Lightning: pip install "openretina-core[lightning]"'
    ) from exc
import torch

from openretina_core.data.base_dataloader import BaseDataLoader
from openretina_core.data.cycler_state import rewind_state
from openretina_core.data.cyclers import CyclerDataLoader, LongCycler, ShortCycler
from openretina_core.data.device import dataset_nbytes, move_batch, place_on_device
from openretina_core.data.registered import get_dataloaders
from openretina_core.registry.manager import get_plugin_manager

STATE_VERSION = 1
NOT_TEST_SPLITS = ("train", "validation")


class _TrainLoader(CyclerDataLoader):
    """The training loader: runs the trainer's current epoch, and remembers the pairs it delivered that the
    training loop has not taken yet (fetched ahead), so its state is the trained position."""

    def __init__(
        self, cycler: LongCycler, datamodule: RetinaDataModule, num_workers: int, pin_memory: bool
    ) -> None:
        super().__init__(cycler, num_workers=num_workers, pin_memory=pin_memory)
        self._datamodule = datamodule
        self._ahead: collections.deque[str] = collections.deque()

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        trainer = self._datamodule.trainer
        if trainer is not None:
            self.set_epoch(trainer.current_epoch)
        self._ahead.clear()
        return self._tracked(super().__iter__())

    def _tracked(self, items: Iterator[Any]) -> Iterator[Any]:
        for item in items:
            self._ahead.append(item[0])
            yield item

    def taken(self) -> None:
        """The training loop took the oldest delivered pair."""
        if self._ahead:
            self._ahead.popleft()

    def state_dict(self) -> dict[str, Any]:
        return rewind_state(self.cycler.state_dict(), list(self._ahead))


class RetinaDataModule(LightningDataModule):
    """Any registered dataset, a ``BaseDataLoader`` or an already built loaders dict, for ``Trainer.fit``.

    ``dataset``: a registry name (``openretina_core.list_datasets()``), a ``BaseDataLoader`` or the dict
    ``get_dataloaders`` returns. ``data_dir``, ``download`` and ``dataset_options`` (``species=``, ...) go to
    ``get_dataloaders``; ``batch_size`` too. ``seed`` and ``shuffle_sessions`` are the training cycler's.
    ``num_workers``/``pin_memory`` run the cyclers in DataLoader workers. ``keep_on_device``: keep the data on
    the trainer's GPU and assemble batches there (``None`` asks the ``keep_on_device`` hook, i.e. when it
    fits; never with workers). ``test_split``: the test stimulus to test on (default: every one, as one
    test loader each, in sorted order; ``test_names`` lists them).
    """

    def __init__(
        self,
        dataset: str | BaseDataLoader | Mapping[str, Mapping[str, Any]],
        *,
        batch_size: int = 32,
        data_dir: str | Path | None = None,
        download: bool = False,
        seed: int = 0,
        shuffle_sessions: bool = True,
        num_workers: int = 0,
        pin_memory: bool = False,
        keep_on_device: bool | None = False,
        test_split: str | None = None,
        **dataset_options: Any,
    ) -> None:
        super().__init__()
        if not isinstance(dataset, str | BaseDataLoader | Mapping):
            raise TypeError(
                "dataset must be a registry name, a BaseDataLoader or a loaders dict, "
                f"got {type(dataset).__name__}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.data_dir = data_dir
        self.download = download
        self.seed = seed
        self.shuffle_sessions = shuffle_sessions
        self.num_workers = num_workers
        self.pin_memory = pin_memory
        self.keep_on_device = keep_on_device
        self.test_split = test_split
        self.dataset_options = dataset_options
        self.loaders: Mapping[str, Mapping[str, Any]] | None = None
        self.train_cycler: LongCycler | None = None
        self._train_loader: _TrainLoader | None = None
        self._state_to_load: Mapping[str, Any] | None = None
        self._prepared = False

    # -- data -----------------------------------------------------------------------------------------------

    def prepare_data(self) -> None:
        """Once per node: download missing files (with ``download=True``) and write the prepared store."""
        if isinstance(self.dataset, str) and not self._prepared:
            from openretina_core.store import prepare

            options = {"batch_size": self.batch_size, **self.dataset_options}
            prepare(self.dataset, data_dir=self.data_dir, download=self.download, **options)
            self._prepared = True

    def setup(self, stage: str | None = None) -> None:
        """Every process: the loaders (sharded across ranks under DDP) and the training cycler, once."""
        if self.loaders is not None:
            return
        if isinstance(self.dataset, Mapping):
            loaders = self.dataset
        elif isinstance(self.dataset, str):
            loaders = get_dataloaders(
                self.dataset,
                data_dir=self.data_dir,
                download=self.download,
                batch_size=self.batch_size,
                **self.dataset_options,
            )
        else:
            loaders = get_dataloaders(self.dataset, batch_size=self.batch_size, **self.dataset_options)
        missing = [split for split in NOT_TEST_SPLITS if split not in loaders]
        if missing:
            raise ValueError(f"the loaders dict has no {missing} split; it has {sorted(loaders)}")
        self._keep_on_device(loaders)
        self.loaders = loaders
        self.train_cycler = LongCycler(loaders["train"], shuffle=self.shuffle_sessions, seed=self.seed)
        if self._state_to_load is not None:
            self.train_cycler.load_state_dict(self._state_to_load)
            self._state_to_load = None

    def _keep_on_device(self, loaders: Mapping[str, Mapping[str, Any]]) -> None:
        device = self.trainer.strategy.root_device if self.trainer is not None else None
        if device is None or device.type == "cpu" or self.num_workers or self.keep_on_device is False:
            return
        keep = self.keep_on_device
        if keep is None:
            keep = get_plugin_manager().hook.keep_on_device(nbytes=dataset_nbytes(loaders), device=device)
        if keep:
            place_on_device(loaders, device)

    @property
    def data_info(self) -> dict[str, Any]:
        """Neuron counts, input shape, normalisation, validation clips (after ``setup``)."""
        return dict(getattr(self._loaders(), "data_info", {}))

    @property
    def test_names(self) -> list[str]:
        """The test stimuli ``test_dataloader`` returns, in its order."""
        names = sorted(split for split in self._loaders() if split not in NOT_TEST_SPLITS)
        if self.test_split is None:
            return names
        if self.test_split not in names:
            raise ValueError(f"test_split {self.test_split!r} is not one of the test stimuli {names}")
        return [self.test_split]

    def _loaders(self) -> Mapping[str, Mapping[str, Any]]:
        if self.loaders is None:
            raise RuntimeError("call setup() first (the Trainer does)")
        return self.loaders

    def train_dataloader(self) -> CyclerDataLoader:
        self._loaders()
        if self.train_cycler is None:  # setup() builds both
            raise RuntimeError("call setup() first (the Trainer does)")
        self._train_loader = _TrainLoader(self.train_cycler, self, self.num_workers, self.pin_memory)
        return self._train_loader

    def val_dataloader(self) -> CyclerDataLoader:
        return self._short("validation")

    def test_dataloader(self) -> CyclerDataLoader | list[CyclerDataLoader]:
        loaders = [self._short(name) for name in self.test_names]
        if not loaders:
            raise ValueError("this dataset has no test stimulus")
        return loaders[0] if len(loaders) == 1 else loaders

    def _short(self, split: str) -> CyclerDataLoader:
        return ShortCycler(self._loaders()[split]).as_dataloader(self.num_workers, self.pin_memory)

    # -- device ---------------------------------------------------------------------------------------------

    def transfer_batch_to_device(self, batch: Any, device: torch.device, dataloader_idx: int) -> Any:
        """``(session, DataPoint)`` to ``device`` through the ``move_batch`` hook."""
        trainer = self.trainer
        if trainer is not None and trainer.training and self._train_loader is not None:
            self._train_loader.taken()
        return move_batch(batch, device)

    # -- checkpoints ----------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """The training position (the cycler's state, less any batch fetched ahead of training)."""
        if self._train_loader is not None:
            train: Mapping[str, Any] | None = self._train_loader.state_dict()
        elif self.train_cycler is not None:
            train = self.train_cycler.state_dict()
        else:
            train = self._state_to_load
        return {"version": STATE_VERSION, "train": train}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        train = state_dict.get("train")
        if train is None:
            return
        if self.train_cycler is None:
            self._state_to_load = train  # applied in setup()
        else:
            self.train_cycler.load_state_dict(train)
