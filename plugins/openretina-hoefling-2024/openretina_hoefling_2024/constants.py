"""Facts about the Höfling et al. 2024 files and protocol: paths, URLs, rates, offsets, defaults, errata.

Data only, no logic. Sources: the published files' layout (datasets.md §1), the Euler-lab stimulus protocol
and the published quality-check configuration.
"""

from __future__ import annotations

DATASET_ID = "hoefling_2024"

# -- where the files live -------------------------------------------------------------------------------------
HF_BASE_URL = "https://huggingface.co/datasets/open-retina/open-retina/resolve/main/euler_lab/hoefling_2024/"
GIN_URL = "https://gin.g-node.org/eulerlab/rgc-natstim"
PAPER_URL = "https://elifesciences.org/articles/86860"
DOI = "10.7554/eLife.86860"

RESPONSES_ARCHIVE = "responses/rgc_natstim_2024-08-14.zip"  # holds one HDF5 file
RESPONSES_FILE = "responses/rgc_natstim_2024-08-14.h5"  # the archive extracted in place
RESPONSES_SUBSET_FILE = "responses/rgc_natsim_subset_only_naturalspikes_2024-08-14.h5"  # sic: "natsim"

RESOLUTIONS = ("18x16", "72x64")
STIMULUS_ARCHIVES = {
    "18x16": "stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.zip",
    "72x64": "stimuli/rgc_natstim_72x64_joint_normalized_2024-10-11.zip",
}
STIMULUS_FILES = {  # each archive extracted in place: one pickle
    "18x16": "stimuli/rgc_natstim_18x16_joint_normalized_2024-01-11.pkl",
    "72x64": "stimuli/rgc_natstim_72x64_joint_normalized_2024-10-11.pkl",
}
RESPONSE_SUFFIXES = (".h5", ".hdf5")
PICKLE_SUFFIXES = (".pkl", ".pickle")

# Download groups (RemoteFile.group), so a loader fetches only what it reads.
GROUP_RESPONSES = "responses"
GROUP_RESPONSES_SUBSET = "responses_subset"
GROUP_STIMULUS = {"18x16": "stimulus_18x16", "72x64": "stimulus_72x64"}

# sha256 of the files *inside* the archives, by file name, when known (none are published yet; the archives
# themselves are verified by the download machinery).
KNOWN_SHA256: dict[str, str] = {}

# -- stimulus ---------------------------------------------------------------------------------------------------
FRAME_RATE_HZ = 30.0
CLIP_LENGTH = 150  # frames per natural-movie clip (5 s at 30 Hz)
NUM_CLIPS = 108  # training clips
NUM_TEST_CLIPS = 5
NUM_TEST_REPEATS = 3
CHANNELS = ("green", "uv")  # channel 0, channel 1
STIMULUS_SHAPES = {"18x16": (18, 16), "72x64": (72, 64)}
NATURAL_STIM_ID = "natural"
TEST_NAME = "test"

# Natural-movie presentation (one trigger per clip, 123 triggers): test(5) / train(54) / test(5) / train(54) /
# test(5). Blocks in clips, [start, stop).
NATURAL_TRIGGERS = 123
TEST_BLOCKS = ((0, 5), (59, 64), (118, 123))
TRAIN_BLOCKS = ((5, 59), (64, 118))

# -- responses --------------------------------------------------------------------------------------------------
RESPONSE_TYPES = ("natural", "chirp", "mb")
# Per stimulus: empirical duration after each used trigger (s), theoretical duration (s), and which triggers
# start a repetition (every n-th). Frames per trigger = round(theoretical * 30).
STIMULUS_TIMING = {
    "natural": {"empirical_s": 4.9666667, "theoretical_s": 5.0, "trigger_step": 1},
    "chirp": {"empirical_s": 32.99, "theoretical_s": 33.0, "trigger_step": 2},
    "mb": {"empirical_s": 4.054, "theoretical_s": 4.1, "trigger_step": 1},
}

TRACE_TYPES = ("spikes", "raw", "preprocessed", "detrended")
# Keys per trace type ("{s}" is the stimulus). "spikes" tries each key in order (newer exports: "_spikes").
# "detrended" is the first key minus the second.
TRACE_KEYS = {
    "spikes": ("{s}_inferred_spikes", "{s}_spikes"),
    "raw": ("{s}_raw_traces",),
    "preprocessed": ("{s}_preprocessed_traces",),
    "detrended": ("{s}_raw_traces", "{s}_smoothed_traces"),
}
TIMES_KEY = "{s}_traces_times"  # (n_rois, T)
T0_KEY = "{s}_traces_t0"  # one value per ROI (or one for all)
DT_KEY = "{s}_traces_dt"
TRIGGER_KEY = "{s}_trigger_times"  # (n_rois, n_triggers), one identical row per ROI; row 0 is used
TRIGGER_ROW_TOLERANCE_S = 1e-6  # per-ROI trigger rows further apart are logged (row 0 is still used)

