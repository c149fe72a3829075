"""Draw one small PNG per stimulus generator into ``plugins/openretina-stimuli/docs/``.

Run from anywhere: ``python plugins/openretina-stimuli/scripts/make_figures.py [--out DIR]``.
Needs matplotlib (``pip install "openretina-stimuli[figures]"``).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from openretina_stimuli import (
    chirp_segments,
    generate_chirp,
    generate_colored_stimulus,
    generate_flashes,
    generate_gratings,
    generate_moving_bar,
    generate_moving_bar_protocol,
    generate_noise_stimulus,
)
from openretina_stimuli.constants import MOVING_BAR_DIRECTIONS_DEG

logger = logging.getLogger("make_figures")
DOCS = Path(__file__).resolve().parents[1] / "docs"
DPI = 72
GREY = {"cmap": "gray", "vmin": -1, "vmax": 1, "interpolation": "nearest"}


def _frames(axes: np.ndarray, frames: list[np.ndarray], titles: list[str], **style: object) -> None:
    for ax, frame, title in zip(axes, frames, titles):
        ax.imshow(frame, **{**GREY, **style})
        ax.set_title(title, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])


def gratings() -> plt.Figure:
    movie = generate_gratings((1, 30, 32, 36), temporal_frequency=2.0, spatial_frequency=0.1, orientation=45)
    square = generate_gratings((1, 1, 32, 36), spatial_frequency=0.05, orientation=0, waveform="square")
    fig, axes = plt.subplots(1, 5, figsize=(9, 2.1))
    _frames(
        axes,
        [movie[0, 0], movie[0, 4], movie[0, 8], square[0, 0]],
        ["t = 0 ms", "t = 133 ms", "t = 267 ms", "square, 0°, 0.05 c/px"],
    )
    axes[0].annotate("", xy=(26, 6), xytext=(10, 22), arrowprops={"color": "tab:red", "width": 1.5})
    axes[4].plot(np.arange(30) / 30 * 1000, movie[0, :, 16, 18], "k.-", ms=3)
    axes[4].set_xlabel("ms", fontsize=8)
    axes[4].set_title("one pixel: 2 Hz", fontsize=9)
    axes[4].tick_params(labelsize=7)
    fig.suptitle("gratings: 45° drift (red arrow), 0.1 cycles/pixel, 2 Hz at 30 Hz", fontsize=10)
    return fig


def noise() -> plt.Figure:
    shape = (1, 60, 32, 32)
    panels = {
        "gaussian": generate_noise_stimulus(shape, seed=1),
        "uniform": generate_noise_stimulus(shape, distribution="uniform", seed=1),
        "binary, pixel_size=4": generate_noise_stimulus(shape, distribution="binary", pixel_size=4, seed=1),
        "spatial_sigma=2": generate_noise_stimulus(shape, spatial_sigma=2.0, seed=1),
    }
    temporal = generate_noise_stimulus((1, 60, 32, 32), temporal_sigma=3.0, seed=1)
    fig, axes = plt.subplots(1, 5, figsize=(9, 2.1))
    _frames(axes[:4], [m[0, 0] for m in panels.values()], list(panels), vmin=-2, vmax=2)
    _frames(axes[4:], [temporal[0, :, 16, :].T], ["temporal_sigma=3: x-t"], vmin=-2, vmax=2, aspect="auto")
    axes[4].set_xlabel("frame", fontsize=8)
    fig.suptitle("noise: one frame of each kind (values clipped at ±2 std)", fontsize=10)
    return fig


def _time_coloured(segment: np.ndarray, background: float) -> np.ndarray:
    """Each pixel coloured by the (weighted) time the bar covered it; NaN where it never did."""
    weight = segment - background
    total = weight.sum(axis=0)
    when = (weight * np.arange(segment.shape[0])[:, None, None]).sum(axis=0) / np.where(total > 0, total, 1)
    return np.where(total > 0.05, when / segment.shape[0], np.nan)


def moving_bar() -> plt.Figure:
    movie = generate_moving_bar((1, 40, 32, 32), width=3, length=12, speed=1.0, direction=45, background=-1.0)
    fig, axes = plt.subplots(1, 5, figsize=(9, 2.1))
    _frames(axes[:4], [movie[0, t] for t in (8, 16, 24, 32)], [f"frame {t}" for t in (8, 16, 24, 32)])
    axes[4].imshow(_time_coloured(movie[0], -1.0), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    axes[4].set_title("time (colour)", fontsize=9)
    axes[4].set_xticks([])
    axes[4].set_yticks([])
    fig.suptitle("moving_bar: width 3, length 12 px, 1 px/frame, direction 45° (up-right)", fontsize=10)
    return fig


def moving_bar_protocol() -> plt.Figure:
    per_direction = 40
    movie = generate_moving_bar_protocol((1, 8 * per_direction, 24, 24), width=3, background=-1.0)
    fig, axes = plt.subplots(1, 8, figsize=(9, 1.7))
    for ax, segment, direction in zip(axes, np.split(movie[0], 8), MOVING_BAR_DIRECTIONS_DEG):
        ax.imshow(_time_coloured(segment, -1.0), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        d_col, d_row = np.cos(np.deg2rad(direction)), -np.sin(np.deg2rad(direction))
        ax.annotate(
            "",
            xy=(11.5 + 8 * d_col, 11.5 + 8 * d_row),
            xytext=(11.5 - 8 * d_col, 11.5 - 8 * d_row),
            arrowprops={"color": "white", "width": 1.2, "headwidth": 6},
        )
        ax.set_title(f"{direction:g}°", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle("moving_bar_protocol: segment order, colour = time within the segment", fontsize=10)
    return fig


def chirp() -> plt.Figure:
    rate = 60.0
    trace = generate_chirp((1, int(33 * rate), 1, 1), frame_rate=rate)[0, :, 0, 0]
    fig, ax = plt.subplots(figsize=(9, 2.3))
    ax.plot(np.arange(trace.size) / rate, trace, "k", lw=0.7)
    labels = [
        "dark",
        "ON",
        "dark",
        "grey",
        "frequency sweep 0-8 Hz",
        "grey",
        "contrast ramp 2 Hz",
        "grey",
        "dark",
    ]
    for label, (_, start, stop) in zip(labels, chirp_segments(rate)):
        ax.axvline(start / rate, color="tab:blue", lw=0.5, ls=":")
        ax.text((start + stop) / 2 / rate, 1.2, label, fontsize=7, ha="center")
    ax.set_ylim(-1.2, 1.5)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title(
        "chirp (60 Hz shown): 2/3/3/2 s steps, 8 s sweep 0-8 Hz, 8 s 2 Hz contrast ramp", fontsize=10
    )
    fig.tight_layout()
    return fig


def flashes() -> plt.Figure:
    rate = 30.0
    movie = generate_flashes(
        (1, 180, 1, 1), frame_rate=rate, flash_duration=0.5, interval=1.0, polarity="alternating"
    )
    fig, ax = plt.subplots(figsize=(9, 1.6))
    ax.step(np.arange(180) / rate, movie[0, :, 0, 0], "k", where="post", lw=0.8)
    ax.set_xlabel("time (s)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("flashes: 1 s mean, 0.5 s flash, alternating polarity", fontsize=10)
    fig.tight_layout()
    return fig


def colored_stimulus() -> plt.Figure:
    movie = generate_colored_stimulus((2, 60, 1, 1), channel_idx=1, pad_front=15, pad_end=15)
    fig, ax = plt.subplots(figsize=(9, 1.6))
    for c, colour in ((0, "tab:green"), (1, "tab:purple")):
        ax.step(np.arange(60), movie[c, :, 0, 0] + 0.02 * c, color=colour, where="post", label=f"channel {c}")
    ax.legend(fontsize=7, loc="upper right")
    ax.set_xlabel("frame", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.set_title("colored_stimulus: channel 1 stepped for frames 15-44", fontsize=10)
    fig.tight_layout()
    return fig


FIGURES: dict[str, Callable[[], plt.Figure]] = {
    "gratings": gratings,
    "noise": noise,
    "moving_bar": moving_bar,
    "moving_bar_protocol": moving_bar_protocol,
    "chirp": chirp,
    "flashes": flashes,
    "colored_stimulus": colored_stimulus,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=DOCS, help="folder for the PNGs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    for name, draw in FIGURES.items():
        fig = draw()
        path = args.out / f"{name}.png"
        fig.savefig(path, dpi=DPI, bbox_inches="tight")
        plt.close(fig)
        logger.info("wrote %s (%d bytes)", path, path.stat().st_size)


if __name__ == "__main__":
    main()
