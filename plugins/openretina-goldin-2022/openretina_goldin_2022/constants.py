"""Facts about the Goldin et al. 2022 files: hosts, layout, keys, sizes and loader defaults. Data, no logic."""

from __future__ import annotations

DATASET_ID = "goldin_2022"
DISTRIBUTION = "openretina-goldin-2022"

# -- hosts ---------------------------------------------------------------------------------------------------
PAPER_DOI = "10.1038/s41467-022-33242-8"
ZENODO_RECORD_URL = "https://zenodo.org/records/6868362"  # the authors' deposit ("unformatted")
HF_REPO_ID = "open-retina/open-retina"  # the Hugging Face dataset repository of the mirror
HF_REVISION = "main"
HF_DATASET_FOLDER = "marre_lab/goldin_2022"  # one <session>.h5 per recording, directly in this folder
HF_FOLDER_URL = f"https://huggingface.co/datasets/{HF_REPO_ID}/tree/{HF_REVISION}/{HF_DATASET_FOLDER}"
HF_RESOLVE_BASE = f"https://huggingface.co/datasets/{HF_REPO_ID}/resolve/{HF_REVISION}/{HF_DATASET_FOLDER}"

# The files to download come from the mirror folder's listing (the hub's tree API, cached for offline use; see
# mirror.py): every *.h5 directly in the folder that has the species as a name component. These names are the
# OFFLINE FALLBACK ONLY, used when no listing is cached and the hub cannot be asked, and they are UNVERIFIED
# GUESSES: the reference implementation only tells that each name contains "mouse" or "axolotl" and ends in
# ".h5", and its dataset page lists one mouse recording (40 cells) and one axolotl recording (48 cells).
# Loading from data_dir= never uses them: every matching *.h5 file in the folder is a session.
UNVERIFIED_FALLBACK_FILES: dict[str, tuple[str, ...]] = {
    "mouse": ("mouse.h5",),
    "axolotl": ("axolotl.h5",),
}

# -- layout --------------------------------------------------------------------------------------------------
SESSION_SUFFIX = ".h5"
TRAIN_STIMULUS_KEY = "train/stimulus"  # (N_img_train, H, W)
TEST_STIMULUS_KEY = "test/stimulus"  # (N_img_test, H, W)
SESSION_FILE_EXPECTED = "a session file (HDF5) with train/ and test/ stimulus and response datasets"
TRAIN_RESPONSE_GROUP = "train/response"  # /<response_type>: (cells, N_img_train)
TEST_RESPONSE_GROUP = "test/response"  # /<response_type>: (cells, N_img_test), the mean over repeats
TEST_REPEATS_GROUP = "test/repeats"  # /cell<k>: (repeats, N_img_test), optional
# "cell<k>" as the reference reads them (it sorts by the number after "cell"); "cell_<k>", as its docstring
# writes it, is accepted too.
REPEATS_CELL_PATTERN = r"^cell_?(\d+)$"
TEST_NAME = "test"  # key of the test images in the containers and in the loaders dict

STIM_TYPES = ("naturalscene",)
RESPONSE_TYPES = ("binned",)  # spike counts per image presentation (the only type the reference reads)
DEFAULT_STIM_TYPE = "naturalscene"
DEFAULT_RESPONSE_TYPE = "binned"

SPECIES = ("mouse", "axolotl")
DEFAULT_SPECIES = "mouse"
SPECIES_NAMES = {"mouse": "mouse (Mus musculus)", "axolotl": "axolotl (Ambystoma mexicanum)"}

# -- physical facts ------------------------------------------------------------------------------------------
PRESENTATION_S = 0.3  # each image is shown for 300 ms; the counts are summed over that window
GREY_BEFORE_S = 0.3  # each image is preceded by 300 ms of grey (reference dataset page)
PRESENTATION_RATE_HZ = 1.0 / (PRESENTATION_S + GREY_BEFORE_S)  # one image presentation every 600 ms
DEFAULT_FR_NORMALIZATION = PRESENTATION_S  # counts / 0.3 s = spikes per second
IMAGE_SHAPE = (108, 108)  # from the reference model's in_shape [1, 1, 108, 108]; the loader reads any size
PIXEL_SIZE_UM = 28.0  # reference data_info: retina_pixel_size_um

# Published figures (the reference's dataset page): cells after quality filtering, test repeats, image counts.
PUBLISHED_CELLS = {"mouse": 40, "axolotl": 48}
PUBLISHED_TEST_REPEATS = {"mouse": 30, "axolotl": 20}
PUBLISHED_TEST_IMAGES = 30
PUBLISHED_IMAGES_APPROX = 3000  # "~3000 images" in all

# -- loaders -------------------------------------------------------------------------------------------------
IMAGES_PER_SAMPLE = 1  # clip_length = train_chunk_size = 1: every sample is one image
DEFAULT_NUM_VAL_IMAGES = 640
DEFAULT_SEED = 42
DEFAULT_BATCH_SIZE = 16
SPLITS = ("seeded", "openretina")
REPEATS_RTOL = 1e-5  # the mean of the single trials must match the stored test average this closely
REPEATS_ATOL = 1e-6  # (in the units after fr_normalization)

DEFAULT_LOADER_OPTIONS = {
    "species": DEFAULT_SPECIES,
    "response_type": DEFAULT_RESPONSE_TYPE,
    "fr_normalization": DEFAULT_FR_NORMALIZATION,
    "num_val_images": DEFAULT_NUM_VAL_IMAGES,
    "seed": DEFAULT_SEED,
}

# -- reading -------------------------------------------------------------------------------------------------
