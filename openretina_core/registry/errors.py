"""One error hierarchy for the core and every plugin: catch ``OpenRetinaDataError`` for all of them.

Each class also derives from the builtin exception users already catch (``ValueError``, ``FileNotFoundError``,
``OSError``, ``KeyError``, ``RuntimeError``), so existing ``except`` clauses keep working. Errors about a file
carry its ``path``, errors about an argument its ``argument``, and both say what was ``expected``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


class OpenRetinaDataError(Exception):
    """Base class of every error raised by openretina-data and its plugins."""


class BadFileError(OpenRetinaDataError, ValueError):
    """A file that cannot be read as what it should be: corrupt, truncated, the wrong format, a key missing,
    a shape, dtype or value (NaN, inf, complex) other than expected."""

    def __init__(self, path: str | os.PathLike[str], problem: str, expected: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.expected = expected
        detail = f"; expected {expected}" if expected else ""
        super().__init__(f"{self.path}: {problem}{detail}")


class MissingFileError(OpenRetinaDataError, FileNotFoundError):
    """A file or folder the dataset needs is not where it should be."""

    def __init__(self, path: str | os.PathLike[str], message: str) -> None:
        self.path = str(path)
        super().__init__(message)

    def __str__(self) -> str:
        return str(self.args[0])


class BadArchiveError(OpenRetinaDataError, ValueError):
    """An archive that cannot be extracted safely or completely."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        self.path = str(path)
        super().__init__(f"{self.path}: {problem}")


class BadArgumentError(OpenRetinaDataError, ValueError):
    """An argument of the wrong type or out of range."""

    def __init__(self, argument: str, expected: str, received: Any) -> None:
        self.argument = argument
        self.expected = expected
        self.received = received
        super().__init__(f"{argument}: expected {expected}, received {received!r}")


class UnknownOptionError(BadArgumentError, TypeError):
    """A keyword the dataset's loader does not take (a misspelt option). Also a ``TypeError``, which is what
    Python raises for an unexpected keyword, so code catching that keeps working."""

    def __init__(self, dataset: str, option: str, known: Sequence[str]) -> None:
        import difflib

        close = difflib.get_close_matches(option, known, n=3)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        self.dataset = dataset
        listed = ", ".join(known) if known else "see `openretina-data info " + dataset + "`"
        super().__init__(option, f"an option of {dataset!r} ({listed}){hint}", "an unknown option")


class PluginError(OpenRetinaDataError, RuntimeError):
    """A plugin that failed to load, to register, or in one of its hooks."""

    def __init__(self, plugin: str, message: str) -> None:
        self.plugin = plugin
        super().__init__(f"plugin {plugin!r}: {message}")


class BadDataError(OpenRetinaDataError, ValueError):
    """Arrays that cannot be used as given: a shape that does not fit, stimulus and responses that do not line
    up, NaN or infinite values where none may be (the message names the session or container field)."""


class DataIntegrityError(OpenRetinaDataError, ValueError):
    """Stored bytes that differ from what was recorded (a hash, a stamp, a size)."""


def check_int(argument: str, value: Any, minimum: int | None = None) -> int:
    """``value`` as an ``int`` (bools and non-integral numbers refused), at least ``minimum`` if given."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise BadArgumentError(
            argument, "an integer" + (f" >= {minimum}" if minimum is not None else ""), value
        )
    if minimum is not None and value < minimum:
        raise BadArgumentError(argument, f"an integer >= {minimum}", value)
    return int(value)


def option_names(loader: Any, extra: Sequence[str] = ()) -> list[str]:
    """The dataset options a loader names in its signature (a lazy loader resolved first) plus ``extra`` (the
    options it passes on to the core's builder): what an :class:`UnknownOptionError` lists."""
    import inspect

    target = loader.resolve() if hasattr(loader, "resolve") else loader
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    skip = {"data_dir", "download", "batch_size"}
    named = {
        p.name
        for p in parameters
        if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in skip
    }
    return sorted(named | set(extra))
