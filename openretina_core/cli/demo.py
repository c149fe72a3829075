"""The README's main job: every installed dataset, end to end, on its bundled synthetic sample.

For each dataset plugin: write its synthetic files in the real layout, load them by registry name, run one
epoch through ``LongCycler`` (progress bar), estimate the spike-triggered average of one session from the
batches and compare it with the ground-truth filter that generated the responses, then save a figure.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from attrs import define, field

from openretina_core.data.cyclers import LongCycler
from openretina_core.data.simulate import filter_correlation, spike_triggered_average
from openretina_core.registry.tables import get_dataset_spec, list_datasets

logger = logging.getLogger(__name__)

PLOTS_INSTALL = 'pip install "openretina-core[plots]"'  # figures need matplotlib, an optional dependency


@define
class DemoResult:
    """What one dataset's demo run measured."""

    dataset: str
    sessions: int
    neurons: int
    input_shape: tuple[int, ...]
    train_batches: int
    samples_per_s: float
    sta_session: str
    sta_correlation: float
    figure: Path | None = None
    example_inputs: Any = field(default=None, repr=False)
    example_targets: Any = field(default=None, repr=False)
    sta: Any = field(default=None, repr=False)
    truth: Any = field(default=None, repr=False)


def progress_disabled() -> bool:
    return os.environ.get("OPENRETINA_NO_PROGRESS", "").strip() not in {"", "0"}


def run_dataset_demo(name: str, workdir: Path, batch_size: int = 16, device: str | None = None) -> DemoResult:
    """Write, load and iterate one dataset's synthetic sample; measure throughput and STA recovery."""
    from tqdm.auto import tqdm

    from openretina_core.data.registered import get_dataloaders

    spec = get_dataset_spec(name)
    if spec.write_sample is None:
        raise ValueError(f"dataset {name!r} provides no synthetic sample (write_sample)")
    sample = spec.write_sample(workdir / name, seed=0)
    loaders = get_dataloaders(
        name, data_dir=sample.data_dir, batch_size=batch_size, device=device, **sample.options
    )
    train = loaders["train"]
    sta_session = sorted(sample.filters)[0] if sample.filters else sorted(train)[0]
    truth = np.asarray(sample.filters[sta_session]) if sample.filters else None
    cycler = LongCycler(train, shuffle=True, seed=0)
    sta_batches: list[tuple[torch.Tensor, torch.Tensor]] = []
    n_samples = 0
    example: tuple[torch.Tensor, torch.Tensor] | None = None
    start = time.perf_counter()
    for session, (inputs, targets) in tqdm(
        cycler, total=len(cycler), desc=f"{name}: 1 epoch", unit="batch", disable=progress_disabled()
    ):
        n_samples += inputs.shape[0]
        if session == sta_session:
            sta_batches.append((inputs.cpu(), targets.cpu()))
            if example is None:  # the first batch: (B, C, T, H, W) and (B, T, N)
                example = (inputs.cpu(), targets.cpu())
    elapsed = time.perf_counter() - start
    correlation = float("nan")
    sta = None
    if truth is not None and sta_batches:
        sta = spike_triggered_average(sta_batches, filter_length=truth.shape[2])
        correlation = float(np.mean(filter_correlation(sta, truth)))
    data_info = getattr(loaders, "data_info", {})
    n_neurons = sum(data_info.get("n_neurons_dict", {}).values()) if data_info else 0
    return DemoResult(
        dataset=name,
        sessions=len(train),
        neurons=int(n_neurons),
        input_shape=tuple(data_info.get("input_shape", ())),
        train_batches=len(cycler),
        samples_per_s=n_samples / elapsed if elapsed > 0 else float("inf"),
        sta_session=sta_session,
        sta_correlation=correlation,
        example_inputs=example[0] if example else None,
        example_targets=example[1] if example else None,
        sta=sta,
        truth=truth,
    )


