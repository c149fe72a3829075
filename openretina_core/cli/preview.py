"""``openretina-data preview NAME``: look at one session of any installed dataset before training on it.

It loads the dataset by registry name (real files from ``--data-dir`` or the cache, or the plugin's synthetic
sample with ``--sample``), then writes four PNGs: stimulus frames with physical axes and channel names, response
traces in the card's unit with time in seconds, per-cell STAs on zero-centred scales, and the histogram of STA
peak lags, the alignment self-check that flags a frame offset between stimulus and responses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Mapping
from itertools import islice
from pathlib import Path
from typing import Any

import click
import numpy as np
from attrs import define, field

from openretina_core.cli.plot_context import PlotContext, plot_context
from openretina_core.cli.sta_lags import LagSummary, aligned, compute_sta, default_lags, summarize_lags

DEFAULT_MAX_BATCHES = 500


@define
class PreviewData:
    """What the figures of one session are drawn from (numpy arrays on the CPU)."""

    ctx: PlotContext
    example_inputs: np.ndarray  # (B, C, T, H, W), one input frame per target bin
    example_targets: np.ndarray  # (B, T, N)
    sta: np.ndarray | None = None  # (N, C, lags, H, W)
    truth: np.ndarray | None = None  # the sample's true filters, same layout
    notes: list[str] = field(factory=list)  # the sample's deliberate quirks, explained


@define
class PreviewResult:
    figures: list[Path]
    lags: LagSummary | None


def example_batch(loaders: Mapping[str, Any], session: str) -> tuple[np.ndarray, np.ndarray]:
    """The first batch of the session's validation loader (clips in order, not shuffled), else of its train
    loader."""
    for split in ("validation", "train"):
        loader = loaders.get(split, {}).get(session)
        if loader is not None:
            for inputs, targets in aligned(islice(loader, 1)):
                return inputs.numpy(), targets.numpy()
    raise click.ClickException(f"session {session!r} has no validation or train batches to show")


def gather(
    loaders: Mapping[str, Any],
    info: Any,
    session: str,
    options: Mapping[str, Any],
    lags: int | None = None,
    max_batches: int | None = DEFAULT_MAX_BATCHES,
    truth: np.ndarray | None = None,
) -> PreviewData:
    """Example batch, labels and the STA of ``session`` (from at most ``max_batches`` training batches)."""
    inputs, targets = example_batch(loaders, session)
    ctx = plot_context(
        info,
        session,
        (inputs.shape[3], inputs.shape[4]),
        inputs.shape[1],
        options,
        getattr(loaders, "data_info", None),
    )
    train = loaders.get("train", {}).get(session)
    sta = None
    if train is not None:
        chunk = inputs.shape[2]
        window = lags or (truth.shape[2] if truth is not None else default_lags(ctx.frame_rate_hz, chunk))
        batches: Iterable[Any] = train if max_batches is None else islice(train, max_batches)
        sta = compute_sta(batches, lags=min(window, chunk))
    return PreviewData(ctx, inputs, targets, sta=sta, truth=truth)


def draw(data: PreviewData, out_dir: Path, stem: str) -> PreviewResult:
    """The four figures of one session as ``<stem>_{stimulus,responses,sta,sta_lags}.png`` in ``out_dir``."""
    from openretina_core.cli import figures

    paths = [
        figures.save(
            figures.stimulus_figure(data.example_inputs, data.ctx), out_dir / f"{stem}_stimulus.png"
        ),
        figures.save(
            figures.response_figure(data.example_targets, data.ctx), out_dir / f"{stem}_responses.png"
        ),
    ]
    summary = None
    if data.sta is not None:
        truth = data.truth if data.truth is not None and data.truth.shape == data.sta.shape else None
        paths.append(figures.save(figures.sta_figure(data.sta, data.ctx, truth), out_dir / f"{stem}_sta.png"))
        summary = summarize_lags(data.sta, data.ctx.frame_rate_hz, truth)
        if data.sta.shape[2] > 1:
            figure = figures.lag_histogram_figure(summary, data.ctx)
            paths.append(figures.save(figure, out_dir / f"{stem}_sta_lags.png"))
    return PreviewResult(paths, summary)


def load_for_preview(
    name: str,
    *,
    session: str | None,
    data_dir: Path | None,
    sample: bool,
    download: bool,
    batch_size: int,
    options: dict[str, Any],
    lags: int | None = None,
    max_batches: int | None = DEFAULT_MAX_BATCHES,
) -> PreviewData:
    """Load NAME (its real files, or its synthetic sample written to a temporary folder) and gather one
    session's figure data."""
    from openretina_core.cli.sample_notes import explain_sample_quirks
    from openretina_core.data.registered import get_dataloaders
    from openretina_core.registry.tables import get_dataset_spec

    spec = get_dataset_spec(name)
    filters: Mapping[str, Any] = {}
    notes: list[str] = []
    if sample:
        if spec.write_sample is None:
            raise click.ClickException(
                f"dataset {name!r} provides no synthetic sample; pass --data-dir instead"
            )
        if data_dir is not None:
            raise click.ClickException("--sample writes its own files: pass either --sample or --data-dir")
        written = spec.write_sample(Path(tempfile.mkdtemp(prefix=f"openretina-preview-{name}-")), seed=0)
        data_dir, filters = written.data_dir, written.filters
        options = {**written.options, **options}
        with explain_sample_quirks() as quirks:
            loaders = get_dataloaders(name, data_dir=data_dir, batch_size=batch_size, **options)
        notes = quirks.notes
    else:
        loaders = get_dataloaders(
            name, data_dir=data_dir, download=download, batch_size=batch_size, **options
        )
    sessions = sorted(loaders.get("train", {})) or sorted(loaders.get("validation", {}))
    if session is None:
        session = next((s for s in sorted(filters) if s in sessions), sessions[0] if sessions else None)
    if session not in sessions:
        raise click.ClickException(
            f"{name}: no session {session!r}; sessions of this load: {', '.join(sessions) or 'none'}"
        )
    truth = np.asarray(filters[session]) if session in filters else None
    data = gather(loaders, spec.info, session, {**spec.default_options, **options}, lags, max_batches, truth)
    data.notes = notes
    return data
