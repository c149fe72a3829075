"""The installed entry point: list_stimuli / get_stimulus through the core, lazy imports, shared interface."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import numpy as np
import pytest

import openretina_core
from openretina_core.registry import get_stimulus_spec, reset_plugin_state, reset_registry

EXPECTED = {
    "chirp": (2, 990, 6, 5),
    "colored_stimulus": (3, 40, 6, 5),
    "flashes": (2, 90, 6, 5),
    "gratings": (2, 30, 6, 5),
    "moving_bar": (2, 30, 6, 5),
    "moving_bar_protocol": (2, 984, 6, 5),
    "noise": (2, 30, 6, 5),
}


@pytest.fixture
def fresh_registry() -> Iterator[None]:
    """Rebuild the plugin manager and tables from the installed entry points, before and after."""
    reset_plugin_state()
    reset_registry()
    yield
    reset_plugin_state()
    reset_registry()


def test_entry_point_is_declared() -> None:
    from importlib.metadata import entry_points

    points = {ep.name: ep for ep in entry_points(group="openretina")}
    assert points["stimuli"].value == "openretina_stimuli"
    assert points["stimuli"].dist is not None and points["stimuli"].dist.name == "openretina-stimuli"


def test_list_and_generate_through_the_core(fresh_registry: None) -> None:
    assert set(EXPECTED) <= set(openretina_core.list_stimuli())
    for name, shape in EXPECTED.items():
        spec = get_stimulus_spec(name)
        assert spec.distribution == "openretina-stimuli" and spec.version == "0.1.0"
        assert spec.description and "shape" in spec.units
        first = openretina_core.get_stimulus(name, shape=shape, seed=4)
        again = openretina_core.get_stimulus(name, shape=shape, seed=4)
        assert first.shape == shape and first.dtype == np.float32 and np.isfinite(first).all(), name
        np.testing.assert_array_equal(first, again)
        time_major = openretina_core.get_stimulus(name, shape=shape, seed=4, time_major=True)
        np.testing.assert_array_equal(first, time_major)
        assert time_major.transpose(1, 0, 2, 3).flags.c_contiguous
    grating = openretina_core.get_stimulus(
        "gratings", shape=(1, 4, 8, 8), spatial_frequency=0.25, orientation=0
    )
    np.testing.assert_allclose(grating[0, 0, 0, :4], grating[0, 0, 0, 4:], atol=1e-6)  # 4-pixel period


def test_unknown_generator_lists_installed_ones(fresh_registry: None) -> None:
    with pytest.raises(KeyError, match="gratings"):
        openretina_core.get_stimulus("grating", shape=(1, 2, 3, 4))


def test_a_lab_plugin_adds_its_own_generator(fresh_registry: None) -> None:
    from openretina_core.registry import DuplicateNameError, get_plugin_manager

    def looming_disc(shape: tuple[int, int, int, int], seed: int = 0) -> np.ndarray:
        _, t, h, w = shape
        rows, cols = np.mgrid[0:h, 0:w] - np.array([(h - 1) / 2, (w - 1) / 2])[:, None, None]
        radius = np.arange(t, dtype=np.float32)[:, None, None]
        disc = np.where(np.hypot(rows, cols)[None] <= radius, -1.0, 0.0).astype(np.float32)
        return np.broadcast_to(disc, shape).copy()

    class LabPlugin:
        @openretina_core.hookimpl
        def register_stimuli(self, register):  # type: ignore[no-untyped-def]
            register(
                openretina_core.StimulusSpec("looming_disc", looming_disc, "expanding disc", {"shape": "px"})
            )

    get_plugin_manager().register(LabPlugin(), name="lab-stimuli")
    reset_registry()
    assert {"looming_disc", "gratings"} <= set(openretina_core.list_stimuli())
    disc = openretina_core.get_stimulus("looming_disc", shape=(1, 5, 9, 9))
    assert disc[0, 4, 4, 4] == -1.0 and disc[0, 1, 0, 0] == 0.0

    class Clash:
        @openretina_core.hookimpl
        def register_stimuli(self, register):  # type: ignore[no-untyped-def]
            register(openretina_core.StimulusSpec("gratings", looming_disc))

    get_plugin_manager().register(Clash(), name="clashing-stimuli")
    reset_registry()
    with pytest.raises(DuplicateNameError, match="gratings"):
        openretina_core.list_stimuli()


def test_registration_imports_no_generator_module() -> None:
    code = (
        "import sys, openretina_core\n"
        "names = openretina_core.list_stimuli()\n"
        "assert 'noise' in names, names\n"
        "loaded = [m for m in ('gratings', 'noise', 'bars', 'fullfield', 'dataset')\n"
        "          if 'openretina_stimuli.' + m in sys.modules]\n"
        "assert not loaded, loaded\n"
        "from openretina_stimuli import generate_moving_bar\n"
        "assert 'openretina_stimuli.bars' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_generators_are_vectorised() -> None:
    """About 8 million values each in well under a second: no per-frame or per-pixel Python loops."""
    import openretina_stimuli as st

    shape = (2, 984, 64, 64)
    calls = {
        "gratings": lambda: st.generate_gratings(shape, orientation=30),
        "noise": lambda: st.generate_noise_stimulus(shape, spatial_sigma=1.0, temporal_sigma=1.0),
        "moving_bar": lambda: st.generate_moving_bar(shape, direction=45, length=20),
        "moving_bar_protocol": lambda: st.generate_moving_bar_protocol(shape, frame_rate=30.0),
        "flashes": lambda: st.generate_flashes(shape),
        "chirp": lambda: st.generate_chirp((2, 990, 64, 64)),
    }
    for name, call in calls.items():
        start = time.perf_counter()
        movie = call()
        elapsed = time.perf_counter() - start
        assert movie.dtype == np.float32 and movie.shape[1] >= 984
        assert elapsed < 3.0, f"{name} took {elapsed:.2f} s"
