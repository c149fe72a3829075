"""Load every dataset plugin's synthetic sample with openretina 1.1.1's own readers and with ours; compare.

Run by ``scripts/cross-check-openretina.sh`` in a venv holding both (never the project's ``.venv``). For each
registered dataset it writes the plugin's sample (``DatasetSpec.write_sample``), loads it with openretina's
public readers and with the plugin's (``cross_check_datasets.py``), and prints per variant (dataset + options): the
sessions, neurons and shapes, the largest absolute difference of every container array per session, and the
documented reason for every difference that is not zero. Per-trial responses are compared as
``(trials, neurons, time)``, ours everywhere; openretina's Höfling array ``(neurons, time, trials)`` is
transposed first. The exit status is 1 when a sample does not load in openretina, a session or a shape does
not match, a difference has no documented reason or exceeds its tolerance, or a registered dataset has no
check yet (it is listed as NOT COMPARED).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
from cross_check_datasets import CHECKS, Variant

logger = logging.getLogger("cross_check_openretina")

QUANTITIES = ("stim train", "stim test", "resp train", "resp test", "by trial")


class _Notes(logging.Handler):
    """Collects the warnings our plugins log while a variant loads (shown as notes, not above the table)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith("openretina_"):
            self.messages.append(record.getMessage())


@contextlib.contextmanager
def our_warnings(variants: list[Variant]) -> Iterator[None]:
    handler = _Notes()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield
    finally:
        root.removeHandler(handler)
        if variants:  # the dataset's first table carries what was logged while any of its variants loaded
            variants[0].notes.extend(f"ours logged: {m}" for m in dict.fromkeys(handler.messages))


# -- the report -------------------------------------------------------------------------------------------------
def shape_text(ours: tuple[int, ...], theirs: tuple[int, ...]) -> str:
    text = str(tuple(ours)).replace(" ", "")
    return (
        text if tuple(ours) == tuple(theirs) else f"{text} | openretina {str(tuple(theirs)).replace(' ', '')}"
    )


def max_difference(ours: np.ndarray, theirs: np.ndarray) -> float:
    """Largest absolute difference; NaN where both are NaN counts as equal, NaN on one side only as inf."""
    a, b = np.asarray(ours, dtype=np.float64), np.asarray(theirs, dtype=np.float64)
    if not a.size:
        return 0.0
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    if not np.array_equal(nan_a, nan_b):
        return float("inf")
    return float(np.abs(a - b)[~nan_a].max(initial=0.0))


def render(variant: Variant, out: Callable[[str], None]) -> bool:
    """Print the variant's tables; return whether everything matched or is explained."""
    sessions = sorted(variant.pairs)
    out(f"## {variant.title}")
    out(
        f"sessions: {len(sessions)} compared; only ours: {variant.only_ours or '-'}; "
        f"only openretina: {variant.only_openretina or '-'}"
    )
    if variant.only_ours or variant.only_openretina or not sessions:
        variant.failures.append("the two libraries do not load the same sessions")
    columns = list(dict.fromkeys(q for pairs in variant.pairs.values() for q in pairs))
    columns.sort(
        key=lambda q: next((i for i, b in enumerate(QUANTITIES) if q.startswith(b)), len(QUANTITIES))
    )
    width = max([len(s) for s in sessions] + [len("max |ours - openretina|")])
    rows = [["session".ljust(width), "neurons", *(q for q in columns if q not in variant.derived)]]
    for session in sessions:
        pairs = variant.pairs[session]
        neurons = {pairs["resp train"][0].shape[0], pairs["resp train"][2][0]}
        cells = [session.ljust(width), "/".join(str(n) for n in sorted(neurons))]
        for q in columns:
            pair = pairs.get(q)
            if pair is not None and pair[0].shape != pair[1].shape:
                variant.failures.append(
                    f"{session} {q}: shapes {pair[0].shape} vs {pair[1].shape} after alignment"
                )
            if q not in variant.derived:
                cells.append("absent" if pair is None else shape_text(pair[0].shape, pair[2]))
        rows.append(cells)
    out(table(rows))
    rows = [["max |ours - openretina|".ljust(width), *columns]]
    worst = dict.fromkeys(columns, 0.0)
    for session in sessions:
        cells = [session.ljust(width)]
        for q in columns:
            pair = variant.pairs[session].get(q)
            if pair is None or pair[0].shape != pair[1].shape:  # absent in both, or a failure above
                cells.append("-")
                continue
            value = max_difference(pair[0], pair[1])
            worst[q] = max(worst[q], value)
            cells.append("0" if value == 0 else f"{value:.3g}")
        rows.append(cells)
    out(table(rows))
    ok = True
    for q in columns:
        if q in variant.aligned:
            out(f"  compared as: {q}: {variant.aligned[q]}")
    for q in columns:
        value = worst[q]
        if value == 0:
            continue
        tolerance, reason = variant.reasons.get(q, (0.0, ""))
        if not reason:
            out(f"  NOT EXPLAINED: {q}: max difference {value:.3g}")
            ok = False
        elif not value <= tolerance:
            out(f"  OVER TOLERANCE: {q}: {value:.3g} > {tolerance:g} ({reason})")
            ok = False
        else:
            limit = "" if tolerance == np.inf else f" (expected <= {tolerance:g})"
            out(f"  why {q} differs{limit}: {reason}")
    for note in variant.notes:
        out(f"  note: {note}")
    for failure in variant.failures:
        out(f"  FAILED: {failure}")
    ok = ok and not variant.failures
    out(f"  result: {'OK' if ok else 'FAILED'}")
    out("")
    return ok


