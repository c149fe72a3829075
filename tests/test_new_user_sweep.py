"""Issue 16 tried again the same way: every dataset plugin's sample, loaded with ``get_dataloaders(name,
data_dir=...)`` as a new user would, after each of the issue's damages (classes 1-6).

Each attempt either serves exactly the undamaged sample's batches or raises one of our errors
(``OpenRetinaDataError``) naming the damaged file, the session it holds or the argument; never a bare error from
h5py, numpy, torch or pickle, never damaged data. Unlike ``test_fuzz_bad_files.py`` (random files and keys),
the sweep is systematic: the first file of each container type, the largest and the largest response-like
array of each. Class 7 (failing, duplicate, non-callable plugins) is in ``test_errors_plugins_and_arguments.py``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openretina_core import BadArchiveError, BadArgumentError, OpenRetinaDataError
from openretina_core.files.cache import EXTRACT_MARKER
from openretina_core.files.extracted import check_extracted
from openretina_core.registry import get_dataset_spec, list_datasets
from openretina_core.testing.damage import (
    DAMAGE_KINDS,
    VALUE_DAMAGE,
    batch_signature,
    damage_file,
    damage_hdf5_key,
    damage_npy,
    damage_pickle,
    hdf5_arrays,
    linked_copy,
    load_offline,
    unlinked,
)

pytestmark = pytest.mark.slow

HDF5 = (".h5", ".hdf5", ".mat")
CONTAINERS = (*HDF5, ".pkl", ".npy", ".zip")
RESPONSE_WORDS = ("resp", "spike", "trace", "binned", "firing")
DATASETS = [name for name in list_datasets() if get_dataset_spec(name).write_sample is not None]


@pytest.fixture(scope="module")
def samples(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """``samples(name)``: the dataset's sample (written once) and the signature of its undamaged batches."""
    written: dict[str, tuple[Any, dict[str, list[float]]]] = {}

    def get(name: str) -> tuple[Any, dict[str, list[float]]]:
        if name not in written:
            sample = get_dataset_spec(name).write_sample(tmp_path_factory.mktemp(f"sweep_{name}"), seed=0)
            written[name] = (sample, batch_signature(load_offline(name, sample.data_dir, sample.options)))
        return written[name]

    return get


def _names(error: BaseException, path: Path, root: Path) -> bool:
    """Whether the message names the file, or a session the file's path or name holds."""
    text = str(error)
    return any(part in text for part in (str(path), path.name, path.stem, *path.relative_to(root).parts[:-1]))


def attempt(name: str, samples: Any, root: Path, damaged: Path, what: str, cache: Path | None = None) -> str:
    """Load the damaged copy: ``"refused"`` (our error, naming it) or ``"served"`` (the undamaged batches)."""
    sample, undamaged = samples(name)
    try:
        signature = batch_signature(load_offline(name, root, sample.options, cache))
    except OpenRetinaDataError as error:
        if what.endswith("all_nan") and "nan_policy" in str(error):  # NaN responses: the policy's refusal
            return "refused"
        assert _names(error, damaged, root), (
            f"{what}: {type(error).__name__} does not name {damaged}: {error}"
        )
        return "refused"
    except Exception as error:
        pytest.fail(f"{what}: a bare {type(error).__name__}: {error}")
    assert signature == undamaged, f"{what}: damaged data was served"
    return "served"


def _first_of_each_container(folder: Path) -> list[Path]:
    firsts: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix in CONTAINERS:
            firsts.setdefault(path.suffix, path)
    return list(firsts.values())


def _copy(name: str, samples: Any, tmp_path: Path, file: Path) -> tuple[Path, Path]:
    """A hard-linked copy of the sample with ``file`` given its own bytes: (copy root, the file in it)."""
    source = Path(samples(name)[0].data_dir)
    root = linked_copy(source, tmp_path / f"copy{len(list(tmp_path.iterdir()))}" / source.name)
    return root, unlinked(root / file.relative_to(source))


def _keys_to_damage(path: Path) -> list[str]:
    """The largest array of an HDF5 file, and its largest response-like one."""
    arrays = {k: v for k, v in hdf5_arrays(path).items() if v[0] and ("float" in v[1] or "int" in v[1])}
    if not arrays:
        return []
    by_size = sorted(arrays, key=lambda k: (-int(np.prod(arrays[k][0])), k))
    responses = [k for k in by_size if any(word in k.rsplit("/", 1)[-1].lower() for word in RESPONSE_WORDS)]
    return list(dict.fromkeys(by_size[:1] + responses[:1]))


