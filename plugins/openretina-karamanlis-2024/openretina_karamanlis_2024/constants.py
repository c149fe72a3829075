"""Facts about the published Karamanlis et al. 2024 files: hosts, sessions, keys, rates, geometry. Data only."""

from __future__ import annotations

DATASET_ID = "karamanlis_2024"

DATA_DOI = "10.12751/g-node.ejk8kx"
PAPER_DOI = "10.1038/s41586-024-08212-3"
PAPER_URL = f"https://doi.org/{PAPER_DOI}"
GIN_REPOSITORY = "https://gin.g-node.org/gollischlab/Karamanlis_Gollisch_2023_RGC_spiketrains_natural_movies_and_subunit_models"
HF_FOLDER_URL = (
    "https://huggingface.co/datasets/open-retina/open-retina/tree/main/gollisch_lab/karamanlis_2024/sessions"
)
# Files of the Hugging Face mirror are fetched from here, under their path relative to the dataset folder.
HF_RESOLVE_BASE = (
    "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/gollisch_lab/karamanlis_2024"
)

# The folder under the dataset root that holds one folder (or one ``<session>.zip``) per recording.
SESSIONS_DIR = "sessions"

# Recording sessions known here, by species. These are the two example names the reference documents; the
# mirror holds more. Complete this table (and add hashes/sizes) when the mirror's listing can be checked.
SESSIONS: dict[str, tuple[str, ...]] = {
    "mouse": ("20201112_252MEA_mouse_left_half_dorsal",),
    "marmoset": ("20220208_60MEA_marmoset_right_i1",),
}

# The Hugging Face mirror: dataset repository, revision, and the dataset's folder in it (its sessions are listed
# from <folder>/sessions with the hub's tree API; see sessions.py).
HF_REPO_ID = "open-retina/open-retina"
HF_REVISION = "main"
HF_DATASET_FOLDER = "gollisch_lab/karamanlis_2024"

# Published session names known without the listing (the offline fallback): the two examples above and names
# seen on the mirror (sightings, not a complete listing; the listing, when reachable, is the truth).
KNOWN_SESSIONS: dict[str, tuple[str, ...]] = {
    "mouse": (
        "20201112_252MEA_mouse_left_half_dorsal",
        "20210115_252MEA_mouse_left_half_ventral",
        "20210115_252MEA_mouse_right_half_ventral",
        "20210203_252MEA_mouse_left_half_dorsal",
        "20210203_252MEA_mouse_left_half_ventral",
        "20210803_252MEA_mouse_left_half_dorsal",
        "20210813_252MEA_mouse_left_half_dorsal",
        "20210813_252MEA_mouse_left_half_ventral",
        "20210916_252MEA_mouse_right_half_ventral",
    ),
    "marmoset": (
        "20220208_60MEA_marmoset_right_i1",
        "20220301_60MEA_marmoset_left_s1",
        "20220301_252MEA_marmoset_left_n1",
        "20220329_60MEA_marmoset_right_i1",
    ),
}

SPECIES = ("mouse", "marmoset")
# Stimulus files whose layout (the keys below) is known. The reference also accepts "frozencheckerflicker",
# "gratingflicker" and "imagesequence" but reads the same keys from them, which their files do not hold.
STIM_TYPES = ("fixationmovie",)
UNSUPPORTED_STIM_TYPES = ("frozencheckerflicker", "gratingflicker", "imagesequence")

# Per-session file: exactly one "<anything>_<stim_type>_data.mat" (MATLAB v7.3, i.e. HDF5).
FILE_SUFFIX = "_data.mat"

# HDF5 keys, with their h5py shapes (MATLAB order reversed).
KEY_RUNNING_IMAGES = "runningImages"  # (n_img, Nx_im, Ny_im): each image stored transposed
KEY_FROZEN_IMAGES = "frozenImages"  # (n_img, Nx_im, Ny_im)
KEY_RUNNING_FIXATIONS = "runningfixations"  # (n_blocks, n_frames, 3): (image index 1-based, x, y)
KEY_FROZEN_FIXATIONS = "frozenfixations"  # (n_frames, 3)
KEY_RUNNING_BIN = "runningbin"  # (n_blocks, T_block, neurons): spike counts per frame
KEY_FROZEN_BIN = "frozenbin"  # (trials, T_test, neurons)

TEST_NAME = "test"  # the frozen (repeated) sequence's key in test dicts

# Stimulus geometry (the authors' returnFixMovie.m): a 600 x 800 screen; fixation (k, x, y) puts image pixel
# (x, y) (1-based column, row) on screen pixel (400, 300) (1-based column, row); uncovered pixels are 0.
SCREEN_SHAPE = (600, 800)  # (rows, columns)
FIXATION_SCREEN_PIXEL = (300, 400)  # (row, column), 1-based
DEFAULT_TARGET_SIZE = (60, 80)

FRAME_RATE_HZ: dict[str, float] = {"mouse": 75.0, "marmoset": 85.0}
RETINA_PIXEL_SIZE_UM = 7.5  # per screen pixel on the retina
SCREEN_PIXEL_UM = RETINA_PIXEL_SIZE_UM

# Bump when the composed-movie cache's content or layout changes: old entries are then never read.
CACHE_FORMAT_VERSION = 3  # 3: entries of the core's prepared store
EXTRACTED_DIR = "extracted"
