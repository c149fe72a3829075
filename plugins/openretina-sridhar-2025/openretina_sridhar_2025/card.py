"""The dataset card (``DatasetInfo``) of Sridhar et al. 2025, built from the constants. Data only."""

from __future__ import annotations

from openretina_core.registry import DatasetInfo, RemoteFile
from openretina_sridhar_2025 import constants as c

BIBTEX = f"""@article{{sridhar2025modeling,
  title   = {{Modeling spatial contrast sensitivity in responses of primate retinal ganglion cells to natural
             movies}},
  author  = {{Sridhar, Shashwat and Vystr{{\\v{{c}}}}ilov{{\\'a}}, Michaela and Khani, Mohammad H. and
             Karamanlis, Dimokratis and Schreyer, Helene M. and Ramakrishna, Varsha and Krüppel, Steffen and
             Zapp, Sören J. and Mietsch, Matthias and Ecker, Alexander S. and Gollisch, Tim}},
  journal = {{PLOS Computational Biology}},
  year    = {{2025}},
  doi     = {{{c.PAPER_DOI}}},
  note    = {{Preprint: bioRxiv, doi:{c.BIORXIV_DOI}}}
}}
@misc{{sridhar2025data,
  title     = {{Dataset - Marmoset retinal ganglion cell responses to naturalistic movies and spatiotemporal
               white noise}},
  author    = {{Sridhar, Shashwat and Gollisch, Tim}},
  publisher = {{G-Node GIN}},
  year      = {{2025}},
  doi       = {{{c.DATA_DOI}}}
}}"""


def _remote(stim_type: str, relative: str, extract: bool = False) -> RemoteFile:
    folder = c.STIM_FOLDERS[stim_type]
    return RemoteFile(
        relative_path=f"{folder}/{relative}",
        urls=(f"{c.HF_RESOLVE}/{folder}/{relative}",),
        extract=extract,
        group=stim_type,
    )


FILES = (
    *(_remote(c.NATURAL_MOVIE, path) for path in c.RESPONSE_FILES[c.NATURAL_MOVIE].values()),
    *(_remote(c.NATURAL_MOVIE, path) for path in sorted(set(c.FIXATION_FILES.values()))),
    _remote(c.NATURAL_MOVIE, f"{c.IMAGES_DIR}.zip", extract=True),
    _remote(c.NATURAL_MOVIE, f"{c.STA_DIR}.zip", extract=True),
    *(_remote(c.WHITENOISE, path) for path in c.RESPONSE_FILES[c.WHITENOISE].values()),
    *(_remote(c.WHITENOISE, f"{d}.zip", extract=True) for d in sorted(set(c.WN_TRAIN_DIRS.values()))),
    *(_remote(c.WHITENOISE, f"{d}.zip", extract=True) for d in sorted(set(c.WN_TEST_DIRS.values()))),
    _remote(c.WHITENOISE, f"{c.STA_DIR}.zip", extract=True),
)

_H, _W = c.OUTPUT_SHAPE

