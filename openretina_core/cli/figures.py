"""The preview's and the demo's figures: stimulus frames, response traces, per-cell STAs, STA peak lags.

Every function returns a matplotlib ``Figure`` (so tests can read its labels, colourbars and colour limits) and
draws with the card's units (:class:`~openretina_core.cli.plot_context.PlotContext`): space in µm or degrees,
time in seconds or milliseconds, channels by name, responses in the card's unit; where the card has no value
the axis is in pixels or frames and the footnote says why. matplotlib (the ``plots`` extra) is imported only
when a figure is drawn.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from openretina_core.cli.plot_context import PlotContext
from openretina_core.cli.sta_lags import LagSummary, lag_energy

PLOTS_INSTALL = 'pip install "openretina-core[plots]"'  # figures need matplotlib, an optional dependency
DIVERGING = "RdBu_r"  # zero-centred STA maps: red above the mean stimulus, blue below
MAX_FRAMES = 4
MAX_TRACES = 5
MAX_STA_CELLS = 4


def plots_available() -> bool:
    """Whether matplotlib (the ``plots`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the file-only Agg backend; an ImportError that says what to install."""
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError(f"figures need matplotlib, which is not installed: {PLOTS_INSTALL}") from exc
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def footnote(fig: Any, ctx: PlotContext, *extra: str) -> None:
    """The small print under a figure: units the axes could not show and where the card's values came from."""
    lines = [*extra, *ctx.notes]
    if ctx.response_unit:
        lines.append(f"responses: {ctx.response_unit}")
    text = "\n".join(textwrap.fill(line, 130) for line in lines if line)
    if text:
        fig.text(0.01, 0.0, text, ha="left", va="top", fontsize=7, color="0.3")


def _space_axes(ax: Any, ctx: PlotContext, labels: bool = True) -> None:
    if labels:
        ax.set_xlabel(f"x ({ctx.space_unit})")
        ax.set_ylabel(f"y ({ctx.space_unit})")


def _time_label(ctx: PlotContext, frame: int) -> str:
    seconds = ctx.seconds(frame)
    return f"t = {seconds:.2f} s" if seconds is not None else f"frame {frame}"


def stimulus_figure(inputs: np.ndarray, ctx: PlotContext) -> Any:
    """A few frames of one sample (or, for flashed images, one frame of a few samples), a row per channel."""
    plt = pyplot()
    batch, channels, frames, height, width = inputs.shape
    single = frames == 1
    if single:
        shown = [
            (int(b), 0) for b in np.unique(np.linspace(0, batch - 1, min(MAX_FRAMES, batch)).astype(int))
        ]
    else:
        shown = [
            (0, int(t)) for t in np.unique(np.linspace(0, frames - 1, min(MAX_FRAMES, frames)).astype(int))
        ]
    fig, axes = plt.subplots(
        channels,
        len(shown),
        figsize=(2.8 * len(shown) + 1, 2.6 * channels + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    fig.suptitle(f"{ctx.dataset}, session {ctx.session}: stimulus as delivered in batches")
    extent = ctx.extent(height, width)
    for c in range(channels):
        values = np.stack([inputs[b, c, t] for b, t in shown])
        low, high = float(values.min()), float(values.max())
        image = None
        for j, (b, t) in enumerate(shown):
            ax = axes[c, j]
            image = ax.imshow(inputs[b, c, t], cmap="gray", vmin=low, vmax=high, extent=extent)
            when = f"image {b} of the batch" if single else _time_label(ctx, t)
            ax.set_title(f"{ctx.channel(c)}, {when}", fontsize=9)
            _space_axes(ax, ctx, labels=j == 0)
        fig.colorbar(image, ax=list(axes[c]), shrink=0.85, label=f"{ctx.channel(c)} (as delivered)")
    footnote(fig, ctx)
    return fig


def response_figure(targets: np.ndarray, ctx: PlotContext) -> Any:
    """Traces of the first cells over one sample's bins (time in s), or across images for flashed images."""
    plt = pyplot()
    batch, bins, neurons = targets.shape
    n = min(MAX_TRACES, neurons)
    fig, axes = plt.subplots(
        n, 1, figsize=(8, 1.3 * n + 1.2), sharex=True, squeeze=False, constrained_layout=True
    )
    if bins == 1:  # one image per sample: the responses across the batch's images
        x: np.ndarray = np.arange(batch, dtype=float)
        traces = targets[:, 0, :]
        xlabel, style = (
            "image of the batch (one flashed image per sample)",
            {"marker": "o", "ls": "", "ms": 3},
        )
    else:
        x = np.arange(bins, dtype=float) / (ctx.frame_rate_hz or 1.0)
        traces = targets[0]
        xlabel = "time (s)" if ctx.frame_rate_hz else "time (frames)"
        style = {"lw": 1.0}
    for i in range(n):
        ax = axes[i, 0]
        ax.plot(x, traces[:, i], color="k", **style)
        ax.text(1.0, 0.9, f"cell {i}", transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.spines[["top", "right"]].set_visible(False)
    axes[-1, 0].set_xlabel(xlabel)
    fig.supylabel(ctx.unit_label)
    fig.suptitle(f"{ctx.dataset}, session {ctx.session}: responses of the first {n} cells")
    footnote(fig, ctx)
    return fig


def best_cells(sta: np.ndarray, count: int = MAX_STA_CELLS) -> list[int]:
    """The cells whose STA stands out most (peak over median power across lags), best first."""
    energy = lag_energy(sta)
    score = (
        energy.max(axis=1) / np.maximum(np.median(energy, axis=1), 1e-300)
        if sta.shape[2] > 1
        else energy[:, 0]
    )
    return [int(i) for i in np.argsort(-score)[:count]]


def _lag_axis(ctx: PlotContext, lags: int) -> tuple[np.ndarray, str]:
    if ctx.frame_rate_hz:
        return 1000.0 * np.arange(lags) / ctx.frame_rate_hz, "lag before the response (ms)"
    return np.arange(lags, dtype=float), "lag before the response (frames)"


def sta_figure(sta: np.ndarray, ctx: PlotContext, truth: np.ndarray | None = None) -> Any:
    """Per cell: the STA's spatial map at its peak lag for every channel on a zero-centred diverging scale with
    symmetric limits and a colourbar, the true filter beside it on a synthetic sample, and the temporal kernel
    at the receptive-field centre with the lag in ms."""
    plt = pyplot()
    cells = best_cells(sta)
    _, channels, lags, height, width = sta.shape
    columns = channels + (truth is not None) + (lags > 1)
    fig, axes = plt.subplots(
        len(cells),
        columns,
        figsize=(3.0 * columns + 0.6, 2.6 * len(cells) + 0.8),
        squeeze=False,
        constrained_layout=True,
    )
    fig.suptitle(
        f"{ctx.dataset}, session {ctx.session}: spike-triggered averages (strongest {len(cells)} cells)"
    )
    extent = ctx.extent(height, width)
    lag_x, lag_label = _lag_axis(ctx, lags)
    for row, n in enumerate(cells):
        peak = int(lag_energy(sta[n : n + 1]).argmax())
        maps = sta[n, :, peak]
        limit = float(np.abs(maps).max()) or 1.0
        images = []
        for c in range(channels):
            ax = axes[row, c]
            images.append(ax.imshow(maps[c], cmap=DIVERGING, vmin=-limit, vmax=limit, extent=extent))
            when = f", lag {lag_x[peak]:.0f} {'ms' if ctx.frame_rate_hz else 'frames'}" if lags > 1 else ""
            ax.set_title(f"cell {n}: {ctx.channel(c)}{when}", fontsize=9)
            _space_axes(ax, ctx, labels=c == 0)
        fig.colorbar(images[-1], ax=list(axes[row, :channels]), shrink=0.85, label="STA (stimulus units)")
        col = channels
        if truth is not None:
            true_peak = int(lag_energy(truth[n : n + 1]).argmax())
            true_map = truth[n, 0, true_peak]
            true_limit = float(np.abs(true_map).max()) or 1.0
            ax = axes[row, col]
            true_image = ax.imshow(true_map, cmap=DIVERGING, vmin=-true_limit, vmax=true_limit, extent=extent)
            ax.set_title(f"true filter: {ctx.channel(0)}", fontsize=9)
            fig.colorbar(true_image, ax=ax, shrink=0.85, label="filter weight")
            col += 1
        if lags > 1:
            centre = np.unravel_index(int(np.abs(maps).argmax()), maps.shape)  # (channel, y, x)
            ax = axes[row, col]
            for c in range(channels):
                ax.plot(lag_x, sta[n, c, :, centre[1], centre[2]], label=ctx.channel(c))
            if truth is not None:
                kernel = truth[n, 0, :, centre[1], centre[2]]
                scale = np.abs(sta[n, 0, :, centre[1], centre[2]]).max() / (np.abs(kernel).max() or 1.0)
                ax.plot(lag_x[: kernel.shape[0]], kernel * scale, "k--", lw=1, label="true (scaled)")
            ax.axhline(0.0, color="0.6", lw=0.8)
            ax.set_xlabel(lag_label)
            ax.set_ylabel("STA at RF centre")
            ax.set_title("temporal kernel", fontsize=9)
            ax.legend(fontsize=7, frameon=False)
    footnote(
        fig, ctx, "STA: response-weighted mean stimulus minus the mean stimulus, from the training batches."
    )
    return fig


def lag_histogram_figure(summary: LagSummary, ctx: PlotContext) -> Any:
    """How many cells peak at each lag, the expected lag marked; flagged in red when the mode sits at lag 0 or at
    the window's last lag (a frame offset between stimulus and responses)."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6), constrained_layout=True)
    scale = 1000.0 / ctx.frame_rate_hz if ctx.frame_rate_hz else 1.0
    unit = "ms" if ctx.frame_rate_hz else "frames"
    edges = (np.arange(summary.lags + 1) - 0.5) * scale
    ax.hist(summary.peak_lags[summary.counted] * scale, bins=edges, color="0.35", label="cells")
    for edge_lag in (0, summary.lags - 1):
        ax.axvspan((edge_lag - 0.5) * scale, (edge_lag + 0.5) * scale, color="tab:red", alpha=0.12, lw=0)
    if summary.expected_lag is not None:
        ax.axvline(summary.expected_lag * scale, color="tab:blue", ls="--", label="expected (ground truth)")
    ax.set_xlabel(f"STA peak lag ({unit})")
    ax.set_ylabel("cells")
    ax.set_xlim(edges[0], edges[-1])
    verdict = "FRAME OFFSET SUSPECTED" if summary.flagged else "alignment looks right"
    ax.set_title(
        f"{ctx.dataset}, session {ctx.session}: STA peak lags, {verdict}",
        fontsize=10,
        color="tab:red" if summary.flagged else "black",
    )
    ax.legend(fontsize=8, frameon=False)
    footnote(
        fig,
        ctx,
        summary.message,
        "Shaded: lag 0 and the window's last lag, where a mode means a frame offset.",
    )
    return fig


def save(fig: Any, path: Path) -> Path:
    """Write ``fig`` as a PNG and free it."""
    plt = pyplot()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
