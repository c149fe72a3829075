"""Facts about the generic HDF5 lab format (openretina's ``h5_dataset_reader`` layout) and its card. Data, no logic."""

from __future__ import annotations

from openretina_core.registry import DatasetInfo

DATASET_ID = "hdf5"
DISTRIBUTION = "openretina-hdf5"

# -- layout (openretina 1.1.1, data_io/h5_dataset_reader.py) ---------------------------------------------------
STIMULUS_FOLDER = "stimuli"  # <data_dir>/stimuli/<name>.npy: shared stimuli, (C, T, H, W)
STIMULUS_SUFFIX = ".npy"
SESSION_SUFFIXES = (".h5", ".hdf5")  # <data_dir>/<session>.h5|.hdf5; the session name is the file stem
RESPONSES_PREFIX = "responses_"  # responses_<name>: (neurons, T_name)
SESSION_STIMULUS_PREFIX = "stimulus_"  # stimulus_<name>: (C, T_name, H, W), overrides stimuli/<name>.npy
SESSION_INFO_GROUP = "session_info"  # its datasets become the session's session_kwargs, as arrays

# -- loader defaults (datasets.md §10, openretina's dataloader/hdf5_loader.yaml) -------------------------------
DEFAULT_LOADER_OPTIONS = {
    "train_chunk_size": 50,
    "clip_length": 75,
    "num_val_clips": 20,
    "seed": 42,
}

# -- what `create-data` writes (openretina's cli/create_data.py defaults) --------------------------------------
SAMPLE_NUM_COLORS = 3
SAMPLE_NUM_STIMULI = 4
SAMPLE_NUM_SESSIONS = 2
SAMPLE_CLIP_LENGTH = 75
SAMPLE_FIRST_CLIPS = 70  # stimulus i has (70 + i) clips
SAMPLE_FRAME_HW = (16, 8)
SAMPLE_NEURONS = (10, 30)  # neurons per session drawn from [10, 30)
SAMPLE_CELLTYPES = 40  # session_info/celltypes drawn from [0, 40)
SAMPLE_STIMULUS_NAME = "random_noise_{index}"
SAMPLE_SESSION_FILE = "session_{index}.hdf5"
SAMPLE_TEST_STIMULI = (
    2  # the last two stimuli are the test stimuli (random_noise_2, random_noise_3 by default)
)
SAMPLE_FILTER_LENGTH = 10

# -- reading -------------------------------------------------------------------------------------------------
READ_BLOCK_BYTES = 4 << 20  # float32 bytes per block copied from a stimulus into a time-major buffer

OPENRETINA_PREPRINT_DOI = "10.1101/2025.03.07.642012"
OPENRETINA_URL = "https://github.com/open-retina/open-retina"

BIBTEX = """@article{openretina2025,
  title = {openretina: Collaborative Retina Modelling Across Datasets and Species},
  author = {D'Agostino, Federico and Zenkel, Thomas and H{\\"o}fling, Larissa and others},
  journal = {bioRxiv},
  year = {2025},
  doi = {10.1101/2025.03.07.642012},
  note = {The generic HDF5 layout is that of openretina's data_io/h5_dataset_reader.py. Cite the
          publication of the recordings you load with it as well.}
}"""

INFO = DatasetInfo(
    id=DATASET_ID,
    title="Generic HDF5 lab format (openretina's h5_dataset_reader layout): your own recordings",
    authors=("Federico D'Agostino", "Thomas Zenkel", "Larissa Höfling"),
    year=2025,
    doi=OPENRETINA_PREPRINT_DOI,
    paper_url=f"https://www.biorxiv.org/content/{OPENRETINA_PREPRINT_DOI}v1",
    data_urls=(),
    license=(
        "Not applicable: this is a file layout, not a published dataset. Data read with it keep their own "
        "licence. The layout follows openretina (MIT License)."
    ),
    species=("any: the lab's own recordings",),
    recording_modality=(
        "any: responses as stored (spike counts, firing rates, calcium traces), one bin per stimulus frame"
    ),
    stimulus_types=("any movie: shared stimuli/<name>.npy, or a session's own stimulus_<name>",),
    frame_rate_hz=None,  # the lab's own; pass frame_rate_hz= to record it in data_info
    response_unit="as stored in responses_<name> (read as float32); one bin per stimulus frame",
    pixel_size=None,  # the lab's own stimuli: not known to the layout (the preview labels axes in pixels)
    pixel_unit="µm",
    channel_names=(),  # unnamed: the layout does not record what the channels are
    shapes={
        "stimuli/<name>.npy": "(C, T_name, H, W), any numeric dtype; C, H, W equal for every stimulus",
        "<session>.h5: responses_<name>": "(neurons, T_name), one bin per frame of stimulus <name>",
        "<session>.h5: stimulus_<name>": "(C, T_name, H, W), overrides stimuli/<name>.npy for this session",
        "<session>.h5: session_info/<key>": "any array; becomes session_kwargs[<key>]",
        "train movie": "the non-test stimuli concatenated along time in sorted name order",
        "batch_inputs": "(B, C, train_chunk_size, H, W)",
        "batch_targets": "(B, train_chunk_size, neurons)",
    },
    files=(),  # nothing to download: data_dir= is a folder of the lab's own
    description=(
        "The generic layout openretina reads with its h5_dataset_reader, for a lab's own recordings: "
        "shared stimulus movies in stimuli/<name>.npy and one HDF5 file per session holding responses_<name> "
        "for every stimulus shown, optionally stimulus_<name> (a session's own version of a stimulus) and a "
        "session_info/ group of metadata. The stimulus names with responses, sorted, are the session's "
        "stimuli; test_names= picks the test stimuli (one test loader each, keyed by name) and the others "
        "are concatenated, in sorted order, into the training movie. `openretina-data create-data DIR` "
        "writes an example (Gaussian-noise stimuli, LN-model responses)."
    ),
    notes=(
        "No download: pass data_dir= pointing at the folder holding stimuli/ and the session files.",
        "Each shared stimulus is read once (memory-mapped, block by block) into one float32 time-major "
        "buffer that every session showing it shares; openretina makes a float copy per session.",
        "Stimuli are normalised with the fixed norm_mean/norm_std options, (x - norm_mean) / norm_std "
        "(defaults 0 and 1: unchanged), as openretina's reader does; they are recorded in data_info.",
        "Differences from openretina 1.1.1: a stimulus present only in a session file works; a session or a "
        "dataset whose stimuli are all test stimuli works (test loaders only); every stimulus and response "
        "is checked name by name (channels, frame size, frame count against response bins, neuron counts) "
        "with errors naming the file and key; a name in test_names that no session shows is an error.",
        "There are no per-trial test responses in this layout.",
        "Card authors: those of the openretina package (1.1.1 metadata), which defines the layout; the "
        "DOI is openretina's preprint.",
    ),
    bibtex=BIBTEX,
    pip_extra=DATASET_ID,
)
