"""The restricted unpickler: numpy arrays and plain containers load; anything that could run code is refused."""

from __future__ import annotations

import os
import pickle
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
from openretina_hoefling_2024.stimuli import load_movies

from openretina_core.data import UnsafePickleError, file_sha256, load_pickle


class _RunsCommand:
    """A payload that would create ``marker`` when unpickled by ``pickle.load``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (os.system, (f"touch {self.marker}",))


class _CallsEval:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (eval, ("__import__('os').getcwd()",))


def _dump(path: Path, obj: object, protocol: int = 4) -> Path:
    with open(path, "wb") as handle:
        pickle.dump(obj, handle, protocol=protocol)
    return path


@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_numpy_arrays_and_containers_load(tmp_path: Path, protocol: int) -> None:
    content = {
        "train": np.arange(24, dtype=np.float32).reshape(2, 3, 4),
        "fortran": np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        "random_sequences": np.arange(12, dtype=np.uint8).reshape(6, 2),
        "movie_stats": OrderedDict(dichromatic={"mean": np.array([36.98]), "sd": np.array([36.98])}),
        "scalar": np.float64(2.5),
        "plain": (1, "a", None, True, 2.5, b"x", [1, 2], {3}),
    }
    loaded = load_pickle(_dump(tmp_path / "ok.pkl", content, protocol))
    for key in ("train", "fortran", "random_sequences"):
        np.testing.assert_array_equal(loaded[key], content[key])
        assert loaded[key].dtype == content[key].dtype
    assert loaded["fortran"].flags.f_contiguous
    assert loaded["movie_stats"]["dichromatic"]["sd"][0] == 36.98
    assert loaded["scalar"] == 2.5 and loaded["plain"] == content["plain"]


def test_numpy1_module_names_are_accepted(tmp_path: Path) -> None:
    """Pickles written by numpy < 2 name ``numpy.core.multiarray``; they load without numpy's shim."""
    raw = pickle.dumps({"a": np.arange(4, dtype=np.int16)}, protocol=2)
    legacy = raw.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert legacy != raw
    path = tmp_path / "legacy.pkl"
    path.write_bytes(legacy)
    np.testing.assert_array_equal(load_pickle(path)["a"], np.arange(4, dtype=np.int16))


def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = _dump(tmp_path / "evil.pkl", {"train": _RunsCommand(marker)})
    with pytest.raises(UnsafePickleError) as excinfo:
        load_pickle(path)
    message = str(excinfo.value)
    assert str(path) in message and "system" in message  # names the file and the refused global
    assert not marker.exists()
    with pytest.raises(UnsafePickleError, match="eval"):
        load_pickle(_dump(tmp_path / "eval.pkl", [_CallsEval()]))


def test_malicious_stimulus_file_through_the_public_loader(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    path = _dump(
        tmp_path / "rgc_natstim_18x16_joint_normalized_2024-01-11.pkl", {"train": _RunsCommand(marker)}
    )
    with pytest.raises(UnsafePickleError):
        load_movies(path)
    assert not marker.exists()


def test_object_arrays_and_direct_ndarray_calls_are_refused(tmp_path: Path) -> None:
    path = _dump(tmp_path / "objects.pkl", {"train": np.array([1, "a", None], dtype=object)})
    with pytest.raises(UnsafePickleError, match="object"):
        load_pickle(path)


def test_hash_is_checked_before_unpickling(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    evil = _dump(tmp_path / "evil.pkl", {"train": _RunsCommand(marker)})
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_pickle(evil, sha256="0" * 64)
    assert not marker.exists()
    good = _dump(tmp_path / "good.pkl", {"a": np.ones(3)})
    assert load_pickle(good, sha256=file_sha256(good))["a"].sum() == 3
    with pytest.raises(ValueError, match="sha256 mismatch"):
        load_movies(good, sha256="f" * 64)