def table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", help="registry names (default: every registered dataset)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic samples (default 0)")
    parser.add_argument(
        "--keep", type=Path, help="work in this folder and keep it (default: a temporary one)"
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the loaders report")
    args = parser.parse_args(argv)
    # Warnings of our loaders become notes of their table; -v shows every record as it happens.
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(name)s: %(message)s"
    )
    if not args.verbose:
        for handler in logging.getLogger().handlers:
            handler.setLevel(logging.ERROR)
    os.environ.setdefault("TQDM_DISABLE", "1")  # openretina's progress bars
    os.environ.setdefault("OPENRETINA_NO_PROGRESS", "1")

    from openretina_core.registry import get_dataset_spec, list_datasets

    names = args.datasets or list_datasets()
    work = args.keep or Path(tempfile.mkdtemp(prefix="cross-check-openretina-"))
    work.mkdir(parents=True, exist_ok=True)
    os.environ["OPENRETINA_CACHE_DIR"] = str(work / "our-cache")  # our caches stay out of the user's
    import openretina

    def out(line: str) -> None:  # the report, on stdout; the work folder's path shortened
        print(line.replace(str(work), "<work>"))

    out(f"# openretina {openretina_version()} vs openretina-data, synthetic samples (seed {args.seed})")
    out("")
    outcome: dict[str, list[str]] = {"OK": [], "FAILED": [], "NOT COMPARED": []}
    try:
        for name in names:
            spec = get_dataset_spec(name)
            check = CHECKS.get(name)
            if check is None or spec.write_sample is None:
                out(f"## {name}\n  NOT COMPARED: no cross-check for this dataset yet (add one to CHECKS in")
                out("  scripts/cross_check_datasets.py)\n")
                outcome["NOT COMPARED"].append(name)
                continue
            folder = work / name
            sample = spec.write_sample(folder / "sample", seed=args.seed)
            try:
                collected: list[Variant] = []
                with our_warnings(collected):
                    collected.extend(check(sample, folder))
                variants = collected
            except Exception as error:  # a sample openretina cannot read is not the real layout
                logger.exception("%s", name)
                out(f"## {name}\n  FAILED: {type(error).__name__}: {error}\n")
                outcome["FAILED"].append(name)
                continue
            results = [render(variant, out) for variant in variants]
            tables = f"{len(results)} table{'' if len(results) == 1 else 's'}"
            outcome["OK" if all(results) else "FAILED"].append(f"{name} ({tables})")
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    ok = not outcome["FAILED"] and not outcome["NOT COMPARED"]
    summary = "; ".join(f"{key}: {', '.join(value)}" for key, value in outcome.items() if value)
    out(f"overall: {'OK' if ok else 'FAILED'} ({summary})")
    out(f"openretina read from {Path(openretina.__file__).parent}")
    return 0 if ok else 1


def openretina_version() -> str:
    from importlib.metadata import version

    return version("openretina")


if __name__ == "__main__":
    sys.exit(main())
