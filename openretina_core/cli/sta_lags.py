"""Spike-triggered averages from a loader's batches and the alignment self-check on their peak lags.

A frame offset between stimulus and responses (a response bin paired with the wrong frame) moves every cell's
STA peak by the same number of frames. Ganglion cells answer tens of milliseconds or more after a frame, so at
the frame rates of these datasets the peak lies between the first and the last lag of the window; when most
cells peak at lag 0 (responses lead the stimulus) or at the window's last lag (responses lag it by more than
the window), the pairing is suspect. No matplotlib here: the numbers are checked without drawing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import torch
from attrs import define

from openretina_core.data.simulate import spike_triggered_average

#: Lags the STA covers by default, in seconds (clamped to what a chunk allows).
DEFAULT_WINDOW_S = 0.5
#: A cell enters the lag histogram when its STA energy at the peak lag is this many times its median over lags.
MIN_PEAK_RATIO = 1.5


def aligned(batches: Iterable[Any]) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """``(inputs, targets)`` on the CPU with one input frame per target bin.

    Loaders that prepend a model's frame overhead (inputs ``T + overhead`` frames, targets ``T`` bins, the
    targets aligned with the last ``T`` frames) are cut to those last frames; the STA skips each chunk's first
    ``filter_length - 1`` bins anyway, so nothing is lost but the overhead's extra history."""
    for batch in batches:
        inputs, targets = batch[0], batch[1]
        extra = inputs.shape[2] - targets.shape[1]
        if extra < 0:
            raise ValueError(
                f"batch inputs have {inputs.shape[2]} frames but targets {targets.shape[1]} bins"
            )
        yield inputs[:, :, extra:].detach().cpu(), targets.detach().cpu()


def default_lags(frame_rate_hz: float | None, chunk_frames: int) -> int:
    """How many lags (frames) the STA covers: ``DEFAULT_WINDOW_S`` of frames, at least 2, at most half a chunk
    (so that most bins of a chunk have a full history)."""
    if chunk_frames <= 1:
        return 1
    wanted = round(DEFAULT_WINDOW_S * frame_rate_hz) if frame_rate_hz else 10
    return int(max(2, min(wanted, chunk_frames // 2)))


def compute_sta(batches: Iterable[Any], lags: int) -> np.ndarray:
    """``(N, C, lags, H, W)`` spike-triggered averages of every cell (``openretina_core.data.simulate``)."""
    return spike_triggered_average(aligned(batches), filter_length=lags)


def lag_energy(sta: np.ndarray) -> np.ndarray:
    """``(N, lags)``: each cell's STA power per lag, over channels and pixels."""
    return np.square(sta.astype(np.float64)).sum(axis=(1, 3, 4))


def peak_lags(sta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's peak lag (frames) and whether its STA stands out of the noise (peak over median energy)."""
    energy = lag_energy(sta)
    peaks = energy.argmax(axis=1)
    median = np.median(energy, axis=1)
    ratio = energy.max(axis=1) / np.maximum(median, 1e-300)
    return peaks.astype(int), ratio >= MIN_PEAK_RATIO


@define(frozen=True)
class LagSummary:
    """The alignment self-check's result for one session."""

    peak_lags: np.ndarray  # frames, every cell
    counted: np.ndarray  # bool, the cells whose STA stands out (the histogram's cells)
    lags: int  # window length in frames (lags 0 .. lags - 1)
    frame_rate_hz: float | None
    mode_lag: int
    expected_lag: float | None  # frames: the ground truth's median peak on a synthetic sample, else None
    flagged: bool
    message: str

    def to_ms(self, lag: float) -> float | None:
        return None if not self.frame_rate_hz else 1000.0 * lag / self.frame_rate_hz

    def describe_lag(self, lag: float) -> str:
        ms = self.to_ms(lag)
        return f"lag {lag:g} frames" + (f" ({ms:.0f} ms)" if ms is not None else "")


def summarize_lags(
    sta: np.ndarray, frame_rate_hz: float | None, truth: np.ndarray | None = None
) -> LagSummary:
    """Peak-lag histogram statistics and the flag: the mode of the counted cells' peak lags at lag 0 or at the
    window's last lag is the symptom of a frame offset between stimulus and responses."""
    lags = int(sta.shape[2])
    peaks, good = peak_lags(sta)
    counted = good if good.any() else np.ones_like(good)
    values, counts = np.unique(peaks[counted], return_counts=True)
    mode = int(values[counts.argmax()])
    expected = None
    if truth is not None and truth.shape[2] > 1:
        expected = float(np.median(lag_energy(truth).argmax(axis=1)))
    n = int(counted.sum())
    share = float((peaks[counted] == mode).mean())
    summary = LagSummary(peaks, counted, lags, frame_rate_hz, mode, expected, False, "")
    where = f"{summary.describe_lag(mode)}, {share:.0%} of {n} cells"
    if lags < 2:
        return _with(summary, False, "one frame per sample: no temporal lag to check")
    if mode == 0:
        return _with(
            summary,
            True,
            f"WARNING: the STA peak-lag mode is at lag 0 ({where}): responses peak in the same bin as the "
            "frame or before it, which ganglion cells cannot do. Suspect a frame offset (responses shifted "
            "earlier than the stimulus); check how response bins are aligned to frames.",
        )
    if mode == lags - 1:
        return _with(
            summary,
            True,
            f"WARNING: the STA peak-lag mode is at the window edge ({where}, window {lags} frames): the "
            "peak may lie beyond the window. Suspect a frame offset (responses shifted later than the "
            "stimulus), or widen the window with --lags.",
        )
    text = f"STA peak-lag mode at {where}: inside the window (0 .. {lags - 1} frames), no offset flagged"
    if expected is not None:
        text += f"; ground truth {summary.describe_lag(expected)}"
    return _with(summary, False, text)


def _with(summary: LagSummary, flagged: bool, message: str) -> LagSummary:
    from attrs import evolve

    return evolve(summary, flagged=flagged, message=message)
