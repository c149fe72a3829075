"""Receptive-field locations from the published white-noise STAs (``stas/cell_data_<session>_WN_stas_cell_<c>.npy``).

An STA is ``(lags, H, W)`` in white-noise screen coordinates. Its location is the pixel of largest temporal
variance after the retina crop; for the natural movie the STA is first mirrored along its rows
(``flip_sta``: the movie's images are mirrored relative to the white-noise coordinates). Locations are
``(row, column)`` in the returned stimulus' pixel grid (divided by ``subsample``; openretina does not divide).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import check_real_dtype, load_npy
from openretina_sridhar_2025.constants import STA_FILE


def rf_location(path: Path, crop: Sequence[int], flip_sta: bool, subsample: int = 1) -> tuple[int, int]:
    if not path.is_file():
        raise FileNotFoundError(
            f"STA file {str(path)!r} does not exist (pass get_locations=False to skip them)"
        )
    sta = load_npy(path, "an STA (lags, H, W)")
    check_real_dtype(sta.dtype, path, "the STA array")  # strings or complex: named, not numpy's error
    if sta.ndim != 3:
        raise BadDataError(f"{path}: STA of shape {sta.shape}, expected (lags, H, W)")
    if flip_sta:
        sta = np.flip(sta, axis=1)
    top, bottom, left, right = crop
    _, height, width = sta.shape
    sta = sta[:, top : height - bottom, left : width - right]
    row, col = np.unravel_index(int(np.argmax(np.var(sta, axis=0))), sta.shape[1:])
    return int(row) // subsample, int(col) // subsample


def rf_locations(
    sta_dir: Path, session: str, cells: Sequence[int], crop: Sequence[int], flip_sta: bool, subsample: int = 1
) -> list[list[int]]:
    """``[[row, column], ...]`` for the kept cells, in their order."""
    return [
        list(rf_location(sta_dir / STA_FILE.format(session=session, cell=int(c)), crop, flip_sta, subsample))
        for c in cells
    ]
