"""The user's reference page (shared/docs/seed.md): its examples run with our import paths.

The dataset examples are exercised by each plugin's own tests (against a local HTTP server); here are the
core's: cyclers over plain DataLoaders, and the stimulus example when the stimuli plugin is installed.
"""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset


def test_cycler_example_runs_as_written(capsys) -> None:
    from openretina_core import LongCycler, ShortCycler

    def make(n):
        return DataLoader(TensorDataset(torch.randn(n, 1, 5, 4, 4), torch.randn(n, 5, 3)), batch_size=2)

    # Example dataloaders
    session_dataloaders = {"session1": make(4), "session2": make(6), "session3": make(2)}

    # Create a LongCycler that cycles through sessions until all data is exhausted
    long_cycler = LongCycler(loaders=session_dataloaders, shuffle=True)

    # Create a ShortCycler that cycles through each session exactly once
    short_cycler = ShortCycler(loaders=session_dataloaders)

    # Get the next batch from the cycler
    for session_key, batch in long_cycler:
        # Process the batch
        inputs, targets = batch  # noqa: RUF059 (the page's code, verbatim)
        print(f"Processing batch from {session_key}")

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(long_cycler) == 3 * 3
    assert {line.rsplit(" ", 1)[1] for line in lines} == {"session1", "session2", "session3"}
    assert len(list(short_cycler)) == 2 + 3 + 1


def test_stimulus_example_runs_as_written() -> None:
    pytest.importorskip("openretina_stimuli")
    from openretina_stimuli import generate_gratings, generate_moving_bar, generate_noise_stimulus

    # Generate a drifting grating stimulus
    grating = generate_gratings(
        shape=(2, 30, 16, 18),  # (channels, time, height, width)
        temporal_frequency=2.0,  # Hz
        spatial_frequency=0.1,  # cycles per pixel
        orientation=45,  # degrees
    )

    # Generate white noise stimulus
    noise = generate_noise_stimulus(shape=(2, 30, 16, 18), distribution="gaussian")

    # Generate a moving bar stimulus
    bar = generate_moving_bar(
        shape=(2, 30, 16, 18),
        width=2,  # pixels
        speed=1,  # pixels per frame
        direction=0,  # degrees
    )
    for stimulus in (grating, noise, bar):
        assert tuple(stimulus.shape) == (2, 30, 16, 18) and str(stimulus.dtype).endswith("float32")
