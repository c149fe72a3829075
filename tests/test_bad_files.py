"""The core's readers of damaged files: HDF5, .npy and pickles give errors naming the file (issue 16, classes 1-3)."""

from __future__ import annotations

import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest

from openretina_core import BadFileError, MissingFileError, OpenRetinaDataError
from openretina_core.data import (
    MissingKeyError,
    UnreadableFileError,
    check_finite,
    check_movie_moments,
    check_real_dtype,
    count_nonfinite,
    load_npy,
    load_pickle,
    nonfinite_mask,
    open_hdf5,
)
from openretina_core.testing import DAMAGE_KINDS, assert_names_file, damage_file


@pytest.fixture
def h5_file(tmp_path: Path) -> Path:
    path = tmp_path / "data.h5"
    with h5py.File(path, "w") as h5:
        h5["movie"] = np.random.default_rng(0).standard_normal((50, 20, 20)).astype(np.float32)
    return path


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_hdf5_names_the_file(h5_file: Path, kind: str) -> None:
    damage_file(h5_file, kind)
    expected = pytest.raises(UnreadableFileError, match="not readable as HDF5.*expected a session")
    with expected as info, open_hdf5(h5_file, "a session"):
        pass
    assert isinstance(info.value, OSError)  # what h5py raised before: existing except clauses still work
    assert_names_file(info.value, h5_file)


def test_hdf5_errors_inside_the_block_name_the_file(h5_file: Path) -> None:
    with pytest.raises(MissingKeyError, match="cannot be opened"), open_hdf5(h5_file) as h5:
        h5.id.close()  # h5py now fails inside the block, as it does on a damaged object header
        h5["movie"][...]
    with h5py.File(h5_file, "a") as h5:
        h5.create_dataset("packed", data=np.arange(4000.0), chunks=(1000,), compression="gzip")
        chunk = h5["packed"].id.get_chunk_info(1)
    with open(h5_file, "r+b") as handle:  # garbage where a compressed chunk is: the filter fails
        handle.seek(chunk.byte_offset)
        handle.write(b"\xff" * chunk.size)
    with pytest.raises(UnreadableFileError, match="reading it failed"), open_hdf5(h5_file) as h5:
        h5["packed"][...]
    with pytest.raises(OSError, match="disk full") as info, open_hdf5(h5_file):
        raise OSError("disk full")  # the caller's own failure is not blamed on the file
    assert not isinstance(info.value, OpenRetinaDataError)
    with pytest.raises(MissingKeyError), open_hdf5(h5_file):  # our own errors pass through unchanged
        raise MissingKeyError(h5_file, "x", "key 'x' is missing")


def test_missing_hdf5_is_a_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(MissingFileError), open_hdf5(tmp_path / "absent.h5"):
        pass


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_npy_names_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.arange(1000.0))
    damage_file(path, kind)
    for mmap_mode in (None, "r"):
        try:
            array = load_npy(path, mmap_mode=mmap_mode)
        except BadFileError as exc:
            assert_names_file(exc, path)
        else:  # random bytes that happen to parse cannot occur: the magic string is checked
            pytest.fail(f"a {kind} .npy loaded as {array.shape}")


def test_object_npy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "a.npy"
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(BadFileError, match="Python objects"):
        load_npy(path)


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
def test_damaged_pickle_names_the_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "movie.pkl"
    with open(path, "wb") as handle:
        pickle.dump({"train": np.zeros((2, 10, 4, 4), np.float32)}, handle, protocol=4)
    damage_file(path, kind)
    with pytest.raises(OpenRetinaDataError) as info:
        load_pickle(path)
    assert_names_file(info.value, path)


def test_missing_pickle_is_a_missing_file_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        load_pickle(tmp_path / "absent.pkl")
    assert isinstance(info.value, MissingFileError)


@pytest.mark.parametrize("dtype", [np.complex64, np.complex128, "S3", "U2", object, [("a", "f4")]])
def test_only_real_dtypes_pass(dtype: object) -> None:
    with pytest.raises(BadFileError, match="key 'k'"):
        check_real_dtype(dtype, "/f.h5", "k")
    for ok in (np.bool_, np.uint8, np.int64, np.float16, np.float32, np.float64):
        check_real_dtype(ok, "/f.h5", "k")


def test_inf_is_reported_like_nan() -> None:
    values = np.array([1.0, np.nan, np.inf, -np.inf], dtype=np.float32)
    assert count_nonfinite(values) == (1, 2)
    np.testing.assert_array_equal(nonfinite_mask(values), [False, True, True, True])
    with pytest.raises(BadFileError, match="1 NaN, 2 infinite"):
        check_finite(values, "/f.h5", "k")
    with pytest.raises(BadFileError, match="'k' holds 2 infinite values; expected finite numbers or NaN"):
        check_finite(values, "/f.h5", "k", allow_nan=True)
    check_finite(values[:2], "/f.h5", "k", allow_nan=True)


@pytest.mark.parametrize("policy", ["raise", "drop_neurons", "zero"])
@pytest.mark.parametrize("where", ["train", "test"])
def test_nan_policy_refuses_inf_under_every_policy(policy: str, where: str) -> None:
    """inf is damage, not a missing value: no policy may drop or zero it and serve the rest."""
    from openretina_core import BadDataError
    from openretina_core.data import ResponsesTrainTestSplit, apply_nan_policy

    train, test = np.ones((3, 20), np.float32), np.ones((3, 10), np.float32)
    (train if where == "train" else test)[1, 4] = -np.inf
    responses = ResponsesTrainTestSplit(train=train, test_dict={"m": test})
    with pytest.raises(
        BadDataError, match=r"session 's': responses .* contain 1 infinite values; nan_policy"
    ):
        apply_nan_policy(responses, policy, "s")
    (train if where == "train" else test)[1, 4] = np.nan  # the same value missing: the policy applies
    if policy == "raise":
        with pytest.raises(BadDataError, match="1 NaN values in 1 neurons"):
            apply_nan_policy(responses, policy, "s")
    else:
        cleaned, record = apply_nan_policy(responses, policy, "s")
        assert np.isfinite(cleaned.train).all() and record


@pytest.mark.parametrize(
    ("count", "mean", "std", "match"),
    [
        (0, float("nan"), float("nan"), "no frames"),
        (10, float("nan"), float("nan"), "NaN"),
        (10, 1.0, 0.0, "constant"),
    ],
)
def test_movie_moments_say_what_is_wrong(count: int, mean: float, std: float, match: str) -> None:
    with pytest.raises(BadFileError, match=match):
        check_movie_moments(count, mean, std, "/f.h5", "train")


@pytest.mark.parametrize(
    ("train", "match"),
    [
        (np.full((1, 10, 2, 2), np.nan, np.float32), "NaN or infinite"),
        (np.ones((1, 10, 2, 2), np.float32), "constant movie"),
        (np.zeros((1, 0, 2, 2), np.float32), "0 value"),
    ],
)
def test_movie_statistics_say_nan_not_constant(train: np.ndarray, match: str) -> None:
    from openretina_core.data import movie_statistics

    with pytest.raises(ValueError, match=match):
        movie_statistics(train)
