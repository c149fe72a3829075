"""Plain-text tables that fit the terminal: every word stays whole, the widest columns wrap onto more lines."""

from __future__ import annotations

import shutil
import textwrap
from collections.abc import Sequence

GAP = "  "


def terminal_width(default: int = 100) -> int:
    """The terminal's width (``COLUMNS`` when set), ``default`` when output is not a terminal."""
    return max(40, shutil.get_terminal_size((default, 24)).columns)


def render_table(headers: Sequence[str], rows: Sequence[Sequence[str]], width: int | None = None) -> str:
    """``headers`` and ``rows`` as aligned columns in at most ``width`` characters (the terminal's by default):
    the widest column is narrowed first, never below its longest word, and its cells wrap at spaces. A
    table whose longest words alone do not fit is as narrow as they allow."""
    width = terminal_width() if width is None else width
    columns = range(len(headers))
    widths = [max([len(headers[i]), *(len(row[i]) for row in rows)]) for i in columns]
    floors = [
        max([len(headers[i]), *(len(word) for row in rows for word in row[i].split())]) for i in columns
    ]
    budget = width - len(GAP) * (len(headers) - 1)
    while sum(widths) > budget:
        shrinkable = [i for i in columns if widths[i] > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1
    lines = [_line(headers, widths), GAP.join("-" * w for w in widths)]
    for row in rows:
        cells = [
            textwrap.wrap(cell, w, break_long_words=False, break_on_hyphens=False) or [""]
            for cell, w in zip(row, widths)
        ]
        for k in range(max(len(cell) for cell in cells)):
            lines.append(_line([cell[k] if k < len(cell) else "" for cell in cells], widths))
    return "\n".join(lines)


def _line(cells: Sequence[str], widths: Sequence[int]) -> str:
    return GAP.join(cell.ljust(w) for cell, w in zip(cells, widths)).rstrip()
