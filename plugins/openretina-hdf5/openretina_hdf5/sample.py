"""A synthetic example in the generic layout, as openretina's ``create-data`` writes it, with LN-model responses.

``write_sample(root)`` writes, directly under ``root``:

* ``stimuli/random_noise_{i}.npy``: Gaussian noise ``(C, (70 + i) * clip_length, 16, 8)``, float64 as openretina
  writes it (``stimulus_dtype=`` changes that);
* ``session_{k}.hdf5``: ``responses_random_noise_{i}`` ``(neurons, T_i)`` for every stimulus (Poisson spike
  counts of a known LNP model of 10-29 cells, stored as float64) and ``session_info/celltypes`` ``(neurons,)``.

The last two stimuli are the test stimuli (``random_noise_2`` and ``random_noise_3`` by default, as in
openretina's configuration); the returned sample's ``options`` say so.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import h5py
import numpy as np

from openretina_core.data import make_lnp_model, simulate_responses
from openretina_core.registry import SyntheticSample
from openretina_hdf5.constants import (
    RESPONSES_PREFIX,
    SAMPLE_CELLTYPES,
    SAMPLE_CLIP_LENGTH,
    SAMPLE_FILTER_LENGTH,
    SAMPLE_FIRST_CLIPS,
    SAMPLE_FRAME_HW,
    SAMPLE_NEURONS,
    SAMPLE_NUM_COLORS,
    SAMPLE_NUM_SESSIONS,
    SAMPLE_NUM_STIMULI,
    SAMPLE_SESSION_FILE,
    SAMPLE_STIMULUS_NAME,
    SAMPLE_TEST_STIMULI,
    SESSION_INFO_GROUP,
    STIMULUS_FOLDER,
)

logger = logging.getLogger(__name__)


def sample_test_names(num_stimuli: int) -> list[str]:
    """The test stimuli of a sample: the last two (at least one stimulus is kept for training)."""
    first = max(1, num_stimuli - SAMPLE_TEST_STIMULI)
    return [SAMPLE_STIMULUS_NAME.format(index=i) for i in range(first, num_stimuli)]


def write_sample(
    root: str | os.PathLike[str],
    seed: int = 0,
    *,
    num_colors: int = SAMPLE_NUM_COLORS,
    num_stimuli: int = SAMPLE_NUM_STIMULI,
    num_sessions: int = SAMPLE_NUM_SESSIONS,
    clip_length: int = SAMPLE_CLIP_LENGTH,
    first_clips: int = SAMPLE_FIRST_CLIPS,
    frame_hw: tuple[int, int] = SAMPLE_FRAME_HW,
    stimulus_dtype: str = "float64",
    filter_length: int = SAMPLE_FILTER_LENGTH,
) -> SyntheticSample:
    """Write the example under ``root`` (created if needed; files of the same names are replaced).

    ``filters[session]`` is ``(neurons, C, filter_length, H, W)``, lag-indexed: the true filters of the LNP
    model behind that session's responses, in the stimulus space the loaders return (no normalisation).
    """
    for label, value in (("num_colors", num_colors), ("num_stimuli", num_stimuli)):
        if value < 1:
            raise ValueError(f"{label} must be at least 1, received {value}")
    if num_sessions < 1 or clip_length < 1 or first_clips < 1:
        raise ValueError(
            f"num_sessions, clip_length and first_clips must be positive, received {num_sessions}, "
            f"{clip_length}, {first_clips}"
        )
    data_dir = Path(root).expanduser()
    (data_dir / STIMULUS_FOLDER).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    height, width = frame_hw
    names = [SAMPLE_STIMULUS_NAME.format(index=i) for i in range(num_stimuli)]
    stimuli: list[np.ndarray] = []
    for index, name in enumerate(names):
        n_frames = (first_clips + index) * clip_length
        stimulus = rng.standard_normal((num_colors, n_frames, height, width)).astype(stimulus_dtype)
        np.save(data_dir / STIMULUS_FOLDER / f"{name}.npy", stimulus, allow_pickle=False)
        stimuli.append(stimulus.astype(np.float32))  # what the loaders return
    filters = {}
    for k in range(num_sessions):
        path = data_dir / SAMPLE_SESSION_FILE.format(index=k)
        n_neurons = int(rng.integers(*SAMPLE_NEURONS))
        model = make_lnp_model(
            n_neurons, num_colors, height, width, filter_length=filter_length, seed=seed * 1000 + k
        )
        filters[path.stem] = model.filters
        with h5py.File(path, "w") as h5:
            for name, stimulus in zip(names, stimuli):
                counts = simulate_responses(model, stimulus, seed=int(rng.integers(2**31)))
                h5.create_dataset(RESPONSES_PREFIX + name, data=counts.astype(np.float64))
            h5.create_dataset(
                f"{SESSION_INFO_GROUP}/celltypes", data=rng.integers(0, SAMPLE_CELLTYPES, size=n_neurons)
            )
        logger.info("wrote %s (%d neurons)", path, n_neurons)
    options = {
        "test_names": sample_test_names(num_stimuli),
        "stimulus_size": (num_colors, height, width),
        "clip_length": clip_length,
    }
    return SyntheticSample(data_dir=data_dir, filters=filters, options=options)
