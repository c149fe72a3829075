"""ROI positions for a model's readout: each ROI's centroid in the field's ``roi_mask``, mapped to [-1, 1].

``roi_mask`` is a 64x64 image of 2-µm pixels where the pixels of ROI ``r`` hold ``-r``. Centroids (y, x) are
converted to 50-µm readout units, offset by 2.75 units (where the recording field starts in the readout
grid) and mapped from the 8-unit grid to [-1, 1] with ``2 * (v / 8 - 0.5)``.
"""

from __future__ import annotations

import logging

import numpy as np

from openretina_core import BadDataError
from openretina_hoefling_2024 import constants as c

logger = logging.getLogger(__name__)


def roi_centroids(roi_mask: np.ndarray, roi_ids: np.ndarray) -> np.ndarray:
    """``(n, 2)`` float64 pixel centroids ``(y, x)`` of each ROI id (NaN for ids absent from the mask)."""
    labels = -np.rint(np.asarray(roi_mask, dtype=np.float64)).astype(np.int64)
    ids = np.asarray(roi_ids).reshape(-1).astype(np.int64)
    if labels.ndim != 2:
        raise BadDataError(f"roi_mask: expected a 2-D image, received shape {labels.shape}")
    grid = np.indices(labels.shape)
    yy, xx = grid[0], grid[1]
    inside = labels > 0
    size = int(max(labels.max(initial=0), ids.max(initial=0))) + 1
    counts = np.bincount(labels[inside], minlength=size).astype(np.float64)
    sum_y = np.bincount(labels[inside], weights=yy[inside], minlength=size)
    sum_x = np.bincount(labels[inside], weights=xx[inside], minlength=size)
    safe_ids = np.clip(ids, 0, size - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        centroids = np.stack([sum_y[safe_ids] / counts[safe_ids], sum_x[safe_ids] / counts[safe_ids]], axis=1)
    centroids[ids <= 0] = np.nan
    return centroids


def roi_coordinates(roi_mask: np.ndarray, roi_ids: np.ndarray, session: str = "") -> np.ndarray:
    """``(n, 2)`` float32 readout positions ``(y, x)`` in [-1, 1] for the given ROI ids."""
    centroids = roi_centroids(roi_mask, roi_ids)
    missing = np.isnan(centroids[:, 0])
    if missing.any():
        logger.warning(
            "session %s: %d ROI ids have no pixels in roi_mask (coordinates NaN): %s",
            session,
            int(missing.sum()),
            np.asarray(roi_ids).reshape(-1)[missing][:10].tolist(),
        )
    readout = centroids * (c.ROI_MASK_PIXEL_UM / c.READOUT_PIXEL_UM) + c.READOUT_OFFSET
    return (2.0 * (readout / c.READOUT_EXTENT - 0.5)).astype(np.float32)
