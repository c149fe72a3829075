"""Fuzzing every dataset plugin's sample with damaged files (issue 16): each load either succeeds with the same
data as the undamaged sample or raises one of our errors (``OpenRetinaDataError``) naming the damaged file or
the session it belongs to; never a bare error from h5py, numpy, torch or pickle, never damaged data served.

The number of examples is small and fixed in CI (``OPENRETINA_FUZZ_EXAMPLES``, default 3 per dataset);
``scripts/fuzz-bad-files.sh`` runs many more, drawn at random.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openretina_core import OpenRetinaDataError
from openretina_core.registry import get_dataset_spec, list_datasets
from openretina_core.testing.damage import (
    batch_signature,
    damage_hdf5_key,
    damage_npy,
    damage_pickle,
    hdf5_arrays,
    linked_copy,
    load_offline,
    unlinked,
)

EXAMPLES = int(os.environ.get("OPENRETINA_FUZZ_EXAMPLES", "3"))
RANDOM = bool(os.environ.get("OPENRETINA_FUZZ_RANDOM"))  # CI: the same examples every run
# Bytes flipped inside raw array data cannot be seen in a file loaded from data_dir (nothing to compare with):
# files in the cache are checked against their recorded sha256 instead (tests/test_download_fetch.py).
FILE_DAMAGE = ("empty", "truncated", "random")
KEY_DAMAGE = ("delete", "strings", "nan", "inf", "complex", "zero_length")
# Whole arrays of .npy files and the largest float array of a pickle (complex, inf, strings, all NaN, no frames)
ARRAY_DAMAGE = ("strings", "inf", "complex", "all_nan", "zero_frames")
HDF5_SUFFIXES = (".h5", ".hdf5", ".mat")
# In the generic HDF5 layout every responses_<name> key is optional (a session shows the stimuli it has keys
# for), so deleting one leaves a valid, different session: not damage.
NOT_DAMAGE = {"hdf5": {"delete"}}
# Found by the new-user sweep in a plugin being rewritten (strict xfail there): Sridhar's .npy readers let a
# string array through to numpy; left out here so CI's fixed examples stay meaningful for the rest.
KNOWN_MISSES = {"sridhar_2025": {(".npy", "strings")}}
pytestmark = pytest.mark.slow


def _datasets() -> list[str]:
    return [name for name in list_datasets() if get_dataset_spec(name).write_sample is not None]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Each dataset's sample, written once, with the batches of its undamaged load."""
    written = {}
    for name in _datasets():
        root = tmp_path_factory.mktemp(f"fuzz_{name}")
        sample = get_dataset_spec(name).write_sample(root, seed=0)
        written[name] = (sample, _signature(_load(name, sample.data_dir, sample.options)))
    return written


def _load(name: str, data_dir: Any, options: Any) -> Any:
    return load_offline(name, data_dir, options)


def _signature(loaders: Any) -> dict[str, list[float]]:
    return batch_signature(loaders)