INFO = DatasetInfo(
    id=c.DATASET_ID,
    title="Marmoset retinal ganglion cell spikes (MEA) under naturalistic fixation movies and white noise",
    authors=(
        "Shashwat Sridhar",
        "Michaela Vystrčilová",
        "Mohammad H. Khani",
        "Dimokratis Karamanlis",
        "Helene M. Schreyer",
        "Varsha Ramakrishna",
        "Steffen Krüppel",
        "Sören J. Zapp",
        "Matthias Mietsch",
        "Alexander S. Ecker",
        "Tim Gollisch",
    ),
    year=2025,
    doi=c.DATA_DOI,
    paper_url=c.PAPER_URL,
    data_urls=(
        f"https://doi.org/{c.DATA_DOI}",
        c.GIN_REPOSITORY,
        f"{c.HF_TREE}/natural_movie",
        f"{c.HF_TREE}/whitenoise",
        f"https://doi.org/{c.BIORXIV_DOI}",
    ),
    license=(
        f"As published with the data on G-Node GIN (doi:{c.DATA_DOI}); not verified here. Cite the paper when "
        "using the data."
    ),
    species=("marmoset (Callithrix jacchus)",),
    recording_modality=(
        "multielectrode-array (MEA) electrophysiology: spike-sorted ganglion cells of the isolated marmoset retina"
    ),
    stimulus_types=c.STIM_TYPES,
    frame_rate_hz=c.FRAME_RATE_HZ,
    response_unit="per-frame responses at 85 Hz as published (spike counts or rates per frame; the unit is not stated)",
    # Pixel size as delivered, by frame size: openretina's sridhar_nm/wn_2025 data_info records 30 µm for the
    # published (4x-downsampled) frames, served at 80 x 90 with subsample=1; subsample=s gives 30*s µm pixels and
    # a smaller frame, which has no entry here (the preview then labels it in pixels).
    pixel_size={f"{_H}x{_W}": c.PIXEL_UM_DEFAULT},
    pixel_unit="µm",
    channel_names=("grayscale",),
    shapes={
        "stimulus": f"(1, T, {_H}, {_W}) float32 per session (natural movie: image values / 255; white noise: as "
        "stored), not normalised",
        "batch": f"inputs (B, 1, time_chunk_size + overhead, {_H}, {_W}), targets (B, time_chunk_size, N)",
        "responses": "(neurons, trials * frames_per_trial); test (neurons, T_test) = mean over repeats",
        "test_by_trial": "(repeats, neurons, T_test) for both stimulus types",
    },
    files=FILES,
    description=(
        "Spike responses of marmoset retinal ganglion cells recorded on multielectrode arrays while natural "
        "images were moved across the retina along simulated fixational eye movements (stim_type="
        "'natural_movie', 4 retinas) and under spatiotemporal white noise (stim_type='whitenoise', 3 retinas). "
        "Training data are non-repeated trials; the test sequence is repeated. Options: stim_type, sessions, "
        "stimulus_seed, excluded_cells, cell_index, split, seed, train_frac, final_training, time_chunk_size, "
        "num_of_frames (one temporal kernel size or one per layer), temporal_dilation, hidden_temporal_dilation, "
        "extra_frame, subsample, crop, flip_imgs, render_device, prepared."
    ),
    notes=(
        "Recording method: MEA electrophysiology of isolated marmoset retina, 85 Hz stimulus frames, one response "
        "bin per frame.",
        "Natural-movie frames are rendered from the padded 350 x 300 images and each retina's own fixation file "
        "(the first 5100 lines are the test sequence, then the training trials in order); crop 200 x 150 around "
        "the fixation, mirrored when the flag is 0, transposed, retina crop (35, 35, 55, 55): 80 x 90.",
        "Rendered and cropped movies and the responses are cached in the core's prepared store, keyed by every "
        "option and the source files' identity; nothing is written next to the data.",
        "Splits are by trial (seeded permutation, train_frac 0.8); trials 0/9 and 10/19 repeat content and stay "
        "in one split. split='openretina' reproduces openretina's permutation (seed 1000 when none is given).",
        "Sample inputs include the model's frame overhead: (num_of_frames - 1) * temporal_dilation + hidden "
        "reach extra frames before the time_chunk_size frames the targets align with.",
        "excluded_cells='published' uses openretina's published lists: the natural-movie list keeps cells 12 and "
        "168 of session 01, the white-noise list excludes them.",
        "Per-trial test responses are (repeats, neurons, T) for both stimulus types (openretina: (repeats, T, N) "
        "for the natural movie, (repeats, N, T) for white noise).",
        "The file list is not verified: the response pickles and fixation files are named by openretina's "
        "configs; the image, trial and STA folders are assumed to be zip archives on the mirror. With data_dir= "
        "any folder in the published layout works.",
    ),
    bibtex=BIBTEX,
    pip_extra=c.DATASET_ID,
)
