"""The preview's figures say what they show: physical axes from the card, channel names, time in seconds, the
card's response unit, STAs on zero-centred symmetric scales with colourbars, and a peak-lag check that flags a
frame offset (read from the matplotlib Figure objects, not from pixels)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from attrs import evolve

from openretina_core.cli.plot_context import PlotContext, pick, plot_context, short_unit
from openretina_core.cli.sta_lags import aligned, compute_sta, default_lags, summarize_lags
from openretina_core.data.simulate import make_lnp_model, simulate_responses
from openretina_core.registry.specs import DatasetInfo

pytest.importorskip("matplotlib")
from openretina_core.cli import figures

RATE = 30.0
CTX = PlotContext(
    dataset="toy",
    session="s1",
    frame_rate_hz=RATE,
    pixel_size=50.0,
    pixel_unit="µm",
    channel_names=("green", "UV"),
    response_unit="spike probability (inferred), per frame",
)


def card(**fields) -> DatasetInfo:
    return DatasetInfo(id="toy", title="Toy", authors=("Doe J",), year=2025, **fields)


def images(fig) -> list:
    return [image for ax in fig.axes for image in ax.get_images()]


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def lnp_batches(shift: int = 0, seed: int = 0, lags: int = 8) -> tuple[list, np.ndarray]:
    """Chunks of an LN-model recording; ``shift > 0`` pairs each response bin with the frame ``shift`` bins
    later (responses lead the stimulus), ``shift < 0`` with an earlier one (responses lag it)."""
    model = make_lnp_model(12, 1, 8, 10, filter_length=lags, seed=seed)
    movie = np.random.default_rng(seed).standard_normal((1, 6000, 8, 10)).astype(np.float32)
    rates = simulate_responses(model, movie, seed=seed)  # (N, T)
    if shift > 0:
        movie, rates = movie[:, :-shift], rates[:, shift:]
    elif shift < 0:
        movie, rates = movie[:, -shift:], rates[:, :shift]
    chunk = 50
    n = movie.shape[1] // chunk
    inputs = torch.from_numpy(np.ascontiguousarray(movie[:, : n * chunk]))
    inputs = inputs.reshape(1, n, chunk, 8, 10).permute(1, 0, 2, 3, 4)
    targets = torch.from_numpy(np.ascontiguousarray(rates[:, : n * chunk].T)).reshape(n, chunk, -1)
    return [(inputs[i : i + 16], targets[i : i + 16]) for i in range(0, n, 16)], model.filters


def test_stimulus_frames_have_physical_axes_channel_names_seconds_and_colourbars() -> None:
    inputs = np.random.default_rng(0).standard_normal((2, 2, 30, 18, 16)).astype(np.float32)
    fig = figures.stimulus_figure(inputs, CTX)
    panels = [ax for ax in fig.axes if ax.get_images()]
    assert len(panels) == 2 * 4, "four frames per channel"
    assert panels[0].get_xlabel() == "x (µm)" and panels[0].get_ylabel() == "y (µm)"
    assert {ax.get_title().split(",")[0] for ax in panels} == {"green", "UV"}
    assert any("t = 0.97 s" in ax.get_title() for ax in panels), "frame 29 at 30 Hz"
    left, right, bottom, top = images(fig)[0].get_extent()
    assert (left, right, bottom, top) == (0.0, 16 * 50.0, 18 * 50.0, 0.0)
    assert all(image.colorbar is not None for image in images(fig)[-1:]), "a colourbar per channel row"


def test_response_traces_have_time_in_seconds_and_the_cards_unit() -> None:
    targets = np.random.default_rng(1).poisson(1.0, (4, 60, 7)).astype(np.float32)
    fig = figures.response_figure(targets, CTX)
    traces = [ax for ax in fig.axes if ax.get_lines()]
    assert len(traces) == figures.MAX_TRACES
    assert traces[-1].get_xlabel() == "time (s)"
    assert fig.get_supylabel() == "spike probability"
    x = traces[0].get_lines()[0].get_xdata()
    assert x[-1] == pytest.approx(59 / RATE)
    assert np.array_equal(traces[2].get_lines()[0].get_ydata(), targets[0, :, 2])
    assert "spike probability (inferred), per frame" in " ".join(t.get_text() for t in fig.texts)


def test_sta_maps_are_zero_centred_symmetric_diverging_with_colourbars_and_lags_in_ms() -> None:
    batches, truth = lnp_batches()
    sta = compute_sta(batches, lags=8)
    fig = figures.sta_figure(sta, evolve(CTX, channel_names=("grey",)))
    maps = [image for image in images(fig)]
    assert maps and all(image.get_cmap().name == figures.DIVERGING for image in maps)
    for image in maps:
        low, high = image.get_clim()
        assert low == -high and high == pytest.approx(np.abs(image.get_array()).max(), rel=1e-6)
        assert image.colorbar is not None
    kernels = [ax for ax in fig.axes if ax.get_xlabel().startswith("lag")]
    assert kernels and kernels[0].get_xlabel() == "lag before the response (ms)"
    assert kernels[0].get_lines()[0].get_xdata()[-1] == pytest.approx(7 * 1000 / RATE)
    with_truth = figures.sta_figure(sta, evolve(CTX, channel_names=()), truth)
    assert any(ax.get_title().startswith("true filter") for ax in with_truth.axes)


def test_without_a_pixel_size_the_axes_are_in_pixels_and_the_footnote_says_why() -> None:
    ctx = plot_context(card(frame_rate_hz=RATE), "s1", (8, 10), 1)
    assert ctx.pixel_size is None and ctx.space_unit == "pixels"
    fig = figures.stimulus_figure(np.zeros((1, 1, 5, 8, 10), np.float32), ctx)
    assert fig.axes[0].get_xlabel() == "x (pixels)"
    assert "space in pixels: the card states no pixel size" in " ".join(t.get_text() for t in fig.texts)
    assert fig.axes[0].get_title().startswith("channel 0")


def test_keyed_card_values_match_the_frame_size_or_an_option() -> None:
    info = card(
        frame_rate_hz={"mouse": 75.0, "marmoset": 85.0},
        pixel_size={"60x80": 75.0, "600x800": 7.5},
        channel_names=("grayscale",),
    )
    ctx = plot_context(info, "s", (60, 80), 1, {"species": "marmoset"})
    assert (ctx.frame_rate_hz, ctx.pixel_size, ctx.channel(0)) == (85.0, 75.0, "grayscale")
    other = plot_context(info, "s", (30, 40), 2, {"species": "mouse"})
    assert other.pixel_size is None and other.frame_rate_hz == 75.0
    assert any("match none of this load's (30x40, mouse)" in note for note in other.notes)
    assert other.channel(1) == "channel 1", "a card naming 1 channel does not name 2"
    assert pick({"a": 2.0, "b": 2.0}, [], "x") == (2.0, "")


def test_short_unit_reads_the_derived_unit_or_the_first_clause() -> None:
    assert short_unit("spike counts per 300-ms image (binned) divided by 0.3 s, i.e. spikes per second") == (
        "spikes per second"
    )
    assert short_unit("spike counts per stimulus frame (divided by fr_normalization, default 1)") == (
        "spike counts per stimulus frame"
    )
    assert short_unit("per-frame responses at 85 Hz as published by the authors of the paper") == (
        "per-frame responses at 85 Hz as\npublished by the authors of the\npaper"
    )
    assert short_unit("") == "response (unit not stated)"


def test_peak_lag_check_passes_a_correct_recording_and_marks_the_expected_lag() -> None:
    batches, truth = lnp_batches()
    summary = summarize_lags(compute_sta(batches, lags=8), RATE, truth)
    assert not summary.flagged and "no offset flagged" in summary.message
    assert 0 < summary.mode_lag < 7 and summary.expected_lag == pytest.approx(summary.mode_lag, abs=1)
    fig = figures.lag_histogram_figure(summary, CTX)
    ax = fig.axes[0]
    assert ax.get_xlabel() == "STA peak lag (ms)" and "alignment looks right" in ax.get_title()
    assert any(line.get_xdata()[0] == pytest.approx(summary.expected_lag * 1000 / RATE) for line in ax.lines)
    assert sum(patch.get_height() for patch in ax.patches if hasattr(patch, "get_height")) >= 1


@pytest.mark.parametrize("shift, where", [(3, "at lag 0"), (-6, "at the window edge")])
def test_peak_lag_check_flags_a_frame_offset(shift: int, where: str) -> None:
    batches, truth = lnp_batches(shift=shift)
    summary = summarize_lags(compute_sta(batches, lags=8), RATE, truth)
    assert summary.flagged and where in summary.message and summary.message.startswith("WARNING")
    assert summary.mode_lag == (0 if shift > 0 else 7)
    fig = figures.lag_histogram_figure(summary, CTX)
    assert "FRAME OFFSET SUSPECTED" in fig.axes[0].get_title()


def test_overhead_frames_are_cut_so_each_bin_meets_its_own_frame() -> None:
    inputs, targets = torch.arange(2 * 1 * 13 * 2 * 2.0).reshape(2, 1, 13, 2, 2), torch.zeros(2, 10, 3)
    ((x, y),) = list(aligned([(inputs, targets)]))
    assert x.shape[2] == 10 and torch.equal(x, inputs[:, :, 3:]) and torch.equal(y, targets)
    assert default_lags(30.0, 50) == 15 and default_lags(100.0, 50) == 25 and default_lags(None, 1) == 1


def shifted(batches, shift: int):
    """The batches with each response bin paired with the frame ``shift`` bins later: a frame offset."""
    for inputs, targets in batches:
        yield inputs[:, :, :-shift], targets[:, shift:]


def test_a_frame_offset_injected_into_a_loaded_sample_is_flagged(toy_plugins, tmp_path) -> None:
    from toy_dataset_plugin import write_toy_sample

    from openretina_core.data.registered import get_dataloaders

    sample = write_toy_sample(tmp_path)
    truth = sample.filters["session_a"]
    train = get_dataloaders("toy_2025", data_dir=sample.data_dir, batch_size=8)["train"]["session_a"]
    good = summarize_lags(compute_sta(train, lags=truth.shape[2]), RATE, truth)
    assert not good.flagged and good.mode_lag == round(good.expected_lag)
    bad = summarize_lags(compute_sta(shifted(train, 2), lags=truth.shape[2]), RATE, truth)
    assert bad.flagged and bad.mode_lag == 0 and "frame offset" in bad.message
