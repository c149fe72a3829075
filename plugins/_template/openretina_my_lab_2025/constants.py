"""The dataset card and the file layout of my_lab_2025: data, no logic.

Every value marked EDIT is a placeholder that passes the checks (the shared contract,
`openretina-data info my_lab_2025`): replace each with the real one before you
publish. openretina-core's docs/writing-a-plugin.md explains the fields one by one.
"""

from openretina_core import DatasetInfo, RemoteFile

DATASET_ID = "my_lab_2025"

# The layout this package reads (EDIT to match your files; write_sample writes it):
# <root>/<session>/stimulus_train.npy, stimulus_test.npy: (C, T, H, W) float32;
# <root>/<session>/responses_train.npy, responses_test.npy: (neurons, T), one bin
# per stimulus frame.
STIMULUS_FILES = {"train": "stimulus_train.npy", "test": "stimulus_test.npy"}
RESPONSE_FILES = {"train": "responses_train.npy", "test": "responses_test.npy"}

# EDIT: stimulus frames (and response bins) per second.
FRAME_RATE_HZ = 30.0
# EDIT: the file you publish (here a zip of the session folders) and its address.
ARCHIVE = "my_lab_2025.zip"
ARCHIVE_URL = f"https://example.org/{ARCHIVE}"

# EDIT: the paper's (or the data's) BibTeX.
BIBTEX = """@misc{my_lab_2025,
  title = {Example recordings},
  author = {Author, First and Author, Last},
  year = {2025},
  doi = {10.0000/example}
}"""

INFO = DatasetInfo(
    id=DATASET_ID,
    # EDIT every value below but frame_rate_hz, files and bibtex (set above).
    title="My Lab et al. 2025: example recordings",
    authors=("First Author", "Last Author"),
    year=2025,
    doi="10.0000/example",  # the paper's or the data's DOI
    paper_url=None,  # the paper's page, if it has one
    data_urls=("https://example.org/",),  # the data's landing pages
    license="CC-BY-4.0",  # an SPDX identifier where there is one
    species=("mouse",),
    recording_modality="multi-electrode array (example)",
    stimulus_types=("white noise",),
    frame_rate_hz=FRAME_RATE_HZ,
    response_unit="spike counts per frame",
    pixel_size=30.0,  # one stimulus pixel as delivered in batches, in pixel_unit
    pixel_unit="µm",  # "µm" on the retina or "deg" of visual angle
    channel_names=("green",),  # one name per stimulus channel, in order
    shapes={
        "<session>/stimulus_{train,test}.npy": "(C, T, H, W) float32",
        "<session>/responses_{train,test}.npy": "(neurons, T), a bin per frame",
    },
    files=(
        RemoteFile(
            ARCHIVE,
            urls=(ARCHIVE_URL,),
            sha256=None,  # its SHA-256; None: recorded at the first download
            size=None,  # its size in bytes, if known
            extract=True,  # an archive, unpacked after verification
            group=None,  # a subset a user can fetch alone (e.g. a species)
        ),
    ),
    description="Example recordings: what was recorded, and how.",
    notes=(),  # short facts a user should know (caveats, differences)
    bibtex=BIBTEX,
    pip_extra=None,  # only datasets with an extra in openretina-core set it
)