# -- classes 1-3: corrupt containers; values that are not finite real numbers; degenerate shapes --------------


@pytest.mark.parametrize("kind", DAMAGE_KINDS)
@pytest.mark.parametrize("name", DATASETS)
def test_corrupt_containers(name: str, kind: str, samples: Any, tmp_path: Path) -> None:
    files = _first_of_each_container(Path(samples(name)[0].data_dir))
    assert files, f"{name}'s sample holds none of {CONTAINERS}"
    for file in files:
        root, damaged = _copy(name, samples, tmp_path, file)
        damage_file(damaged, kind, seed=7)
        attempt(name, samples, root, damaged, f"{name}: {kind} {file.name}")


VALUE_KNOWN: dict[tuple[str, str], str] = {}  # misses found by this sweep (strict: a fix turns them green)
VALUE_CASES = [
    pytest.param(
        name,
        kind,
        marks=[pytest.mark.xfail(strict=True, reason=VALUE_KNOWN[name, kind])]
        if (name, kind) in VALUE_KNOWN
        else [],
        id=f"{name}-{kind}",
    )
    for name in DATASETS
    for kind in VALUE_DAMAGE
]


@pytest.mark.parametrize(("name", "kind"), VALUE_CASES)
def test_values_and_shapes(name: str, kind: str, samples: Any, tmp_path: Path) -> None:
    """Complex, inf and string values; every value NaN (NaN images); zero frames."""
    tried = 0
    for file in _first_of_each_container(Path(samples(name)[0].data_dir)):
        if file.suffix in HDF5:
            for key in _keys_to_damage(file):
                root, damaged = _copy(name, samples, tmp_path, file)
                if damage_hdf5_key(damaged, key, kind):
                    attempt(name, samples, root, damaged, f"{name}: {file.name}:{key} {kind}")
                    tried += 1
        elif file.suffix in (".npy", ".pkl"):
            root, damaged = _copy(name, samples, tmp_path, file)
            if (damage_npy if file.suffix == ".npy" else damage_pickle)(damaged, kind):
                attempt(name, samples, root, damaged, f"{name}: {file.name} {kind}")
                tried += 1
    assert tried or kind not in ("strings", "zero_frames"), f"{name}: nothing to damage as {kind}"


# -- classes 4 and 5: a zipped session's extracted copy, and zips that lie -------------------------------------

ZIPPED = [name for name in DATASETS if name == "karamanlis_2024"]  # the samples with a zipped session


def _zipped(name: str, samples: Any, tmp_path: Path) -> tuple[Path, Path, Path]:
    """A copy of the sample, its session zip, and a cache in which that zip was extracted once."""
    source = Path(samples(name)[0].data_dir)
    zipped = next(p for p in sorted(source.rglob("*.zip")))
    root, archive = _copy(name, samples, tmp_path, zipped)
    cache = tmp_path / "cache"
    assert attempt(name, samples, root, archive, f"{name}: first load", cache) == "served"
    return root, archive, cache


def _extracted(cache: Path) -> Path:
    (marker,) = cache.rglob(EXTRACT_MARKER)
    (copy,) = [p for p in marker.parent.iterdir() if p.is_file() and p.name != EXTRACT_MARKER]
    return copy