# The ROI axis of every per-ROI array (masks are applied along it; roi_mask is per field, never masked).
ROI_AXIS = {
    "roi_ids": 0,
    "group_assignment": 0,
    "group_confidences": 0,  # (n_rois, n_types)
    "d_qi": 0,
    "chirp_qi": 0,
    "traces": 0,  # (n_rois, T)
    "traces_times": 0,  # (n_rois, T)
    "traces_t0": 0,
    "traces_dt": 0,
    "trigger_times": 0,  # (n_rois, n_triggers): one identical row per ROI, read as row 0
}
# session_kwargs entries with one row per neuron (ROI axis 0), kept in step when neurons are dropped.
PER_ROI_SESSION_KWARGS = ("roi_ids", "roi_coords", "group_assignment", "response_std")

# Quality checks of the published configuration (quality_checks/hoefling_2024.yaml).
DEFAULT_CELL_TYPES = tuple(range(1, 33))  # RGCs; 33-46 are displaced amacrine cells
DEFAULT_D_QI = 0.6
DEFAULT_CHIRP_QI = 0.35
DEFAULT_QI_LOGIC = "or"
DEFAULT_CLASSIFIER_CONFIDENCE = 0.25
DEFAULT_FILTER_COUNTS = False
DEFAULT_COUNT_THRESHOLD = 10  # with filter_counts, a field needs more than this many cells

# Dataloader configuration of the published model (dataloader/hoefling_2024.yaml).
DEFAULT_VALIDATION_CLIPS = (0, 4, 10, 11, 18, 30, 45, 62, 67, 77, 79, 80, 81, 83, 95)
DEFAULT_BATCH_SIZE = 64
DEFAULT_TRAIN_CHUNK = 50

# ROI positions: roi_mask pixels are 2 µm; readout units are 50 µm with the field starting at 2.75 units; the
# readout grid spans 8 units, mapped to [-1, 1].
ROI_MASK_PIXEL_UM = 2.0
READOUT_PIXEL_UM = 50.0
READOUT_OFFSET = 2.75
READOUT_EXTENT = 8.0

DATA_INFO = {
    "response_rate_hz": 30.0,
    "stimulus_rate_hz": 30.0,
    "retina_pixel_size_um": 12.5,
    "animal_species": "mouse",
    "stimulus_class": "natural_movie",
}

# -- errata: corrections to the published metadata, applied in one place (errata.effective_eye) ---------------
EYE_ERRATA = {
    # Labelled "left" in the file; the authors' loader treats it as right ("incorrectly labeled as left").
    "session_2_ventral2_20200626": "right",
}
DEFAULT_EYE = "right"  # when a field records no eye

# Cell-type names (Baden et al. 2016 groups; 33-46 are displaced amacrine cells).
GROUP_NAMES = {
    1: "OFF local, OS",
    2: "OFF DS",
    3: "OFF step",
    4: "OFF slow",
    5: "OFF alpha sust.",
    6: "(ON-)OFF Jam-B mix",
    7: "OFF sust",
    8: "OFF alpha trans",
    9: "OFF mini alpha trans",
    10: "ON-OFF local-edge W3",
    11: "ON-OFF local",
    12: "ON-OFF DS 1",
    13: "ON-OFF DS 2",
    14: "(ON-)OFF local, OS",
    15: "ON step",
    16: "ON DS trans",
    17: "ON local trans, OS",
    18: "ON trans",
    19: "ON trans, large",
    20: "ON high freq",
    21: "ON low freq",
    22: "ON sust",
    23: "ON mini alpha",
    24: "ON alpha",
    25: "ON DS sust 1",
    26: "ON DS sust 2",
    27: "ON slow",
    28: "ON contrast suppr.",
    29: "ON DS sust 3",
    30: "ON local sust OS",
    31: "OFF suppr. 1",
    32: "OFF suppr. 2",
    33: "OFF AC",
    34: "ON high freq. sust. 1 AC",
    35: "ON high freq. trans. AC",
    36: "ON-OFF high freq. AC",
    37: "ON high freq. sust. 2 AC",
    38: "ON sust. 1 AC",
    39: "ON sust. 2 AC",
    40: "ON sust. 3 AC",
    41: "ON sust. 4 AC",
    42: "ON starburst AC",
    43: "ON-OFF local AC",
    44: "ON step AC",
    45: "ON local 1 AC",
    46: "ON local 2 AC",
}