def save_figure(result: DemoResult, path: Path) -> Path:
    """Stimulus frames, response traces, and the recovered vs true filter of the best-recovered neuron."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(13, 6), constrained_layout=True)
    fig.suptitle(
        f"{result.dataset}: synthetic sample, session {result.sta_session} "
        f"(STA vs ground truth r = {result.sta_correlation:.2f})"
    )
    batch = result.example_inputs
    single_frames = batch is not None and batch.shape[2] == 1  # flashed images: one frame per sample
    if batch is not None:
        if single_frames:  # three samples of the batch
            shown = [(b, 0) for b in np.linspace(0, batch.shape[0] - 1, 3).astype(int)]
        else:  # three frames of the first sample
            shown = [(0, t) for t in np.linspace(0, batch.shape[2] - 1, 3).astype(int)]
        for ax, (b, t) in zip(axes[0, :3], shown):
            ax.imshow(batch[b, 0, t].numpy(), cmap="gray")
            ax.set_title(f"stimulus ch0, sample {b}" if single_frames else f"stimulus ch0, frame {t}")
            ax.axis("off")
    ax = axes[0, 3]
    if result.example_targets is not None:
        # (T, N) of the first sample, or (B, N) across the batch when every sample is one image
        targets = result.example_targets[:, 0].numpy() if single_frames else result.example_targets[0].numpy()
        for n in range(min(5, targets.shape[1])):
            ax.plot(
                targets[:, n] + 2.0 * n * (targets.std() + 1e-6), lw=1, marker="." if single_frames else None
            )
        ax.set_title("responses (first 5 neurons)")
        ax.set_xlabel("sample in batch" if single_frames else "frame in chunk")
    if result.sta is not None and result.truth is not None:
        corr = filter_correlation(result.sta, result.truth)
        n = int(np.argmax(corr))
        true_f, est_f = result.truth[n, 0], result.sta[n, 0]
        peak = int(np.argmax(np.abs(true_f).reshape(true_f.shape[0], -1).max(axis=1)))
        axes[1, 0].imshow(true_f[peak], cmap="RdBu_r")
        axes[1, 0].set_title(f"true filter, neuron {n}, lag {peak}")
        axes[1, 1].imshow(est_f[peak], cmap="RdBu_r")
        axes[1, 1].set_title(f"STA, lag {peak} (r = {corr[n]:.2f})")
        if true_f.shape[0] > 1:
            centre = np.unravel_index(np.argmax(np.abs(true_f[peak])), true_f.shape[1:])
            scale = np.abs(est_f).max() / (np.abs(true_f).max() + 1e-12)
            axes[1, 2].plot(true_f[:, centre[0], centre[1]] * scale, label="true (scaled)")
            axes[1, 2].plot(est_f[:, centre[0], centre[1]], label="STA")
            axes[1, 2].set_xlabel("lag (frames)")
            axes[1, 2].set_title("temporal profile at RF centre")
            axes[1, 2].legend()
        else:  # a purely spatial filter: compare pixel by pixel
            axes[1, 2].scatter(true_f[0].ravel(), est_f[0].ravel(), s=4)
            axes[1, 2].set_xlabel("true filter (pixel)")
            axes[1, 2].set_ylabel("STA (pixel)")
            axes[1, 2].set_title("STA vs true filter, per pixel")
        axes[1, 3].hist(corr, bins=10)
        axes[1, 3].set_title("STA correlation, all neurons")
    for ax in axes.flat:
        if not ax.has_data():
            ax.axis("off")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def format_table(results: Sequence[DemoResult]) -> str:
    header = ("dataset", "sessions", "neurons", "input (C,H,W)", "train batches", "samples/s", "STA r")
    rows = [
        (
            r.dataset,
            str(r.sessions),
            str(r.neurons),
            str(tuple(r.input_shape)),
            str(r.train_batches),
            f"{r.samples_per_s:,.0f}",
            f"{r.sta_correlation:.2f}",
        )
        for r in results
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)), "  ".join("-" * w for w in widths)]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)


def run_demo(
    output_dir: Path, datasets: Sequence[str] | None = None, batch_size: int = 16, device: str | None = None
) -> list[DemoResult]:
    """Run every (or the named) installed dataset's demo; figures go to ``output_dir``."""
    names = list(datasets) if datasets else [n for n in list_datasets() if get_dataset_spec(n).write_sample]
    if not names:
        raise RuntimeError(
            'no dataset plugins are installed. Install them with: pip install "openretina-core[all]" '
            "(or, from a checkout: bash scripts/install-dev.sh)"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    figures = plots_available()
    if not figures:
        logger.info("matplotlib is not installed: the demo draws no figures (%s)", PLOTS_INSTALL)
    for name in names:
        result = run_dataset_demo(name, output_dir / "samples", batch_size=batch_size, device=device)
        if figures:
            result.figure = save_figure(result, output_dir / f"{name}.png")
        results.append(result)
    return results


def plots_available() -> bool:
    """Whether matplotlib (the ``plots`` extra) is installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
