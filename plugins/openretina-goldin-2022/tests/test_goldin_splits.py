"""Splits of single images, checked on a sample whose images and counts encode their own index.

Train image ``i`` is the constant image ``i + 1`` and test image ``j`` the constant ``-(j + 1)``; cell ``c``
responds ``1000 (c + 1) + i + 1`` (test: ``+ j + 1``, every trial). Loaded without z-scoring and with
``fr_normalization=1``, every batch can be decoded exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from openretina_goldin_2022 import get_goldin_dataloaders, load_all_stimuli, write_sample

from openretina_core.data import LongCycler
from openretina_core.registry import SyntheticSample

N_TRAIN, N_TEST = 700, 30
CELLS = {"mouse": 3, "mouse_2": 2}


@pytest.fixture(scope="module")
def encoded(tmp_path_factory: pytest.TempPathFactory) -> SyntheticSample:
    table = {name: ("mouse", n, name == "mouse") for name, n in CELLS.items()}
    return write_sample(
        tmp_path_factory.mktemp("goldin_encoded"),
        sessions=table,
        n_train=N_TRAIN,
        n_test=N_TEST,
        encode_index=True,
    )


def load(sample: SyntheticSample, **options):
    return get_goldin_dataloaders(
        data_dir=sample.data_dir, normalize_stimuli=False, fr_normalization=1.0, **options
    )


def decode(batch, test: bool = False) -> np.ndarray:
    """The image indices of a batch, after checking every pixel and every cell's count agree with them."""
    inputs, targets = batch
    assert inputs.shape[1:4] == (1, 1, 108) and targets.shape[1] == 1
    codes = inputs[:, 0, 0, 0, 0]
    assert torch.equal(inputs.amax(dim=(1, 2, 3, 4)), codes) and torch.equal(
        inputs.amin(dim=(1, 2, 3, 4)), codes
    )
    index = (-codes - 1) if test else (codes - 1)
    cells = 1000.0 * torch.arange(1, targets.shape[2] + 1)
    expected = cells[None, :] + (index + 1)[:, None]
    assert torch.equal(targets[:, 0, :], expected), "targets belong to the image of the same sample"
    return index.long().numpy()


def indices(loader, test: bool = False) -> np.ndarray:
    return np.concatenate([decode(batch, test) for batch in loader])


def test_no_image_in_two_splits_and_every_batch_aligned(encoded: SyntheticSample) -> None:
    loaders = load(encoded, num_val_images=100, batch_size=16)
    for session in CELLS:
        train = indices(loaders["train"][session])
        validation = indices(loaders["validation"][session])
        test = indices(loaders["test"][session], test=True)
        chosen = loaders.data_info["val_image_indices"][session]
        assert len(set(train)) == len(train) == (N_TRAIN - 100) // 16 * 16, "drop_last only drops a remainder"
        assert validation.tolist() == chosen, "validation images in the recorded order"
        assert not set(train) & set(validation)
        all_train = set(range(N_TRAIN)) - set(chosen)
        assert set(train) <= all_train and len(all_train - set(train)) < 16
        assert test.tolist() == list(range(N_TEST))


def test_zscored_batches_decode_with_the_recorded_statistics(encoded: SyntheticSample) -> None:
    loaders = get_goldin_dataloaders(data_dir=encoded.data_dir, num_val_images=100, fr_normalization=1.0)
    stats = load_all_stimuli(encoded.data_dir)["mouse"]
    inputs, targets = next(iter(loaders["train"]["mouse"]))
    codes = inputs[:, 0, 0, 0, 0].double() * stats.norm_std + stats.norm_mean
    assert torch.allclose(codes, codes.round(), atol=1e-3)
    assert torch.equal(targets[:, 0, 0], (1000 + codes.round()).float())


def test_train_images_are_shuffled_every_epoch(encoded: SyntheticSample) -> None:
    """openretina 1.1.1 never shuffles here: with chunk == clip its sampler keeps the start order."""
    loaders = load(encoded, num_val_images=100)
    loader = loaders["train"]["mouse"]
    first, second = indices(loader), indices(loader)
    assert sorted(first) != first.tolist(), "shuffled within an epoch"
    assert not np.array_equal(first, second), "a new order every epoch"
    assert len(set(first) ^ set(second)) < 2 * 16, "the same images (up to the dropped remainder)"
    cycler = LongCycler(loaders["train"], shuffle=True, seed=0)
    passes = [[decode(batch)[0] for session, batch in cycler if session == "mouse"] for _ in range(2)]
    assert passes[0] != passes[1]


def test_seeded_split_is_sorted_reproducible_and_seeded(encoded: SyntheticSample) -> None:
    a = load(encoded).data_info["val_image_indices"]
    b = load(encoded).data_info["val_image_indices"]
    c = load(encoded, seed=7).data_info["val_image_indices"]
    assert a == b and a != c
    for images in a.values():
        assert len(images) == 640 and images == sorted(images) and len(set(images)) == 640
    assert a["mouse"] == a["mouse_2"], "sessions with as many train images get the same validation images"
    expected = np.sort(np.random.default_rng(42).choice(N_TRAIN, 640, replace=False)).tolist()
    assert a["mouse"] == expected


def test_explicit_validation_images(encoded: SyntheticSample) -> None:
    loaders = load(encoded, val_image_indices=[5, 3, 600])
    assert indices(loaders["validation"]["mouse"]).tolist() == [5, 3, 600]
    per_session = load(encoded, val_image_indices={"mouse": [1, 2], "mouse_2": [9]})
    assert indices(per_session["validation"]["mouse_2"]).tolist() == [9]
    assert 9 in set(indices(per_session["train"]["mouse"]).tolist()) | set(range(N_TRAIN - 16, N_TRAIN))
    with pytest.raises(ValueError, match="must lie in"):
        load(encoded, val_image_indices=[N_TRAIN])


def test_only_index_maps_no_copies(encoded: SyntheticSample) -> None:
    loaders = load(encoded, num_val_images=100)
    assert loaders.data_info["movie_copies_made"] == 0
    train_ds = loaders["train"]["mouse"].dataset
    val_ds = loaders["validation"]["mouse"].dataset
    assert train_ds.movie.data_ptr() == val_ds.movie.data_ptr(), "train and validation share one buffer"
    assert train_ds.movie.shape == (N_TRAIN, 1, 108, 108) and train_ds.chunk_size == 1
