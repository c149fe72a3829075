"""The synthetic samples' deliberate quirks, explained instead of logged as warnings.

Some samples contain, on purpose, what real deposits contain too: a session folder without its data file (the
loader must skip it with a reason, not fail), or stimuli without normalisation statistics (data_info then
records mean 0 and std 1). On real data those warnings matter; on a sample they are the expected behaviour,
so the demo and ``preview --sample`` hold them back and print what they mean. Any other warning passes.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager

#: (message pattern, explanation): the quirks the bundled samples are built with.
SAMPLE_QUIRKS: tuple[tuple[str, str], ...] = (
    (
        r"skipping session (?P<session>\S+): no file ending in",
        "sample session {session} has no data file on purpose: it shows that an incomplete session folder is "
        "skipped with its reason while the others load (expected for this sample)",
    ),
    (
        r"no stimulus normalisation statistics recorded",
        "this sample's stimuli come without normalisation statistics on purpose, so data_info records mean 0 "
        "and std 1 as openretina does (expected for this sample)",
    ),
)


class SampleNotes(logging.Filter):
    """A handler filter that keeps the samples' expected warnings out of the log and collects explanations."""

    def __init__(self) -> None:
        super().__init__()
        self.notes: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        message = record.getMessage()
        for pattern, explanation in SAMPLE_QUIRKS:
            found = re.search(pattern, message)
            if found:
                note = explanation.format(**found.groupdict())
                if note not in self.notes:
                    self.notes.append(note)
                return False
        return True


@contextmanager
def explain_sample_quirks() -> Iterator[SampleNotes]:
    """While a sample loads: its expected warnings are collected as notes, not emitted (on every handler of
    the root logger, and the last-resort handler used when there is none)."""
    notes = SampleNotes()
    handlers = [*logging.getLogger().handlers]
    if logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for handler in handlers:
        handler.addFilter(notes)
    try:
        yield notes
    finally:
        for handler in handlers:
            handler.removeFilter(notes)
