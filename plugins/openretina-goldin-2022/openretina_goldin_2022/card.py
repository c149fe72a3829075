"""The dataset card (``DatasetInfo``) of Goldin et al. 2022, built from the constants. Data only."""

from __future__ import annotations

from openretina_core.files import register_file_lister
from openretina_core.registry import DatasetInfo
from openretina_goldin_2022 import constants as c
from openretina_goldin_2022.mirror import fallback_files

BIBTEX = f"""@article{{goldin2022context,
  title   = {{Context-dependent selectivity to natural images in the retina}},
  author  = {{Goldin, Mat{{\\'i}}as A. and Lefebvre, Baptiste and Virgili, Samuele and
             Pham Van Cang, Mathieu Kim and Ecker, Alexander and Mora, Thierry and Ferrari, Ulisse and
             Marre, Olivier}},
  journal = {{Nature Communications}},
  volume  = {{13}},
  number  = {{1}},
  pages   = {{5556}},
  year    = {{2022}},
  doi     = {{{c.PAPER_DOI}}},
  note    = {{Data: Zenodo, {c.ZENODO_RECORD_URL}}}
}}"""

# The static list: unverified guessed names, the offline fallback only. Downloads, `prepare` and `verify` take
# the files from the mirror folder's listing (mirror.py, registered below).
FILES = fallback_files()

_H, _W = c.IMAGE_SHAPE

INFO = DatasetInfo(
    id=c.DATASET_ID,
    title="Context-dependent selectivity to natural images in the retina",
    authors=(
        "Matías A. Goldin",
        "Baptiste Lefebvre",
        "Samuele Virgili",
        "Mathieu Kim Pham Van Cang",
        "Alexander Ecker",
        "Thierry Mora",
        "Ulisse Ferrari",
        "Olivier Marre",
    ),
    year=2022,
    doi=c.PAPER_DOI,
    paper_url=f"https://doi.org/{c.PAPER_DOI}",
    data_urls=(c.ZENODO_RECORD_URL, c.HF_FOLDER_URL),
    license=(
        "Not stated in our sources; see the terms of the Zenodo record "
        f"({c.ZENODO_RECORD_URL}). Cite the paper when using the data."
    ),
    species=tuple(c.SPECIES_NAMES[s] for s in c.SPECIES),
    recording_modality="multi-electrode array (spike-sorted ganglion cells of the isolated retina)",
    stimulus_types=c.STIM_TYPES,
    frame_rate_hz=c.PRESENTATION_RATE_HZ,
    response_unit=(
        "spike counts per 300-ms image presentation (binned) divided by fr_normalization (default 0.3 s), "
        "i.e. spikes per second"
    ),
    # Pixel size: openretina's goldin_2022 data_info (retina_pixel_size_um: 28); images are served at their
    # stored 108 x 108 resolution, so one delivered pixel is one stimulus pixel. One grayscale channel.
    pixel_size=c.PIXEL_SIZE_UM,
    pixel_unit="µm",
    channel_names=("grayscale",),
    shapes={
        "stimulus": f"(1, N_img, {_H}, {_W}) per session: the image index is the time axis; z-scored per session",
        "responses": "(cells, N_img), e.g. 40 mouse / 48 axolotl cells",
        "test_by_trial": "(repeats, cells, N_img_test), e.g. 30 mouse / 20 axolotl repeats of 30 test images",
        "batch_inputs": f"(B, 1, 1, {_H}, {_W}): one image per sample",
        "batch_targets": "(B, 1, cells)",
        "frame_hw": c.IMAGE_SHAPE,
        "pixel_size_um": c.PIXEL_SIZE_UM,
    },
    files=FILES,
    description=(
        "Isolated mouse and axolotl retinas recorded on a multi-electrode array (Marre lab). Grayscale natural "
        "images (van Hateren) are flashed for 300 ms, each preceded by 300 ms of grey; the response of a cell "
        "to an image is its spike count over the presentation. About 3000 images are shown once (training) "
        "and 30 test images repeatedly (30 repeats in mouse, 20 in axolotl). One HDF5 file per session on the "
        "Hugging Face mirror; species='mouse'|'axolotl' selects the sessions by name."
    ),
    notes=(
        "Sessions: every *.h5 file of the folder that has the species as a name component (a run of letters "
        "of the file name, any case: 'mouse_1.h5' and '2019Mouse.h5' are mouse sessions, 'dormouse.h5' is "
        "not). The session key is the file name without .h5.",
        "Images are z-scored per session with one scalar mean/std (unbiased) of that session's train images, "
        "recorded as norm_mean/norm_std; the test images use the same statistics.",
        "Spike counts are divided by fr_normalization (0.3 s by default), giving spikes per second. The single "
        "trials (test/repeats/cell<k>, stacked in order of k to (repeats, cells, N_img_test)) are divided "
        "alike, and their mean must match the stored test average (rtol 1e-5): otherwise the loader stops "
        "with an error naming the file.",
        "Every sample is one image (clip and chunk of 1). 640 train images form the validation set, drawn "
        "with seed 42 (split='seeded', sorted) or exactly as openretina 1.1.1 draws them "
        "(split='openretina'). The train images are shuffled every epoch; openretina's sampler never "
        "shuffles them here (a defect of the reference).",
        "Files: every *.h5 the Hugging Face mirror lists in marre_lab/goldin_2022 with the species as a name "
        "component (the hub's tree listing, cached for offline use; its LFS sha256 verifies each download). "
        "The card's own file list (mouse.h5, axolotl.h5) holds guessed names, not verified, used only when no "
        "listing is cached and the hub cannot be asked; `openretina-data download goldin_2022` says which "
        "source it used. If a download fails, fetch the folder yourself and pass data_dir=.",
        "Pixel size on the retina: 28 µm (reference configuration). No stimulus or response rate applies "
        "(images); frame_rate_hz is the presentation rate, one image every 600 ms.",
    ),
    bibtex=BIBTEX,
    pip_extra=c.DATASET_ID,
)

# download, prepare and verify take the session files from the mirror's listing (mirror.py), not only FILES.
register_file_lister(c.DATASET_ID, "openretina_goldin_2022.mirror:published_files")
