"""The README's main job: every installed dataset, end to end, on its bundled synthetic sample.

For each dataset plugin: write its synthetic files in the real layout, load them by registry name, run one
epoch through ``LongCycler`` (progress bar), estimate the spike-triggered average of one session from the
batches and compare it with the ground-truth filter that generated the responses, then draw the same figures
as ``openretina-data preview`` (stimulus, responses, STAs beside the true filters, STA peak lags). The samples'
deliberate quirks (an incomplete session folder, stimuli without normalisation statistics) are explained in
the output as what the sample is built to show, not logged as warnings.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from attrs import define, field

from openretina_core.cli.figures import PLOTS_INSTALL, plots_available
from openretina_core.cli.plot_context import plot_context
from openretina_core.cli.preview import PreviewData, draw, example_batch
from openretina_core.cli.sample_notes import explain_sample_quirks
from openretina_core.cli.sta_lags import LagSummary, aligned
from openretina_core.data.cyclers import LongCycler
from openretina_core.data.simulate import filter_correlation, spike_triggered_average
from openretina_core.registry.tables import get_dataset_spec, list_datasets

__all__ = [
    "DEFAULT_OUTPUT",
    "PLOTS_INSTALL",
    "DemoResult",
    "demo_report",
    "format_table",
    "plots_available",
    "run_dataset_demo",
    "run_demo",
]

DEFAULT_OUTPUT = Path("openretina-demo")  # in the working directory, where a user looks for it


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
    figures: list[Path] = field(factory=list)
    notes: list[str] = field(factory=list)  # the sample's deliberate quirks, explained
    lags: LagSummary | None = None
    preview: PreviewData | None = field(default=None, repr=False)


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
    with explain_sample_quirks() as quirks:
        loaders = get_dataloaders(
            name, data_dir=sample.data_dir, batch_size=batch_size, device=device, **sample.options
        )
        train = loaders["train"]
        sta_session = sorted(sample.filters)[0] if sample.filters else sorted(train)[0]
        truth = np.asarray(sample.filters[sta_session]) if sample.filters else None
        cycler = LongCycler(train, shuffle=True, seed=0)
        sta_batches: list[tuple[torch.Tensor, torch.Tensor]] = []
        n_samples = 0
        start = time.perf_counter()
        for session, (inputs, targets) in tqdm(
            cycler, total=len(cycler), desc=f"{name}: 1 epoch", unit="batch", disable=progress_disabled()
        ):
            n_samples += inputs.shape[0]
            if session == sta_session:
                sta_batches.append((inputs.cpu(), targets.cpu()))
        elapsed = time.perf_counter() - start
        example = example_batch(loaders, sta_session)
    correlation = float("nan")
    sta = None
    if truth is not None and sta_batches:
        sta = spike_triggered_average(aligned(sta_batches), filter_length=truth.shape[2])
        correlation = float(np.mean(filter_correlation(sta, truth)))
    data_info = getattr(loaders, "data_info", {})
    n_neurons = sum(data_info.get("n_neurons_dict", {}).values()) if data_info else 0
    options = {**spec.default_options, **sample.options}
    ctx = plot_context(spec.info, sta_session, example[0].shape[3:5], example[0].shape[1], options, data_info)
    return DemoResult(
        dataset=name,
        sessions=len(train),
        neurons=int(n_neurons),
        input_shape=tuple(data_info.get("input_shape", ())),
        train_batches=len(cycler),
        samples_per_s=n_samples / elapsed if elapsed > 0 else float("inf"),
        sta_session=sta_session,
        sta_correlation=correlation,
        notes=list(quirks.notes),
        preview=PreviewData(ctx, example[0], example[1], sta=sta, truth=truth),
    )


def format_table(results: Sequence[DemoResult]) -> str:
    header = (
        "dataset",
        "sessions",
        "neurons",
        "input (C,H,W)",
        "train batches",
        "samples/s",
        "lag check",
        "STA r",
    )
    rows = [
        (
            r.dataset,
            str(r.sessions),
            str(r.neurons),
            str(tuple(r.input_shape)),
            str(r.train_batches),
            f"{r.samples_per_s:,.0f}",
            "-" if r.lags is None else "OFFSET?" if r.lags.flagged else "ok",
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
    """Run every (or the named) installed dataset's demo; figures go to ``output_dir`` as
    ``<dataset>_{stimulus,responses,sta,sta_lags}.png`` (without matplotlib none are drawn)."""
    names = list(datasets) if datasets else [n for n in list_datasets() if get_dataset_spec(n).write_sample]
    if not names:
        raise RuntimeError(
            'no dataset plugins are installed. Install them with: pip install "openretina-core[all]" '
            "(or, from a checkout: bash scripts/install-dev.sh)"
        )
    output_dir.mkdir(parents=True, exist_ok=True)
    results = []
    figures = plots_available()
    for name in names:
        result = run_dataset_demo(name, output_dir / "samples", batch_size=batch_size, device=device)
        if figures and result.preview is not None:
            drawn = draw(result.preview, output_dir, name)
            result.figures, result.lags = drawn.figures, drawn.lags
        results.append(result)
    return results


def demo_report(results: Sequence[DemoResult]) -> list[str]:
    """The lines after the table: what each sample's quirks mean, the alignment check, the figures."""
    lines: list[str] = []
    for result in results:
        lines += [f"{result.dataset}: note: {note}" for note in result.notes]
        if result.lags is not None:
            lines.append(f"{result.dataset}: {result.lags.message}")
        lines += [f"figure: {path}" for path in result.figures]
    return lines
