"""Responses from the published HDF5: read lazily per field, filtered, resampled to 30 Hz and split.

Only the keys a request needs are read (the filter's per-ROI vectors, one trace type of one stimulus, its
sample times and triggers, and the field metadata), never the whole file. Natural-movie responses are
written straight into time-major buffers, and the container holds ``(N, T)`` views of them, so the
dataloaders use them without another copy.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import BadDataError
from openretina_core.data import ResponsesTrainTestSplit
from openretina_hoefling_2024 import constants as c
from openretina_hoefling_2024.errata import effective_eye
from openretina_hoefling_2024.files import locate_responses
from openretina_hoefling_2024.filtering import QualityFilter
from openretina_hoefling_2024.h5fields import FieldReader
from openretina_hoefling_2024.roi import roi_coordinates
from openretina_hoefling_2024.upsample import iter_interpolated, stimulus_frame_times

logger = logging.getLogger(__name__)


def row_std(block: np.ndarray) -> np.ndarray:
    """Per-row population std in float64 (NaN ignored only when present: ``nanstd`` is much slower)."""
    if np.isnan(block).any():
        return np.nanstd(block, axis=1, dtype=np.float64)
    return np.std(block, axis=1, dtype=np.float64)


def _check_frames(n_frames: int, session: str) -> None:
    expected = c.NATURAL_TRIGGERS * c.CLIP_LENGTH
    if n_frames != expected:
        raise BadDataError(
            f"session {session!r}: the natural movie gives {n_frames} frames ({n_frames // c.CLIP_LENGTH} "
            f"triggers), expected {expected} ({c.NATURAL_TRIGGERS} triggers of {c.CLIP_LENGTH} frames)"
        )


def _scatter_natural(train_tm: np.ndarray, by_trial: np.ndarray, rows: slice, block: np.ndarray) -> None:
    """Write a block of resampled rows into the time-major train buffer and the per-trial test array."""
    position = 0
    for start, stop in c.TRAIN_BLOCKS:
        length = (stop - start) * c.CLIP_LENGTH
        train_tm[position : position + length, rows] = block[
            :, start * c.CLIP_LENGTH : stop * c.CLIP_LENGTH
        ].T
        position += length
    for trial, (start, stop) in enumerate(c.TEST_BLOCKS):
        by_trial[trial, rows] = block[:, start * c.CLIP_LENGTH : stop * c.CLIP_LENGTH]


def split_natural(upsampled: np.ndarray, session: str = "") -> tuple[np.ndarray, np.ndarray]:
    """Cut the 123-clip presentation into train and test (datasets.md §1 step 4).

    Returns ``train_tm (16200, N)`` (time-major: the two 54-clip training blocks in presentation order) and
    ``by_trial (3, N, 750)`` (the three repeats of the 5 test clips).
    """
    n_rois, n_frames = upsampled.shape
    _check_frames(n_frames, session)
    train_tm = np.empty((c.NUM_CLIPS * c.CLIP_LENGTH, n_rois), dtype=np.float32)
    by_trial = np.empty((c.NUM_TEST_REPEATS, n_rois, c.NUM_TEST_CLIPS * c.CLIP_LENGTH), dtype=np.float32)
    _scatter_natural(train_tm, by_trial, slice(0, n_rois), upsampled)
    return train_tm, by_trial


def resample(
    times: np.ndarray | tuple[np.ndarray, np.ndarray],
    traces: np.ndarray,
    frames: np.ndarray,
    response_type: str,
    norm_by_std: bool,
    scale: float,
    session: str,
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Resample, normalise and (natural) split a field's traces block by block, while each block is in cache.

    Returns ``(train_tm (16200, N), by_trial (3, N, 750), std)`` for "natural", otherwise
    ``(responses (N, F), None, std)``; ``std`` (per ROI, before ``scale``) is ``None`` without normalisation.
    """
    n_rois = traces.shape[0]
    natural = response_type == c.NATURAL_STIM_ID
    if natural:
        _check_frames(frames.size, session)
        out = np.empty((c.NUM_CLIPS * c.CLIP_LENGTH, n_rois), dtype=np.float32)
        by_trial: np.ndarray | None = np.empty(
            (c.NUM_TEST_REPEATS, n_rois, c.NUM_TEST_CLIPS * c.CLIP_LENGTH), dtype=np.float32
        )
    else:
        out = np.empty((n_rois, frames.size), dtype=np.float32)
        by_trial = None
    std = np.ones(n_rois, dtype=np.float64) if norm_by_std else None
    for rows, block in iter_interpolated(times, traces, frames):
        if std is not None:
            block_std = row_std(block)
            flat = ~(block_std > 0)
            if flat.any():
                logger.warning(
                    "session %s: %d ROIs have a constant response; not scaled", session, int(flat.sum())
                )
                block_std[flat] = 1.0
            std[rows] = block_std
            block *= (scale / block_std).astype(np.float32)[:, None]
        elif scale != 1.0:
            block *= np.float32(scale)
        if by_trial is not None:
            _scatter_natural(out, by_trial, rows, block)
        else:
            out[rows] = block
    return out, by_trial, std


