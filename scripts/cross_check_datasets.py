"""The per-dataset halves of the openretina cross-check: load a sample with openretina 1.1.1 and with ours.

Each ``check_<dataset>(sample, work)`` returns one :class:`Variant` per set of options it compares: per session,
``(ours, openretina's aligned to ours, openretina's shape as loaded)`` for every container array, how the arrays
were aligned, and the documented reason (with a tolerance) for each difference that is expected. openretina
runs on its own copy of the sample (it unzips in place, deletes the zips and writes caches next to the data).
Used by ``cross_check_openretina.py``; needs openretina and this repository's plugins in one venv.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
import shutil
import sys
import types
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

logger = logging.getLogger("cross_check_openretina")

# One compared pair: ours, openretina's (aligned: same axis order and length), openretina's shape as loaded;
# None where neither library has the array (e.g. a session without single trials).
Pair = tuple[np.ndarray, np.ndarray, tuple[int, ...]] | None


class Variant:
    """One dataset with one set of options: per session, every compared pair; and what explains differences.

    ``reasons[quantity] = (tolerance, text)``: a non-zero difference up to ``tolerance`` is expected, for the
    documented reason ``text``. ``aligned[quantity]`` says how openretina's array was brought to ours.
    ``derived`` quantities are extra comparisons of an array already shown (left out of the shape table).
    """

    def __init__(self, title: str) -> None:
        self.title = title
        self.pairs: dict[str, dict[str, Pair]] = {}
        self.reasons: dict[str, tuple[float, str]] = {}
        self.aligned: dict[str, str] = {}
        self.notes: list[str] = []
        self.only_ours: list[str] = []
        self.only_openretina: list[str] = []
        self.failures: list[str] = []
        self.derived: set[str] = set()


# -- running openretina ----------------------------------------------------------------------------------------
@contextlib.contextmanager
def quiet_openretina(variant: Variant) -> Iterator[None]:
    """openretina prints progress and status: keep it out of the table; record its warnings as notes."""
    captured = io.StringIO()
    with warnings.catch_warnings(record=True) as caught, contextlib.redirect_stdout(captured):
        warnings.simplefilter("always")
        yield
    logger.debug("openretina printed:\n%s", captured.getvalue())
    for message in dict.fromkeys(str(w.message).splitlines()[0] for w in caught):
        variant.notes.append(f"openretina warned: {message}")


def torchvision_resize() -> str:
    """Make ``from torchvision.transforms import Resize`` work for openretina's Karamanlis stimuli.

    PyPI's torchvision wheels link torch's CUDA libraries and do not import beside the CPU build of torch. For
    float tensors, torchvision 0.28's ``Resize((h, w))`` (bilinear, ``antialias=True``) returns the input when
    it already has that size, else ``torch.nn.functional.interpolate(img, size=[h, w], mode="bilinear",
    align_corners=False, antialias=True)`` (``transforms/_functional_tensor.resize``), which the stand-in calls.
    """
    if importlib.util.find_spec("torchvision") is not None:
        try:
            import torchvision.transforms  # noqa: F401  (the real one imports here)

            return f"torchvision {sys.modules['torchvision'].__version__}"
        except Exception as error:  # a CUDA wheel beside a CPU torch fails while registering its operators
            logger.info("torchvision does not import (%s); using the stand-in Resize", error)
            for name in [n for n in sys.modules if n == "torchvision" or n.startswith("torchvision.")]:
                del sys.modules[name]
    import torch
    import torch.nn.functional as F

    class Resize(torch.nn.Module):
        def __init__(self, size: Any, interpolation: Any = None, max_size: Any = None, antialias: Any = True):
            super().__init__()
            if isinstance(size, int) or len(size) != 2 or max_size is not None or antialias is not True:
                raise NotImplementedError("the stand-in Resize supports Resize((height, width)) only")
            if interpolation not in (None, "bilinear"):
                raise NotImplementedError("the stand-in Resize is bilinear only")
            self.size = [int(size[0]), int(size[1])]

        def forward(self, img: torch.Tensor) -> torch.Tensor:
            if img.ndim != 4 or not img.is_floating_point():
                raise NotImplementedError("the stand-in Resize takes 4-D float tensors only")
            if list(img.shape[-2:]) == self.size:
                return img
            return F.interpolate(img, size=self.size, mode="bilinear", align_corners=False, antialias=True)

    package = types.ModuleType("torchvision")
    transforms = types.ModuleType("torchvision.transforms")
    transforms.Resize = Resize  # type: ignore[attr-defined]
    package.transforms = transforms  # type: ignore[attr-defined]
    sys.modules["torchvision"], sys.modules["torchvision.transforms"] = package, transforms
    return "stand-in for torchvision.transforms.Resize (torch.nn.functional.interpolate, as torchvision 0.28)"


def copy_for_openretina(source: Path, work: Path, name: str) -> Path:
    target = work / name
    shutil.copytree(source, target)
    return target


# -- Höfling 2024 -----------------------------------------------------------------------------------------------
def check_hoefling(sample: Any, work: Path) -> list[Variant]:
    from openretina.data_io.hoefling_2024.dataloaders import natmov_dataloaders_v2
    from openretina.data_io.hoefling_2024.responses import filter_responses, make_final_responses
    from openretina.data_io.hoefling_2024.stimuli import movies_from_pickle
    from openretina.utils.h5_handling import load_h5_into_dict
    from openretina_hoefling_2024 import constants as hc
    from openretina_hoefling_2024.files import locate_responses, locate_stimulus
    from openretina_hoefling_2024.responses import get_all_responses
    from openretina_hoefling_2024.stimuli import get_all_movies

    variant = Variant("hoefling_2024 (natural movie 18x16, trace_type=spikes, the published quality filters)")
    data = Path(sample.data_dir)
    theirs_dir = copy_for_openretina(data, work, "openretina")
    responses_file = locate_responses(data_dir=data).relative_to(data)
    stimulus_file = locate_stimulus(data_dir=data).relative_to(data)
    with quiet_openretina(variant):
        movies = movies_from_pickle(theirs_dir / stimulus_file)
        raw = load_h5_into_dict(theirs_dir / responses_file)
        filtered = filter_responses(
            raw,
            filter_cell_types=True,
            cell_types_list=list(hc.DEFAULT_CELL_TYPES),
            chirp_qi=hc.DEFAULT_CHIRP_QI,
            d_qi=hc.DEFAULT_D_QI,
            qi_logic=hc.DEFAULT_QI_LOGIC,
            filter_counts=hc.DEFAULT_FILTER_COUNTS,
            count_threshold=hc.DEFAULT_COUNT_THRESHOLD,
            classifier_confidence=hc.DEFAULT_CLASSIFIER_CONFIDENCE,
        )
        theirs = make_final_responses(filtered, response_type="natural")
        loaders = natmov_dataloaders_v2(
            theirs,
            movies,
            validation_clip_indices=list(hc.DEFAULT_VALIDATION_CLIPS),
            batch_size=hc.DEFAULT_BATCH_SIZE,
            train_chunk_size=hc.DEFAULT_TRAIN_CHUNK,
        )
        first = {fold: {s: next(iter(dl)) for s, dl in loaders[fold].items()} for fold in loaders}
    batch = next(iter(first["train"].values()))
    variant.notes.append(
        f"openretina natmov_dataloaders_v2 built {len(first['train'])} sessions x {sorted(first)}; first train "
        f"batch inputs {tuple(batch[0].shape)}, targets {tuple(batch[1].shape)}"
    )
    ours_movies = get_all_movies(data_dir=data)
    ours = get_all_responses(data_dir=data)
    for session in sorted(set(ours) & set(theirs)):
        mine, other = ours[session], theirs[session]
        variant.pairs[session] = {
            "stim train": (ours_movies.train, movies.train, movies.train.shape),
            "stim test": (
                ours_movies.test_dict["test"],
                movies.test_dict["test"],
                movies.test_dict["test"].shape,
            ),
            "resp train": (mine.train, other.train, other.train.shape),
            "resp test": (mine.test_dict["test"], other.test_dict["test"], other.test_dict["test"].shape),
            "by trial": (
                mine.test_by_trial_dict["test"],
                other.test_by_trial.transpose(2, 0, 1),
                other.test_by_trial.shape,
            ),
        }
        kwargs, their_kwargs = mine.session_kwargs, other.session_kwargs
        same = (
            np.array_equal(kwargs["roi_ids"], their_kwargs["roi_ids"])
            and kwargs["scan_sequence_idx"] == their_kwargs["scan_sequence_idx"]
            and kwargs["eye_recorded"] == their_kwargs["eye"]
        )
        if not same:
            variant.failures.append(f"{session}: roi_ids, scan_sequence_idx or recorded eye differ")
    variant.only_ours, variant.only_openretina = (
        sorted(set(ours) - set(theirs)),
        sorted(set(theirs) - set(ours)),
    )
    if not variant.failures:
        variant.notes.append(
            "roi_ids, scan_sequence_idx and the recorded eye agree in every compared session"
        )
    variant.aligned["by trial"] = "openretina's (N, T, trials) transposed to (trials, N, T)"
    resampling = (
        "resampling and per-ROI std normalisation in float32 (ours; datasets.md Decisions: no float64 "
        "detours) vs float64 (openretina, np.interp per ROI); values are std-normalised (~1)"
    )
    for quantity in ("resp train", "resp test", "by trial"):
        variant.reasons[quantity] = (1e-4, resampling)
    return [variant]


# -- Karamanlis 2024 --------------------------------------------------------------------------------------------
def matlab_border(original: Callable[..., Any]) -> Callable[..., Any]:
    """openretina's ``return_fix_movie_torch`` with the screen column/row it fills from image index -1 (the
    image's last column/row, where the image's left/top edge lies inside the screen) set back to 0, as the
    authors' ``returnFixMovie.m`` leaves it. Uses openretina's own ``get_ranges`` to find that column/row."""
    from openretina.data_io.karamanlis_2024.stimuli import get_ranges

    def compose(screensize: tuple[int, int], im_ensemble: Any, list_fixations: np.ndarray) -> Any:
        movie = original(screensize, im_ensemble, list_fixations)
        n_y, n_x = screensize
        n_y_im, n_x_im = im_ensemble.shape[:2]
        cols, rows = np.arange(1, n_x + 1), np.arange(1, n_y + 1)
        for frame in range(list_fixations.shape[1]):
            x_min, _, y_min, _, x_or, y_or = get_ranges(
                list_fixations[1, frame], list_fixations[2, frame], n_x, n_y, n_x_im, n_y_im, cols, rows
            )
            if x_or[0] < 0:
                movie[:, x_min, frame] = 0
            if y_or[0] < 0:
                movie[y_min, :, frame] = 0
        return movie

    return compose


def check_karamanlis(sample: Any, work: Path) -> list[Variant]:
    resize = torchvision_resize()  # before openretina's stimuli module imports torchvision
    import openretina.data_io.karamanlis_2024.stimuli as their_stimuli
    from openretina.data_io.karamanlis_2024.responses import load_all_responses as their_responses
    from openretina_karamanlis_2024 import load_all_responses, load_all_stimuli
    from openretina_karamanlis_2024.constants import SESSIONS_DIR, SPECIES

    data = Path(sample.data_dir)
    variants = []
    for species in SPECIES:
        variant = Variant(f"karamanlis_2024 (species={species}, stim_type=fixationmovie, 60x80, z-scored)")
        variant.notes.append(f"openretina's Resize: {resize}")
        plain = copy_for_openretina(data, work, f"openretina-{species}") / SESSIONS_DIR
        matlab = copy_for_openretina(data, work, f"openretina-{species}-matlab-border") / SESSIONS_DIR
        with quiet_openretina(variant):
            movies = their_stimuli.load_all_stimuli(str(plain), specie=species)
            responses = their_responses(str(plain), specie=species)
            original = their_stimuli.return_fix_movie_torch
            their_stimuli.return_fix_movie_torch = matlab_border(original)
            try:
                corrected = their_stimuli.load_all_stimuli(str(matlab), specie=species)
            finally:
                their_stimuli.return_fix_movie_torch = original
        renamed = sorted(k for k in movies if k.endswith(".zip"))
        if renamed:
            variant.notes.append(
                f"openretina keys the stimuli of a zipped session by the zip's name ({renamed}; its responses, "
                "read after the unzip, by the folder's): compared under the session name"
            )
        movies = {k.removesuffix(".zip"): v for k, v in movies.items()}
        corrected = {k.removesuffix(".zip"): v for k, v in corrected.items()}
        responses = {k.removesuffix(".zip"): v for k, v in responses.items()}
        ours_movies = load_all_stimuli(data, species=species, cache_dir=work / "our-cache")
        ours = load_all_responses(data, species=species, cache_dir=work / "our-cache")
        theirs = set(movies) & set(responses)
        for session in sorted(set(ours) & theirs):
            mine, movie, other, fixed = ours[session], movies[session], responses[session], corrected[session]
            variant.pairs[session] = {
                "stim train": (ours_movies[session].train, movie.train, movie.train.shape),
                "stim test": (
                    ours_movies[session].test_dict["test"],
                    movie.test_movie,
                    movie.test_movie.shape,
                ),
                "resp train": (mine.train, other.train, other.train.shape),
                "resp test": (mine.test_dict["test"], other.test_response, other.test_response.shape),
                "by trial": (mine.test_by_trial_dict["test"], other.test_by_trial, other.test_by_trial.shape),
                "stim train, MATLAB border": (ours_movies[session].train, fixed.train, fixed.train.shape),
                "stim test, MATLAB border": (
                    ours_movies[session].test_dict["test"],
                    fixed.test_movie,
                    fixed.test_movie.shape,
                ),
            }
        variant.only_ours = sorted(set(ours) - theirs)
        variant.only_openretina = sorted(theirs - set(ours))
        border = (
            "openretina fills one screen column/row from image index -1 (wrapping to the image's last "
            "column/row) where the image's left/top edge lies inside the screen; ours leaves it 0, as the "
            "authors' MATLAB code (docs/coming-from-openretina.md, plugin README); the z-score shifts with it"
        )
        rounding = (
            "float32 rounding: ours resizes each image once by banded products and gathers per frame, "
            "openretina resizes every composed 600x800 frame; the same torch antialiased bilinear kernel"
        )
        variant.reasons.update({"stim train": (np.inf, border), "stim test": (np.inf, border)})
        variant.reasons["stim train, MATLAB border"] = (1e-4, rounding)
        variant.reasons["stim test, MATLAB border"] = (1e-4, rounding)
        variant.derived.update({"stim train, MATLAB border", "stim test, MATLAB border"})
        variant.aligned["stim train, MATLAB border"] = "openretina's own code with that column/row zeroed"
        variant.aligned["stim test, MATLAB border"] = variant.aligned["stim train, MATLAB border"]
        variants.append(variant)
    return variants


# -- Maheswaranathan 2023 ---------------------------------------------------------------------------------------
def check_maheswaranathan(sample: Any, work: Path) -> list[Variant]:
    from openretina.data_io.maheswaranathan_2023.responses import load_all_responses as their_responses
    from openretina.data_io.maheswaranathan_2023.stimuli import load_all_stimuli as their_stimuli
    from openretina_maheswaranathan_2023 import load_all_responses, load_all_stimuli

    data = Path(sample.data_dir)
    variants = []
    for stim_type, response_type in (
        ("naturalscene", "firing_rate_10ms"),
        ("whitenoise", "firing_rate_10ms"),
        ("naturalscene", "binned"),
    ):
        variant = Variant(f"maheswaranathan_2023 (stim_type={stim_type}, response_type={response_type})")
        theirs_dir = copy_for_openretina(data, work, f"openretina-{stim_type}-{response_type}")
        with quiet_openretina(variant):
            movies = their_stimuli(str(theirs_dir), stim_type=stim_type)
            responses = their_responses(str(theirs_dir), response_type=response_type, stim_type=stim_type)
        ours_movies = load_all_stimuli(data, stim_type=stim_type)
        ours = load_all_responses(data, stim_type=stim_type, response_type=response_type)
        theirs = set(movies) & set(responses)
        for session in sorted(set(ours) & theirs):
            mine, movie, other = ours[session], movies[session], responses[session]
            n_test = mine.test_dict["test"].shape[-1]
            variant.pairs[session] = {
                "stim train": (ours_movies[session].train, movie.train, movie.train.shape),
                "stim test": (
                    ours_movies[session].test_dict["test"],
                    movie.test_movie,
                    movie.test_movie.shape,
                ),
                "resp train": (mine.train, other.train, other.train.shape),
                "resp test": (
                    mine.test_dict["test"],
                    other.test_response[..., :n_test],
                    other.test_response.shape,
                ),
                "by trial": (
                    mine.test_by_trial_dict["test"],
                    other.test_by_trial[..., :n_test],
                    other.test_by_trial.shape,
                ),
            }
        variant.only_ours = sorted(set(ours) - theirs)
        variant.only_openretina = sorted(theirs - set(ours))
        trimmed = "openretina keeps the last bin of T_test+1; ours trims it (README, docs): first T_test bins"
        variant.aligned.update({"resp test": trimmed, "by trial": trimmed})
        zscore = (
            "float32 rounding of the per-session z-score: openretina's mean/std are float32 torch reductions, "
            "ours are accumulated in float64 (same unbiased std)"
        )
        variant.reasons.update({"stim train": (1e-5, zscore), "stim test": (1e-5, zscore)})
        variants.append(variant)
    return variants


# -- Goldin 2022 ------------------------------------------------------------------------------------------------
def check_goldin(sample: Any, work: Path) -> list[Variant]:
    from openretina.data_io.goldin_2022.responses import load_all_responses as their_responses
    from openretina.data_io.goldin_2022.stimuli import load_all_stimuli as their_stimuli
    from openretina_goldin_2022 import load_all_responses, load_all_stimuli
    from openretina_goldin_2022.constants import DEFAULT_FR_NORMALIZATION, SPECIES

    data = Path(sample.data_dir)
    variants = []
    for species in SPECIES:
        variant = Variant(
            f"goldin_2022 (species={species}, naturalscene, binned, fr_normalization={DEFAULT_FR_NORMALIZATION})"
        )
        theirs_dir = copy_for_openretina(data, work, f"openretina-{species}")
        with quiet_openretina(variant):
            movies = their_stimuli(str(theirs_dir), specie=species)
            responses = their_responses(
                str(theirs_dir), specie=species, fr_normalization=DEFAULT_FR_NORMALIZATION
            )
        ours_movies = load_all_stimuli(data, species=species)
        ours = load_all_responses(data, species=species, fr_normalization=DEFAULT_FR_NORMALIZATION)
        theirs = set(movies) & set(responses)
        for session in sorted(set(ours) & theirs):
            mine, movie, other = ours[session], movies[session], responses[session]
            trials = mine.test_by_trial_dict.get("test")
            if (trials is None) != (other.test_by_trial is None):
                variant.failures.append(f"{session}: single trials in only one of the two")
                trials = None
            variant.pairs[session] = {
                "stim train": (ours_movies[session].train, movie.train, movie.train.shape),
                "stim test": (
                    ours_movies[session].test_dict["test"],
                    movie.test_movie,
                    movie.test_movie.shape,
                ),
                "resp train": (mine.train, other.train, other.train.shape),
                "resp test": (mine.test_dict["test"], other.test_response, other.test_response.shape),
                "by trial": None
                if trials is None
                else (trials, other.test_by_trial, other.test_by_trial.shape),
            }
        variant.only_ours = sorted(set(ours) - theirs)
        variant.only_openretina = sorted(theirs - set(ours))
        zscore = (
            "float32 rounding of the per-session z-score: openretina's mean/std are float32 torch reductions, "
            "ours are accumulated in float64 (same unbiased std)"
        )
        variant.reasons.update({"stim train": (1e-5, zscore), "stim test": (1e-5, zscore)})
        variants.append(variant)
    return variants


# -- generic HDF5 format -----------------------------------------------------------------------------------------
def check_hdf5(sample: Any, work: Path) -> list[Variant]:
    from openretina.data_io.h5_dataset_reader import load_responses as their_responses
    from openretina.data_io.h5_dataset_reader import load_stimuli as their_stimuli
    from openretina_hdf5 import load_responses, load_stimuli

    data = Path(sample.data_dir)
    test_names = list(sample.options["test_names"])
    size = list(sample.options["stimulus_size"])
    variant = Variant(f"hdf5 (the sample's options: test_names={test_names}, stimulus_size={tuple(size)})")
    theirs_dir = copy_for_openretina(data, work, "openretina")
    with quiet_openretina(variant):
        movies = their_stimuli(str(theirs_dir), test_names, size, norm_mean=None, norm_std=None)
        responses = their_responses(str(theirs_dir), test_names)
    ours_movies = load_stimuli(data, test_names, size)
    ours = load_responses(data, test_names)
    theirs = set(movies) & set(responses)
    for session in sorted(set(ours) & theirs):
        mine, movie, other = ours[session], movies[session], responses[session]
        pairs: dict[str, Pair] = {
            "stim train": (ours_movies[session].train, movie.train, movie.train.shape),
            "resp train": (mine.train, other.train, other.train.shape),
        }
        for name in test_names:
            theirs_movie, theirs_resp = movie.test_dict[name], other.test_dict[name]
            pairs[f"stim test {name}"] = (
                ours_movies[session].test_dict[name],
                theirs_movie,
                theirs_movie.shape,
            )
            pairs[f"resp test {name}"] = (mine.test_dict[name], theirs_resp, theirs_resp.shape)
        variant.pairs[session] = pairs
        mine_info, their_info = mine.session_kwargs, other.session_kwargs
        for key in their_info:
            if not np.array_equal(np.asarray(mine_info.get(key)), their_info[key]):
                variant.failures.append(f"{session}: session_info/{key} differs")
    variant.only_ours = sorted(set(ours) - theirs)
    variant.only_openretina = sorted(theirs - set(ours))
    if not variant.failures:
        variant.notes.append("session_info (session_kwargs) agrees in every compared session")
    return [variant]


CHECKS: dict[str, Callable[[Any, Path], list[Variant]]] = {
    "goldin_2022": check_goldin,
    "hdf5": check_hdf5,
    "hoefling_2024": check_hoefling,
    "karamanlis_2024": check_karamanlis,
    "maheswaranathan_2023": check_maheswaranathan,
}
