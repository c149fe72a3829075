"""The dataset card (``INFO``): what the dataset is, how to cite it, and which files it has."""

from __future__ import annotations

from openretina_core.registry import DatasetInfo, RemoteFile
from openretina_hoefling_2024 import constants as c


def _hf(path: str) -> tuple[str, ...]:
    return (c.HF_BASE_URL + path,)


FILES = (
    RemoteFile(c.RESPONSES_ARCHIVE, urls=_hf(c.RESPONSES_ARCHIVE), extract=True, group=c.GROUP_RESPONSES),
    RemoteFile(c.RESPONSES_SUBSET_FILE, urls=_hf(c.RESPONSES_SUBSET_FILE), group=c.GROUP_RESPONSES_SUBSET),
    *(
        RemoteFile(
            c.STIMULUS_ARCHIVES[res],
            urls=_hf(c.STIMULUS_ARCHIVES[res]),
            extract=True,
            group=c.GROUP_STIMULUS[res],
        )
        for res in c.RESOLUTIONS
    ),
)

BIBTEX = """@article{hoefling_2024,
  title = {A chromatic feature detector in the retina signals visual context changes},
  author = {H{\\"o}fling, Larissa and Szatko, Klaudia P. and Behrens, Christian and Deng, Yuyao and Qiu, Yongrong
            and Klindt, David A. and Jessen, Zachary and Schwartz, Gregory W. and Bethge, Matthias
            and Berens, Philipp and Franke, Katrin and Ecker, Alexander S. and Euler, Thomas},
  journal = {eLife},
  year = {2024},
  doi = {10.7554/eLife.86860},
  url = {https://elifesciences.org/articles/86860}
}"""

INFO = DatasetInfo(
    id=c.DATASET_ID,
    title="A chromatic feature detector in the retina signals visual context changes",
    authors=(
        "Höfling L",
        "Szatko KP",
        "Behrens C",
        "Deng Y",
        "Qiu Y",
        "Klindt DA",
        "Jessen Z",
        "Schwartz GW",
        "Bethge M",
        "Berens P",
        "Franke K",
        "Ecker AS",
        "Euler T",
    ),
    year=2024,
    doi=c.DOI,
    paper_url=c.PAPER_URL,
    data_urls=(c.GIN_URL, c.HF_BASE_URL),
    license=(
        "Article: CC BY 4.0 (eLife). Data: no licence is stated in the sources available to this project; "
        "check the GIN deposit (https://gin.g-node.org/eulerlab/rgc-natstim) before redistributing."
    ),
    species=("mouse",),
    recording_modality="two-photon calcium imaging (ex vivo retina, ganglion cell layer somata)",
    stimulus_types=("natural movie", "chirp", "moving bar"),
    frame_rate_hz=c.FRAME_RATE_HZ,
    response_unit=(
        "CASCADE-inferred spike probability (default; or raw/preprocessed/detrended fluorescence), linearly "
        "resampled from ~7.8 Hz imaging to 30 Hz and divided by each ROI's standard deviation"
    ),
    # Pixel size per resolution: openretina's low-resolution configs record retina_pixel_size_um 50 for the
    # 18 x 16 movie; its data_io/hoefling_2024.yaml records 12.5 for the 72 x 64 movie (4x finer, same field).
    # Channels: 0 = green, 1 = UV (openretina's constant names x_min_green / x_min_uv).
    pixel_size={"18x16": 50.0, "72x64": 12.5},
    pixel_unit="µm",
    channel_names=("green", "UV"),
    shapes={
        "stimulus": "(2, T, 18, 16) or (2, T, 72, 64): channels green, UV; 30 Hz",
        "train": "movie (2, 16200, H, W) = 108 clips x 150 frames; responses (N, 16200) in presentation order",
        "test": "movie (2, 750, H, W) = 5 clips; responses (N, 750), by trial (3, N, 750)",
        "batch": "inputs (B, 2, T, H, W), targets (B, T, N)",
    },
    files=FILES,
    description=(
        "Responses of mouse retinal ganglion cells (and displaced amacrine cells) to a two-channel (green/UV) "
        "natural movie, a chirp and a moving bar, recorded with two-photon calcium imaging in 67 fields. The "
        "movie has 108 training clips shown in one of several random orders per field (random_sequences) and "
        "5 test clips repeated 3 times; one shared stimulus serves every field."
    ),
    notes=(
        "Responses are resampled to the stimulus frames by linear interpolation at per-trigger frame times "
        "(natural: 150 frames over 4.9666667 s after each trigger).",
        "Default quality checks: cell types 1-32, d_qi >= 0.6 or chirp_qi >= 0.35, classifier confidence >= 0.25.",
        "Left-eye fields see the movie mirrored along width (at batch time; the movie is held once).",
        "Errata: field session_2_ventral2_20200626 is labelled left in the file but treated as right.",
        "The stimulus pickles are loaded with a restricted unpickler (numpy arrays and plain containers only).",
        "Per-trial test responses are (trials, N, T), unlike the reference's (N, T, trials).",
    ),
    bibtex=BIBTEX,
    pip_extra=c.DATASET_ID,
)
