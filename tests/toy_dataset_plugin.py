"""A throwaway dataset plugin for core tests: synthetic LN-model sessions stored as .npy files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from openretina_core import (
    DatasetInfo,
    DatasetSpec,
    MoviesTrainTestSplit,
    RemoteFile,
    ResponsesTrainTestSplit,
    SyntheticSample,
    hookimpl,
    multiple_movies_dataloaders,
)
from openretina_core.data.simulate import make_lnp_model, simulate_responses

TOY_INFO = DatasetInfo(
    id="toy_2025",
    title="Toy retina dataset",
    authors=("Doe J",),
    year=2025,
    doi="10.0000/toy",
    license="CC0-1.0",
    species=("mouse",),
    recording_modality="simulated multi-electrode array",
    stimulus_types=("noise",),
    frame_rate_hz=30.0,
    response_unit="spike counts per frame",
    files=(RemoteFile("toy.zip", urls=("https://example.org/toy.zip",), extract=True),),
    bibtex="@misc{toy_2025, title={Toy}, year={2025}}",
)

SESSIONS = ("session_a", "session_b")


def write_toy_sample(root: Path, seed: int = 0) -> SyntheticSample:
    rng = np.random.default_rng(seed)
    filters = {}
    for i, session in enumerate(SESSIONS):
        folder = Path(root) / session
        folder.mkdir(parents=True, exist_ok=True)
        movie = rng.standard_normal((1, 3000, 8, 10)).astype(np.float32)
        test = rng.standard_normal((1, 200, 8, 10)).astype(np.float32)
        model = make_lnp_model(4, 1, 8, 10, filter_length=5, seed=seed + i)
        np.save(folder / "movie_train.npy", movie)
        np.save(folder / "movie_test.npy", test)
        np.save(folder / "responses_train.npy", simulate_responses(model, movie, seed=seed))
        np.save(folder / "responses_test.npy", simulate_responses(model, test, seed=seed, poisson=False))
        filters[session] = model.filters
    return SyntheticSample(data_dir=Path(root), filters=filters, options={})


def load_toy(
    data_dir: Path | None = None, download: bool = False, batch_size: int = 8, **options: Any
) -> Any:
    if data_dir is None:
        raise FileNotFoundError("toy_2025 has no download; pass data_dir=")
    from openretina_core.store import prepared_session, store_enabled

    movies, responses = {}, {}
    use_store = store_enabled(options.pop("prepared", None))
    for session in SESSIONS:
        folder = Path(data_dir) / session
        if not (folder / "movie_train.npy").exists():
            raise FileNotFoundError(f"toy_2025: missing {folder / 'movie_train.npy'}")
        files = [
            folder / f"{name}.npy"
            for name in ("movie_train", "movie_test", "responses_train", "responses_test")
        ]

        def read(files: list[Path] = files) -> tuple[MoviesTrainTestSplit, ResponsesTrainTestSplit]:
            return (
                MoviesTrainTestSplit(train=np.load(files[0]), test_dict=np.load(files[1])),
                ResponsesTrainTestSplit(train=np.load(files[2]), test_dict=np.load(files[3])),
            )

        if use_store:
            movie, response = prepared_session("toy_2025", session, params={}, sources=files, read=read)
            assert movie is not None and response is not None
            movies[session], responses[session] = movie, response
        else:
            movies[session], responses[session] = read()
    options.setdefault("clip_length", 100)
    options.setdefault("num_val_clips", 3)
    return multiple_movies_dataloaders(responses, movies, batch_size=batch_size, **options)


class ToyDatasetPlugin:
    @hookimpl
    def register_datasets(self, register: Any) -> None:
        register(DatasetSpec(info=TOY_INFO, get_dataloaders=load_toy, write_sample=write_toy_sample))
