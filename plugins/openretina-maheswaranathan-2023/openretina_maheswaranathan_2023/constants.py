"""Facts about the Maheswaranathan et al. 2023 files: hosts, layout, rates and the card. Data, no logic."""

from __future__ import annotations

from openretina_core.registry import DatasetInfo, RemoteFile

DATASET_ID = "maheswaranathan_2023"
DISTRIBUTION = "openretina-maheswaranathan-2023"

# -- hosts ---------------------------------------------------------------------------------------------------
HF_ARCHIVE_URL = (
    "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/"
    "baccus_lab/maheswaranathan_2023/neural_code_data.zip"
)
# The Stanford Digital Repository landing page. It is an HTML page, not the archive, so it is listed as a data
# URL of the card but never as a download URL (saving an HTML page as the zip is a classic failure).
SDR_PURL = "https://purl.stanford.edu/rk663dm5577"
DATA_DOI = "10.25740/rk663dm5577"
PAPER_DOI = "10.1016/j.neuron.2023.06.007"

# -- layout --------------------------------------------------------------------------------------------------
ARCHIVE_NAME = "neural_code_data.zip"
ARCHIVE_DIR = "neural_code_data"  # what the archive unpacks to; data_dir= points at this folder
GANGLION_DIR = "ganglion_cell_data"  # one sub-folder per session
INTERNEURON_DIR = "interneuron_data"  # published alongside; not used by this plugin
PUBLISHED_SESSIONS = ("15-10-07", "15-11-21a", "15-11-21b")

STIM_TYPES = ("naturalscene", "whitenoise")  # file name = f"{stim_type}.h5"
RESPONSE_TYPES = ("binned", "firing_rate_5ms", "firing_rate_10ms", "firing_rate_20ms")
DEFAULT_STIM_TYPE = "naturalscene"
DEFAULT_RESPONSE_TYPE = "firing_rate_10ms"  # what the published training configuration uses

TRAIN_STIMULUS_KEY = "train/stimulus"  # (T_train, 50, 50)
TEST_STIMULUS_KEY = "test/stimulus"  # (T_test, 50, 50)
SESSION_FILE_EXPECTED = "a session file (HDF5) with train/ and test/ stimulus and response datasets"
TRAIN_RESPONSE_GROUP = "train/response"  # /<response_type>: (cells, T_train)
TEST_RESPONSE_GROUP = "test/response"  # /<response_type>: (cells, T_test [+1])
TEST_REPEATS_GROUP = (
    "test/repeats"  # /<response_type>: (repeats, cells, T_test [+1]) or /cellNN: (repeats, T_test [+1])
)
REPEATS_CELL_PATTERN = r"^cell(\d+)$"
TEST_NAME = "test"  # key of the single test stimulus in the containers and the loaders dict
MAX_EXTRA_RESPONSE_BINS = (
    1  # a response one bin longer than its stimulus is trimmed (logged); more is an error
)

# -- physical facts ------------------------------------------------------------------------------------------
FRAME_RATE_HZ = 100.0  # 10-ms frames and response bins
FRAME_SHAPE = (50, 50)
PIXEL_SIZE_UM = 50.0  # as in the reference configuration (its comment: "RFs suggest 25 µm")
SPECIES = "tiger salamander (Ambystoma tigrinum)"

# -- loader defaults (datasets.md §10) -----------------------------------------------------------------------
DEFAULT_LOADER_OPTIONS = {
    "stim_type": DEFAULT_STIM_TYPE,
    "response_type": DEFAULT_RESPONSE_TYPE,
    "train_chunk_size": 50,
    "clip_length": 90,
    "num_val_clips": 20,
    "seed": 42,
}

BIBTEX = """@article{maheswaranathan2023interpreting,
  title = {Interpreting the retinal neural code for natural scenes: From computations to neurons},
  author = {Maheswaranathan, Niru and McIntosh, Lane T. and Tanaka, Hidenori and Grant, Satchel and
            Kastner, David B. and Melander, Joshua B. and Nayebi, Aran and Brezovec, Luke E. and
            Wang, Julia H. and Ganguli, Surya and Baccus, Stephen A.},
  journal = {Neuron},
  volume = {111},
  number = {17},
  pages = {2742--2755.e4},
  year = {2023},
  doi = {10.1016/j.neuron.2023.06.007},
  note = {Data: Stanford Digital Repository, doi:10.25740/rk663dm5577}
}"""