def _session_kwargs(
    reader: FieldReader, keep: np.ndarray, meta: Mapping[str, Any], extra: dict[str, Any]
) -> dict[str, Any]:
    """Per-session metadata: corrected eye, sequence column, kept ROIs' ids, types and positions."""
    recorded = reader.eye()
    n_rois = keep.size
    roi_ids = (
        np.asarray(meta["roi_ids"]).reshape(-1)[keep] if "roi_ids" in meta else np.arange(1, n_rois + 1)[keep]
    )
    groups = meta.get("group_assignment")
    roi_mask = reader.roi_mask()
    return {
        "eye": effective_eye(reader.session, recorded),
        "eye_recorded": recorded,
        "scan_sequence_idx": reader.scan_sequence_idx(),
        "group_assignment": np.asarray(groups).reshape(-1)[keep] if groups is not None else None,
        "roi_ids": roi_ids,
        "roi_mask": roi_mask,
        "roi_coords": roi_coordinates(roi_mask, roi_ids, reader.session) if roi_mask is not None else None,
        **extra,
    }


def load_responses(
    path: str | Path,
    *,
    response_type: str = "natural",
    trace_type: str = "spikes",
    quality: QualityFilter | None = None,
    norm_by_std: bool = True,
    scale_traces: float = 1.0,
    sessions: Iterable[str] | None = None,
) -> dict[str, ResponsesTrainTestSplit]:
    """``{session: ResponsesTrainTestSplit}`` from one response HDF5 (see :func:`get_all_responses`)."""
    import h5py
    from tqdm.auto import tqdm

    from openretina_core.data import open_hdf5
    from openretina_core.files import progress_enabled

    if response_type not in c.RESPONSE_TYPES:
        raise BadDataError(f"response_type must be one of {c.RESPONSE_TYPES}, got {response_type!r}")
    if trace_type not in c.TRACE_TYPES:
        raise BadDataError(f"trace_type must be one of {c.TRACE_TYPES}, got {trace_type!r}")
    quality = quality if quality is not None else QualityFilter()
    path = Path(path)
    result: dict[str, ResponsesTrainTestSplit] = {}
    dropped: list[str] = []
    n_before = n_after = 0
    with open_hdf5(path, "a response file (HDF5) with one group per field") as handle:
        names = sorted(k for k in handle if isinstance(handle[k], h5py.Group))
        if sessions is not None:
            wanted = list(sessions)
            unknown = sorted(set(wanted) - set(names))
            if unknown:
                raise KeyError(f"{path}: no session(s) {unknown}; sessions in the file: {names}")
            names = [n for n in names if n in set(wanted)]
        for session in tqdm(
            names, desc=f"{response_type} responses", disable=not progress_enabled(), leave=False
        ):
            reader = FieldReader(handle[session], path, session)
            n_rois = reader.n_rois(response_type, trace_type)
            meta = reader.per_roi(quality.needed_keys(), n_rois)
            meta.update(
                reader.optional_per_roi([k for k in ("roi_ids", "group_assignment") if k not in meta], n_rois)
            )
            keep = quality.roi_mask(meta, n_rois)
            n_before += n_rois
            if not quality.field_passes(int(keep.sum())):
                dropped.append(session)
                continue
            n_after += int(keep.sum())
            traces, trace_key = reader.traces(response_type, trace_type, keep)
            times = reader.sample_times(response_type, keep, traces.shape[1])
            frames = stimulus_frame_times(reader.trigger_times(response_type, n_rois), response_type)
            out, by_trial, std = resample(
                times, traces, frames, response_type, norm_by_std, scale_traces, session
            )
            del traces
            extra = {
                "response_type": response_type,
                "trace_type": trace_type,
                "trace_key": trace_key,
                "response_std": std,
            }
            kwargs = _session_kwargs(reader, keep, meta, extra)
            if by_trial is not None:  # natural movie: train (N, 16200) is a view of the time-major buffer
                result[session] = ResponsesTrainTestSplit(
                    train=out.T,
                    test_dict={c.TEST_NAME: by_trial.mean(axis=0)},
                    test_by_trial_dict={c.TEST_NAME: by_trial},
                    stim_id=response_type,
                    session_kwargs=kwargs,
                )
            else:  # chirp / moving bar: the whole resampled recording is the training set
                result[session] = ResponsesTrainTestSplit(
                    train=out, stim_id=response_type, session_kwargs=kwargs
                )
    logger.info(
        "%s: kept %d of %d ROIs in %d of %d fields (%d fields dropped by quality filters: %s)",
        path.name,
        n_after,
        n_before,
        len(result),
        len(result) + len(dropped),
        len(dropped),
        dropped[:10],
    )
    return result


