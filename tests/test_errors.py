"""One error hierarchy: every public exception of the core is an ``OpenRetinaDataError`` and still the builtin
exception users already catch; the error classes carry the path or argument and what was expected."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import openretina_core
from openretina_core import (
    BadArchiveError,
    BadArgumentError,
    BadFileError,
    MissingFileError,
    OpenRetinaDataError,
    PluginError,
)
from openretina_core.registry import check_int


def core_exception_classes() -> list[type[BaseException]]:
    found = []
    for module_info in pkgutil.walk_packages(openretina_core.__path__, "openretina_core."):
        if module_info.name.startswith(("openretina_core.lightning", "openretina_core.testing.contract")):
            continue  # optional dependencies
        module = importlib.import_module(module_info.name)
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and not issubclass(value, Warning)
                and value.__module__ == module.__name__
                and not name.startswith("_")
            ):
                found.append(value)
    return found


def test_every_public_core_exception_is_an_openretina_data_error() -> None:
    classes = core_exception_classes()
    assert len(classes) >= 15
    strays = [f"{c.__module__}.{c.__name__}" for c in classes if not issubclass(c, OpenRetinaDataError)]
    assert not strays, f"outside the hierarchy: {strays}"


@pytest.mark.parametrize(
    ("name", "builtin"),
    [
        ("openretina_core.registry.tables:UnknownDatasetError", KeyError),
        ("openretina_core.registry.tables:DuplicateNameError", ValueError),
        ("openretina_core.files.download:OfflineError", FileNotFoundError),
        ("openretina_core.files.fetch:DiskFullError", OSError),
        ("openretina_core.files.archives:UnsafeArchiveError", ValueError),
        ("openretina_core.files.archives:UnsafeArchiveError", BadArchiveError),
        ("openretina_core.store.layout:StoreIntegrityError", ValueError),
        ("openretina_core.data.safe_pickle:UnsafePickleError", Exception),
    ],
)
def test_existing_except_clauses_keep_working(name: str, builtin: type[BaseException]) -> None:
    module, _, cls = name.partition(":")
    error = getattr(importlib.import_module(module), cls)
    assert issubclass(error, builtin) and issubclass(error, OpenRetinaDataError)


def test_errors_carry_what_a_user_needs() -> None:
    bad = BadFileError("/data/x.h5", "file signature not found", "an HDF5 file")
    assert isinstance(bad, ValueError) and bad.path == "/data/x.h5"
    assert str(bad) == "/data/x.h5: file signature not found; expected an HDF5 file"
    missing = MissingFileError("/data/y", "no session folder /data/y")
    assert isinstance(missing, FileNotFoundError) and str(missing) == "no session folder /data/y"
    arg = BadArgumentError("seed", "an integer", "abc")
    assert str(arg) == "seed: expected an integer, received 'abc'" and arg.argument == "seed"
    assert isinstance(PluginError("p", "failed"), RuntimeError)


@pytest.mark.parametrize("value", ["abc", None, 1.5, True])
def test_check_int_refuses_what_is_not_an_integer(value: object) -> None:
    with pytest.raises(BadArgumentError, match="seed: expected an integer"):
        check_int("seed", value)


def test_check_int_minimum() -> None:
    assert check_int("num_val_clips", 0, minimum=0) == 0
    with pytest.raises(BadArgumentError, match=r"num_val_clips: expected an integer >= 0, received -1"):
        check_int("num_val_clips", -1, minimum=0)