INFO = DatasetInfo(
    id=DATASET_ID,
    title="Interpreting the retinal neural code for natural scenes: from computations to neurons",
    authors=(
        "Niru Maheswaranathan",
        "Lane T. McIntosh",
        "Hidenori Tanaka",
        "Satchel Grant",
        "David B. Kastner",
        "Joshua B. Melander",
        "Aran Nayebi",
        "Luke E. Brezovec",
        "Julia H. Wang",
        "Surya Ganguli",
        "Stephen A. Baccus",
    ),
    year=2023,
    doi=PAPER_DOI,
    paper_url=f"https://doi.org/{PAPER_DOI}",
    data_urls=(SDR_PURL, f"https://doi.org/{DATA_DOI}", HF_ARCHIVE_URL),
    license=(
        "Not stated in the sources available to this project; see the terms of use on the Stanford Digital "
        f"Repository page ({SDR_PURL}). Cite the paper when using the data."
    ),
    species=(SPECIES,),
    recording_modality="multi-electrode array (spike-sorted ganglion cells)",
    stimulus_types=STIM_TYPES,
    frame_rate_hz=FRAME_RATE_HZ,
    response_unit=(
        "response_type as published, on the 10-ms time base (one bin per frame): binned = spike counts "
        "per bin; firing_rate_5ms/10ms/20ms = smoothed firing-rate estimates (default firing_rate_10ms); "
        "divided by fr_normalization (1.0)"
    ),
    # Pixel size: openretina's data_info records 50 µm (its comment: "RFs suggest 25 µm"); the 50 x 50 frames are
    # served at their stored resolution. One grayscale channel.
    pixel_size=PIXEL_SIZE_UM,
    pixel_unit="µm",
    channel_names=("grayscale",),
    shapes={
        "stimulus": "(1, T, 50, 50) per session, z-scored per session (T_test e.g. 5996)",
        "responses": "(cells, T), e.g. 9 cells",
        "test_by_trial": "(repeats, cells, T_test), e.g. 5 repeats",
        "batch_inputs": "(B, 1, 50, 50, 50) with train_chunk_size=50",
        "batch_targets": "(B, 50, cells)",
        "frame_hw": FRAME_SHAPE,
        "pixel_size_um": PIXEL_SIZE_UM,
    },
    files=(RemoteFile(relative_path=ARCHIVE_NAME, urls=(HF_ARCHIVE_URL,), extract=True),),
    description=(
        "Isolated tiger-salamander retina recorded on a multi-electrode array (Baccus lab). Spike-sorted "
        "ganglion cells respond to 50x50-pixel grayscale movies at 100 Hz: jittered natural scenes and "
        "spatiotemporal white noise, each with a long training sequence and a repeated test sequence. Three "
        "sessions (15-10-07, 15-11-21a, 15-11-21b) under ganglion_cell_data/, one naturalscene.h5 and "
        "whitenoise.h5 each. The archive also holds interneuron_data/, which is not used."
    ),
    notes=(
        "Species: tiger salamander. The openretina documentation page calls this primate data; it is not.",
        "Test responses and repeats one bin longer than the test stimulus (e.g. 5997 vs 5996 bins) are "
        "trimmed to the stimulus length explicitly: the loader logs it and records test_bins_trimmed in each "
        "session's session_kwargs. Any other length mismatch is an error naming the file and key.",
        "Stimuli are z-scored per session with one scalar mean/std of that session's train movie "
        "(recorded as norm_mean/norm_std); the test movie uses the same statistics.",
        "Single-trial repeats come from test/repeats/<response_type> when present, else from "
        "test/repeats/cellNN stacked by cell number; they are divided by fr_normalization like the "
        "averaged responses.",
        "interneuron_data/ is ignored. Pixel size 50 µm as in the reference configuration.",
        "Downloads come from the Hugging Face mirror; the Stanford Digital Repository page is the canonical "
        "source. The archive's hash is not published and is recorded at the first download.",
    ),
    bibtex=BIBTEX,
    pip_extra=DATASET_ID,
)