def get_all_responses(
    path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    subset: bool = False,
    response_type: str = "natural",
    trace_type: str = "spikes",
    cell_types: Iterable[int] | int | None = c.DEFAULT_CELL_TYPES,
    d_qi: float | None = c.DEFAULT_D_QI,
    chirp_qi: float | None = c.DEFAULT_CHIRP_QI,
    qi_logic: str = c.DEFAULT_QI_LOGIC,
    classifier_confidence: float | None = c.DEFAULT_CLASSIFIER_CONFIDENCE,
    filter_counts: bool = c.DEFAULT_FILTER_COUNTS,
    count_threshold: int = c.DEFAULT_COUNT_THRESHOLD,
    norm_by_std: bool = True,
    scale_traces: float = 1.0,
    sessions: Iterable[str] | None = None,
) -> dict[str, ResponsesTrainTestSplit]:
    """Höfling 2024 responses, ``{session: ResponsesTrainTestSplit}``, quality-filtered and at 30 Hz.

    Files: ``path`` (the HDF5 or a folder of the published layout), ``data_dir`` (such a folder), or the
    cache (``download=True`` fetches; ``subset=True`` uses the small published subset).
    ``response_type``: "natural" (train ``(N, 16200)`` in presentation order, test ``(N, 750)``, by trial
    ``(3, N, 750)``), "chirp" or "mb" (train = the whole resampled recording, no test).
    ``trace_type``: "spikes" (inferred spikes, falling back to ``<s>_spikes``), "raw", "preprocessed" or
    "detrended" (raw minus smoothed). Quality options default to the published configuration; ``None``
    disables a criterion. ``norm_by_std`` divides each ROI by its std; ``scale_traces`` multiplies after.
    """
    file = locate_responses(path=path, data_dir=data_dir, download=download, subset=subset)
    quality = QualityFilter(
        cell_types=cell_types,
        d_qi=d_qi,
        chirp_qi=chirp_qi,
        qi_logic=qi_logic,
        classifier_confidence=classifier_confidence,
        filter_counts=filter_counts,
        count_threshold=count_threshold,
    )
    return load_responses(
        file,
        response_type=response_type,
        trace_type=trace_type,
        quality=quality,
        norm_by_std=norm_by_std,
        scale_traces=scale_traces,
        sessions=sessions,
    )