def _damage_key(path: Path, key: str, kind: str) -> bool:
    """Damage one dataset of an HDF5 file; False when the kind does not apply to it."""
    if kind == "delete":
        import h5py

        with h5py.File(path, "r+") as handle:
            del handle[key]
        return True
    named = {"nan": "nan_one", "zero_length": "zero_frames"}.get(kind, kind)
    if named == "nan_one":  # one NaN in the middle of a float array
        import h5py

        with h5py.File(path, "r+") as handle:
            values = handle[key][()]
            if not np.issubdtype(np.asarray(values).dtype, np.floating) or np.size(values) == 0:
                return False
            values = np.array(values)
            values.reshape(-1)[values.size // 2] = np.nan
            del handle[key]
            handle[key] = values
        return True
    return damage_hdf5_key(path, key, named)


def _damage_file(path: Path, kind: str, fraction: float, seed: int) -> None:
    data = path.read_bytes()
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_bytes(data[: int(len(data) * fraction)])
    else:  # as many random bytes as it had
        path.write_bytes(
            np.random.default_rng(seed).integers(0, 256, size=len(data), dtype=np.uint8).tobytes()
        )


def _named(error: BaseException, path: Path, root: Path) -> bool:
    text = str(error)
    relative = path.relative_to(root)
    return any(part in text for part in (str(path), path.name, *relative.parts[:-1], path.stem))


@pytest.mark.parametrize("name", _datasets())
@settings(
    max_examples=EXAMPLES, deadline=None, derandomize=not RANDOM, suppress_health_check=list(HealthCheck)
)
@given(data=st.data())
def test_damaged_samples_load_correctly_or_fail_with_our_error(name: str, samples: dict, data: Any) -> None:
    source = Path(samples[name][0].data_dir)
    files = sorted(p for p in source.rglob("*") if p.is_file())
    target_file = data.draw(st.sampled_from(files), label="file")
    hdf5 = target_file.suffix in HDF5_SUFFIXES
    arrays = ARRAY_DAMAGE if target_file.suffix in (".npy", ".pkl") else ()
    known = {k for suffix, k in KNOWN_MISSES.get(name, set()) if suffix == target_file.suffix}
    kinds = [
        k
        for k in FILE_DAMAGE + (KEY_DAMAGE if hdf5 else arrays)
        if k not in NOT_DAMAGE.get(name, set()) and k not in known
    ]
    kind = data.draw(st.sampled_from(kinds), label="damage")
    key = None
    if kind in KEY_DAMAGE and hdf5:
        keys = sorted(hdf5_arrays(target_file))
        if not keys:
            return
        key = data.draw(st.sampled_from(keys), label="key")
    cut, seed = data.draw(st.floats(0.0, 0.99), label="cut"), data.draw(st.integers(0, 99), label="seed")
    _damage_and_load(name, samples, target_file.relative_to(source), kind, key, cut, seed)


# What larger runs (scripts/fuzz-bad-files.sh) found, fixed at the reader, kept as fixed examples for CI.
FOUND = [
    # a NaN sample time shifted Höfling's interpolated traces: served changed (h5fields.sample_times)
    (
        "hoefling_2024",
        "responses/rgc_natstim_2024-08-14.h5",
        "nan",
        "session_1_ventral1_20200226/natural_traces_times",
    ),
]


@pytest.mark.parametrize(("name", "relative", "kind", "key"), FOUND)
def test_what_larger_runs_found(name: str, relative: str, kind: str, key: str | None, samples: dict) -> None:
    _damage_and_load(name, samples, Path(relative), kind, key, 0.5, 0)


def _damage_and_load(
    name: str, samples: dict, relative: Path, kind: str, key: str | None, cut: float, seed: int
) -> None:
    """Damage one file of a copy of the sample; its load must serve the undamaged data or raise our error."""
    sample, undamaged = samples[name]
    source = Path(sample.data_dir)
    with tempfile.TemporaryDirectory(prefix=f"fuzz_{name}_") as scratch:
        root = linked_copy(source, Path(scratch) / source.name)
        damaged = unlinked(root / relative)
        if key is not None:
            if not _damage_key(damaged, key, kind):
                return
        elif kind in ARRAY_DAMAGE and damaged.suffix in (".npy", ".pkl"):
            if not (damage_npy if damaged.suffix == ".npy" else damage_pickle)(damaged, kind):
                return
        else:
            _damage_file(damaged, kind, cut, seed)
        try:
            loaders = _load(name, root, sample.options)
            signature = _signature(loaders)
        except OpenRetinaDataError as error:
            assert _named(error, damaged, root), f"{type(error).__name__} does not name {damaged}: {error}"
            return
        except (torch.cuda.OutOfMemoryError, KeyboardInterrupt):
            raise
        except Exception as error:
            pytest.fail(f"{kind} of {relative} gave a bare {type(error).__name__}: {error}")
        assert signature == undamaged, f"{kind} of {relative} ({key}) was served with changed data"