@pytest.mark.parametrize("damage", ["edited", "edited, stamp restored", "deleted"])
@pytest.mark.parametrize("name", ZIPPED)
def test_extracted_copy_changed_or_deleted(name: str, damage: str, samples: Any, tmp_path: Path) -> None:
    root, archive, cache = _zipped(name, samples, tmp_path)
    copy = _extracted(cache)
    original = copy.read_bytes()
    if damage == "deleted":
        copy.unlink()
    else:
        stat = copy.stat()
        with open(copy, "r+b") as handle:  # same size: only the stamp (or a hash) can tell
            handle.seek(len(original) // 2)
            handle.write(bytes(256))
        if damage == "edited, stamp restored":
            os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            # a load trusts an unchanged stamp (reading nothing); a re-hash finds it, then it is re-extracted
            assert any("sha256" in problem for problem in check_extracted(copy.parent, rehash=True))
            copy.unlink()
    assert check_extracted(copy.parent), "the damage must be visible to the cheap check"
    assert attempt(name, samples, root, archive, f"{name}: extracted copy {damage}", cache) == "served"
    assert _extracted(cache).read_bytes() == original and not check_extracted(copy.parent, rehash=True)


@pytest.mark.parametrize("name", ZIPPED)
def test_verify_reports_an_extracted_copy_damaged_behind_its_stamp(
    name: str, samples: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one damage a load cannot see (same size, stamp restored): ``verify`` re-hashes, reports it and drops
    the marker, so the next load extracts the session again."""
    from click.testing import CliRunner

    from openretina_core.cli import main

    root, archive, cache = _zipped(name, samples, tmp_path)
    copy = _extracted(cache)
    original, stat = copy.read_bytes(), copy.stat()
    with open(copy, "r+b") as handle:
        handle.seek(len(original) // 2)
        handle.write(bytes(256))
    os.utime(copy, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    monkeypatch.setenv("OPENRETINA_CACHE_DIR", str(cache))
    monkeypatch.setenv("OPENRETINA_OFFLINE", "1")
    result = CliRunner().invoke(main, ["verify", name])
    assert result.exit_code == 1, result.output
    line = next(
        line for line in result.output.splitlines() if line.startswith("CORRUPT") and "extracted" in line
    )
    assert copy.name in line and "sha256" in line
    assert attempt(name, samples, root, archive, f"{name}: after verify", cache) == "served"
    assert _extracted(cache).read_bytes() == original
    clean = CliRunner().invoke(main, ["verify", name])
    assert not any(line.startswith("CORRUPT") for line in clean.output.splitlines()), clean.output


@pytest.mark.parametrize("name", ZIPPED)
def test_a_killed_extraction_leaves_no_part_file(name: str, samples: Any, tmp_path: Path) -> None:
    root, archive, cache = _zipped(name, samples, tmp_path)
    copy = _extracted(cache)
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    from openretina_core.files.partials import _host

    orphan = copy.with_name(f"{copy.name}~{_host()}-{int(dead.stdout)}-0badf00d.part")
    orphan.write_bytes(b"half a session")
    assert attempt(name, samples, root, archive, f"{name}: orphaned {orphan.name}", cache) == "served"
    assert not orphan.exists(), "a dead process's partial file must be swept"


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes to read-only folders")
@pytest.mark.parametrize("name", ZIPPED)
def test_read_only_cache_with_a_zipped_session_warns_and_loads(
    name: str, samples: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    source = Path(samples(name)[0].data_dir)
    zipped = next(p for p in sorted(source.rglob("*.zip")))
    root, archive = _copy(name, samples, tmp_path, zipped)
    cache = tmp_path / "read-only cache"
    cache.mkdir()
    cache.chmod(0o555)
    try:
        assert attempt(name, samples, root, archive, f"{name}: read-only cache", cache) == "served"
    finally:
        cache.chmod(0o755)
    assert any("cannot" in r.getMessage() and "temporary" in r.getMessage() for r in caplog.records)


def _rewrite_zip(archive: Path, extra: dict[str, bytes] | None = None, duplicate: bool = False) -> None:
    with zipfile.ZipFile(archive) as zf:
        members = [(info.filename, zf.read(info)) for info in zf.infolist() if not info.is_dir()]
    archive.unlink()
    with zipfile.ZipFile(archive, "w") as zf:
        for member, data in members:
            zf.writestr(member, data)
            if duplicate:
                with pytest.warns(UserWarning, match="Duplicate name"):
                    zf.writestr(member, data[: len(data) // 2])
        for member, data in (extra or {}).items():
            zf.writestr(member, data)


def _lie(archive: Path) -> None:
    """Both CRC-32s of the session file (local header and central directory) lie."""
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = max(zf.infolist(), key=lambda i: i.file_size)
    raw[info.header_offset + 14 : info.header_offset + 18] = b"\0\0\0\0"
    name = info.filename.encode()
    central = raw.find(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(name)] != name:  # this member's central directory entry
        central = raw.find(b"PK\x01\x02", central + 4)
    raw[central + 16 : central + 20] = b"\xde\xad\xbe\xef"
    archive.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["duplicate member", "file and folder", "lying headers"])
@pytest.mark.parametrize("name", ZIPPED)
def test_zips_that_lie(name: str, damage: str, samples: Any, tmp_path: Path) -> None:
    source = Path(samples(name)[0].data_dir)
    zipped = next(p for p in sorted(source.rglob("*.zip")))
    root, archive = _copy(name, samples, tmp_path, zipped)
    with zipfile.ZipFile(archive) as zf:
        largest = max(zf.infolist(), key=lambda i: i.file_size).filename
    if damage == "duplicate member":
        _rewrite_zip(archive, duplicate=True)
    elif damage == "file and folder":
        _rewrite_zip(archive, {f"{largest}/inside.txt": b"the file is a folder too"})
    else:
        _lie(archive)
    with pytest.raises(BadArchiveError) as caught:
        load_offline(name, root, samples(name)[0].options)
    assert str(archive) in str(caught.value) or archive.name in str(caught.value)


# -- class 6: arguments ---------------------------------------------------------------------------------------

# The names each loader calls its validation arguments (Goldin validates images, Höfling lists clips).
VALIDATION = {
    "goldin_2022": [("val_image_indices", "ab"), ("num_val_images", -1)],
    "hoefling_2024": [("validation_clip_indices", "ab"), ("validation_clip_indices", [-1])],
    "sridhar_2025": [],
}
DEFAULT_VALIDATION = [("val_clip_indices", "ab"), ("num_val_clips", -1)]
KNOWN: dict[tuple[str, str], str] = {}  # misses found by this sweep (strict xfails until fixed)


def _argument_cases() -> list[Any]:
    cases = []
    for name in DATASETS:
        for argument, value in [("seed", "abc"), ("seed", None), *VALIDATION.get(name, DEFAULT_VALIDATION)]:
            reason = KNOWN.get((name, argument))
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(name, argument, value, marks=marks, id=f"{name}-{argument}={value!r}"))
    return cases


@pytest.mark.parametrize(("name", "argument", "value"), _argument_cases())
def test_bad_arguments_name_the_argument(name: str, argument: str, value: Any, samples: Any) -> None:
    sample = samples(name)[0]
    with pytest.raises(BadArgumentError) as caught:
        load_offline(name, sample.data_dir, {**dict(sample.options), argument: value})
    assert str(caught.value).startswith(argument), f"{caught.value} does not name {argument}"


@pytest.mark.parametrize("name", DATASETS)
def test_an_unknown_option_is_named(name: str, samples: Any) -> None:
    """A misspelt option is a ``TypeError`` (Python's convention) whose message names it."""
    sample = samples(name)[0]
    with pytest.raises(TypeError, match="val_clip_indeces"):
        load_offline(name, sample.data_dir, {**dict(sample.options), "val_clip_indeces": [1]})


def test_the_sweep_reaches_every_container_kind(samples: Any) -> None:
    """The samples hold every container the issue names, so the sweep above tried each of them."""
    suffixes = {p.suffix for name in DATASETS for p in Path(samples(name)[0].data_dir).rglob("*")}
    assert {".h5", ".mat", ".pkl", ".npy", ".zip"} <= suffixes, sorted(suffixes)


@pytest.mark.parametrize("name", DATASETS)
def test_a_misspelt_option_is_named_with_its_close_matches(name: str, samples: Any) -> None:
    """A typo in an option is an UnknownOptionError (a BadArgumentError and still the TypeError Python raises
    for an unexpected keyword) that names it, for every plugin, however deep the loader passes options on."""
    from openretina_core import UnknownOptionError

    sample = samples(name)[0]
    with pytest.raises(UnknownOptionError) as caught:
        load_offline(name, sample.data_dir, {**dict(sample.options), "sede": 1})
    assert isinstance(caught.value, TypeError) and isinstance(caught.value, BadArgumentError)
    assert str(caught.value).startswith("sede"), caught.value
    assert name in str(caught.value)


@pytest.mark.parametrize("name", DATASETS)
@pytest.mark.parametrize("batch_size", [0, -3, 2.5, "8"])
def test_a_bad_batch_size_is_named(name: str, batch_size: Any, samples: Any) -> None:
    """Checked before the plugin reads anything (torch's own message came from deep inside the sampler)."""
    from openretina_core import get_dataloaders

    sample = samples(name)[0]
    with pytest.raises(BadArgumentError) as caught:
        get_dataloaders(name, data_dir=sample.data_dir, batch_size=batch_size, **dict(sample.options))
    assert str(caught.value).startswith("batch_size"), caught.value
