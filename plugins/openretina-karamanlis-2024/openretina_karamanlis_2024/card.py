"""The dataset card (``DatasetInfo``) of Karamanlis et al. 2024, built from the constants. Data only."""

from __future__ import annotations

from openretina_core.files import register_file_lister
from openretina_core.registry import DatasetInfo, RemoteFile
from openretina_karamanlis_2024.constants import (
    DATA_DOI,
    DATASET_ID,
    DEFAULT_TARGET_SIZE,
    FRAME_RATE_HZ,
    GIN_REPOSITORY,
    HF_FOLDER_URL,
    HF_RESOLVE_BASE,
    KNOWN_SESSIONS,
    PAPER_DOI,
    PAPER_URL,
    RETINA_PIXEL_SIZE_UM,
    SESSIONS_DIR,
    STIM_TYPES,
)

BIBTEX = f"""@article{{karamanlis2024nonlinear,
  title   = {{Nonlinear receptive fields evoke redundant retinal coding of natural scenes}},
  author  = {{Karamanlis, Dimokratis and Khani, Mohammad H. and Schreyer, Helene M. and Zapp, Sören J. and
             Mietsch, Matthias and Gollisch, Tim}},
  journal = {{Nature}},
  year    = {{2024}},
  doi     = {{{PAPER_DOI}}}
}}
@misc{{karamanlis2024data,
  title     = {{Karamanlis \\& Gollisch 2023: RGC spike trains, natural movies and subunit models}},
  author    = {{Karamanlis, Dimokratis and Gollisch, Tim}},
  publisher = {{G-Node GIN}},
  year      = {{2023}},
  doi       = {{{DATA_DOI}}}
}}"""

FILES = tuple(
    RemoteFile(
        relative_path=f"{SESSIONS_DIR}/{session}.zip",
        urls=(f"{HF_RESOLVE_BASE}/{SESSIONS_DIR}/{session}.zip",),
        extract=True,
        group=species,
    )
    for species, sessions in KNOWN_SESSIONS.items()
    for session in sessions
)

_HEIGHT, _WIDTH = DEFAULT_TARGET_SIZE

INFO = DatasetInfo(
    id=DATASET_ID,
    title="Mouse and marmoset retinal ganglion cell spikes (MEA) under natural fixation movies",
    authors=(
        "Dimokratis Karamanlis",
        "Mohammad H. Khani",
        "Helene M. Schreyer",
        "Sören J. Zapp",
        "Matthias Mietsch",
        "Tim Gollisch",
    ),
    year=2024,
    doi=DATA_DOI,
    paper_url=PAPER_URL,
    data_urls=(f"https://doi.org/{DATA_DOI}", GIN_REPOSITORY, HF_FOLDER_URL),
    license="As published with the data on G-Node GIN (doi:10.12751/g-node.ejk8kx); not verified here",
    species=("mouse", "marmoset"),
    recording_modality=(
        "multielectrode-array (MEA) electrophysiology: spike-sorted ganglion cells of isolated retina on 252- or "
        "60-electrode arrays (not calcium imaging)"
    ),
    stimulus_types=STIM_TYPES,
    frame_rate_hz=dict(FRAME_RATE_HZ),
    response_unit="spike counts per stimulus frame (divided by fr_normalization, default 1)",
    # Pixel size as delivered, by frame size: a 600 x 800 screen pixel is 7.5 µm on the retina (openretina's
    # karamanlis_2024 data_info; its comment: 2.5 µm for a few marmoset recordings, see the paper), so the default
    # 60 x 80 resize gives 75 µm pixels. Another target_size has no entry: the preview labels it in pixels.
    pixel_size={
        f"{_HEIGHT}x{_WIDTH}": RETINA_PIXEL_SIZE_UM * 600 / _HEIGHT,
        "600x800": RETINA_PIXEL_SIZE_UM,
    },
    pixel_unit="µm",
    channel_names=("grayscale",),
    shapes={
        "stimulus": f"(1, T, {_HEIGHT}, {_WIDTH}) float32, z-scored per session with the train movie's mean/std",
        "responses": "(neurons, T) spike counts per frame; test (neurons, T_test) = mean over trials",
        "test_by_trial": "(trials, neurons, T_test)",
        "screen": "600 x 800 pixels, 7.5 µm per pixel on the retina, resized to 60 x 80 by default",
    },
    files=FILES,
    description=(
        "Spike trains of retinal ganglion cells from isolated mouse and marmoset retinas recorded with "
        "multielectrode arrays while natural images were shifted on the screen along recorded gaze traces "
        "(fixation movies). Training data are non-repeated 'running' blocks; the test sequence is a 'frozen' "
        "block shown repeatedly. Options: species='mouse'|'marmoset', stim_type='fixationmovie', target_size, "
        "normalize_stimuli, fr_normalization."
    ),
    notes=(
        "Recording method: MEA electrophysiology. Some documentation calls this dataset calcium imaging; that "
        "is wrong (the calcium-imaging dataset is hoefling_2024).",
        f"Frame rates: {FRAME_RATE_HZ['mouse']:g} Hz (mouse) and {FRAME_RATE_HZ['marmoset']:g} Hz (marmoset); "
        "one response bin per frame.",
        f"Screen pixel on the retina: {RETINA_PIXEL_SIZE_UM} µm.",
        "Fixation movies follow the authors' returnFixMovie.m: uncovered screen pixels are 0 (the reference "
        "implementation wrapped one border row/column instead), then an antialiased bilinear resize.",
        "Composed movies are cached under <cache>/karamanlis_2024/derived, keyed by the parameters and the source "
        "file's identity; nothing is written next to the data.",
        "Sessions: every one the Hugging Face mirror lists under gollisch_lab/karamanlis_2024/sessions (the hub's "
        "tree listing, cached for offline use); the file list above holds only the names known without it (the "
        "offline fallback). `openretina-data download karamanlis_2024` says which sessions and bytes it fetches. "
        "With data_dir= every session folder or zip found is used.",
        "Sessions are selected by species as one '_'-separated part of the folder name.",
    ),
    bibtex=BIBTEX,
    pip_extra=DATASET_ID,
)

# download, prepare and verify take the sessions from the mirror's listing (sessions.py), not only FILES above.
register_file_lister(DATASET_ID, "openretina_karamanlis_2024.sessions:published_files")
