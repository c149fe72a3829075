"""The dataset card and file table: data, no logic."""

from openretina_core import DatasetInfo, RemoteFile

DATASET_ID = "my_lab_2025"
FRAME_RATE_HZ = 30.0

INFO = DatasetInfo(
    id=DATASET_ID,
    title="My Lab et al. 2025: example recordings",
    authors=("Lab M",),
    year=2025,
    doi="10.0000/example",
    license="CC-BY-4.0",
    species=("mouse",),
    recording_modality="multi-electrode array (example)",
    stimulus_types=("white noise",),
    frame_rate_hz=FRAME_RATE_HZ,
    response_unit="spike counts per frame",
    files=(RemoteFile("my_lab_2025.zip", urls=("https://example.org/my_lab_2025.zip",), extract=True),),
    bibtex="@misc{my_lab_2025, title={Example recordings}, author={Lab, M.}, year={2025}}",
    pip_extra=None,
)
