"""Bad input: every error names the file (and key) at fault and says what was expected."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from openretina_hdf5 import get_hdf5_dataloaders, load_hdf5

import openretina_core as orc


def one_session(coded: SimpleNamespace, **extra) -> dict:
    return {
        "responses": {"a": coded.responses(1, 200, 2), "t": coded.responses(2, 60, 2)},
        **extra,
    }


@pytest.fixture
def good(write_folder, coded: SimpleNamespace) -> Path:
    return write_folder({"a": coded.movie(1, 200), "t": coded.movie(2, 60)}, {"s.h5": one_session(coded)})


def test_data_dir_is_required_and_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="data_dir=.*create-data"):
        orc.get_dataloaders("hdf5")
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=re.escape(str(missing))):
        orc.get_dataloaders("hdf5", data_dir=missing)


def test_a_folder_without_session_files(write_folder, coded: SimpleNamespace) -> None:
    root = write_folder({"a": coded.movie(1, 10)}, {})
    with pytest.raises(FileNotFoundError, match=r"no session files in .*<session>\.h5 or <session>\.hdf5"):
        load_hdf5(root)


def test_a_session_without_responses(write_folder, coded: SimpleNamespace) -> None:
    root = write_folder({"a": coded.movie(1, 10)}, {"s.h5": {"stimuli": {"a": coded.movie(1, 10)}}})
    with pytest.raises(ValueError, match=r"s\.h5: no 'responses_<name>' datasets.*\['stimulus_a'\]"):
        load_hdf5(root)


def test_responses_without_a_stimulus_name_both_places_looked(write_folder, coded: SimpleNamespace) -> None:
    root = write_folder(
        {"a": coded.movie(1, 200)},
        {"s.h5": {"responses": {"a": coded.responses(1, 200, 2), "zz": np.ones((2, 5))}}},
    )
    with pytest.raises(ValueError) as excinfo:
        load_hdf5(root)
    message = str(excinfo.value)
    assert "s.h5" in message and "'responses_zz' has no stimulus" in message
    assert str(root / "stimuli" / "zz.npy") in message and "'stimulus_zz'" in message
    assert "Shared stimuli found: ['a']" in message


def test_no_stimuli_folder_is_said(tmp_path: Path, coded: SimpleNamespace) -> None:
    root = tmp_path / "bare"
    root.mkdir()
    coded.write_session(root / "s.h5", {"responses": {"a": coded.responses(1, 20, 2)}})
    with pytest.raises(ValueError, match="that folder does not exist"):
        load_hdf5(root)


def test_stimulus_size_mismatch_names_the_file(good: Path, coded: SimpleNamespace) -> None:
    with pytest.raises(ValueError) as excinfo:
        load_hdf5(good, test_names=["t"], stimulus_size=(3, 16, 8))
    message = str(excinfo.value)
    assert str(good / "stimuli" / "a.npy") in message and "expected (3, T, 16, 8)" in message
    assert "stimulus_size" in message
    np.save(good / "stimuli" / "t.npy", coded.movie(2, 60, channels=1))
    with pytest.raises(ValueError) as excinfo:  # without stimulus_size: all must agree, and who has which
        load_hdf5(good, test_names=["t"])
    message = str(excinfo.value)
    assert "stimuli differ in channels or frame size" in message
    assert f"(C, H, W) = (1, 4, 3): {good / 'stimuli' / 't.npy'}" in message
    assert f"(C, H, W) = (2, 4, 3): {good / 'stimuli' / 'a.npy'}" in message
    with pytest.raises(ValueError, match="stimulus_size must be"):
        load_hdf5(good, stimulus_size=(2, 4))


def test_session_stimulus_of_the_wrong_size_names_file_and_key(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(good / "s.h5", one_session(coded, stimuli={"a": np.zeros((2, 200, 5, 3))}))
    with pytest.raises(ValueError, match=r"s\.h5:stimulus_a: stimulus 'a' has shape \(2, 200, 5, 3\)"):
        load_hdf5(good, stimulus_size=(2, 4, 3))
    with pytest.raises(ValueError, match=r"\(2, 5, 3\): .*s\.h5:stimulus_a"):
        load_hdf5(good)


def test_a_stimulus_that_is_not_four_dimensional(good: Path) -> None:
    np.save(good / "stimuli" / "a.npy", np.zeros((200, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"a\.npy: stimulus 'a' has shape \(200, 4, 3\); expected 4 axes"):
        load_hdf5(good)


def test_frame_and_bin_counts_must_agree(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(
        good / "s.h5", {"responses": {"a": coded.responses(1, 199, 2), "t": coded.responses(2, 60, 2)}}
    )
    with pytest.raises(ValueError) as excinfo:
        load_hdf5(good)
    message = str(excinfo.value)
    assert "s.h5" in message and "'responses_a' has 199 time bins" in message
    assert "a.npy has 200 frames" in message and "one response bin per stimulus frame" in message


def test_neuron_counts_must_agree_within_a_session(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(
        good / "s.h5", {"responses": {"a": coded.responses(1, 200, 2), "t": coded.responses(2, 60, 3)}}
    )
    with pytest.raises(ValueError, match=r"s\.h5: 'responses_t' has 3 neurons but 'responses_a' has 2"):
        load_hdf5(good)


def test_responses_must_be_two_dimensional_numbers(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(good / "s.h5", {"responses": {"a": np.zeros((2, 200, 1))}})
    with pytest.raises(
        ValueError, match=r"s\.h5: 'responses_a' is shape \(2, 200, 1\).*real-valued \(neurons, time\)"
    ):
        load_hdf5(good)


def test_unknown_test_name_and_session_and_option(good: Path) -> None:
    with pytest.raises(ValueError, match=r"test_names \['tt'\] match no stimulus.*\['a', 't'\]"):
        load_hdf5(good, test_names=["tt"])
    with pytest.raises(ValueError, match=r"no session file for \['x'\]; sessions are \['s'\]"):
        load_hdf5(good, sessions=["x"])
    with pytest.raises(TypeError, match="stim_type.*hdf5"):
        get_hdf5_dataloaders(good, stim_type="natural")
    with pytest.raises(ValueError, match="split must be one of"):
        get_hdf5_dataloaders(good, split="random")


def test_two_files_for_one_session(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(good / "s.hdf5", one_session(coded))
    with pytest.raises(ValueError, match=r"two files for session 's' \(s\.h5 and s\.hdf5\)"):
        load_hdf5(good)


def test_non_finite_stimulus_names_the_file(good: Path, coded: SimpleNamespace) -> None:
    movie = coded.movie(1, 200)
    movie[0, 7, 1, 1] = np.nan
    np.save(good / "stimuli" / "a.npy", movie)
    with pytest.raises(ValueError, match=r"a\.npy: key 'a' holds 1 NaN"):
        load_hdf5(good, test_names=["t"])


def test_pickled_npy_is_refused(good: Path) -> None:
    np.save(good / "stimuli" / "a.npy", np.array([{"not": "an array"}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError, match=r"a\.npy: holds Python objects.*refused"):
        load_hdf5(good)


def test_session_info_must_be_a_group(good: Path, coded: SimpleNamespace) -> None:
    coded.write_session(good / "s.h5", one_session(coded, session_info=np.arange(3)))
    with pytest.raises(ValueError, match=r"s\.h5: 'session_info' must be a group"):
        load_hdf5(good)


def test_a_session_file_that_is_not_hdf5(good: Path) -> None:
    (good / "._s2.h5").write_bytes(b"\x00\x05\x16\x07 resource fork")
    with pytest.raises(OSError, match=r"\._s2\.h5: not readable as HDF5"):
        load_hdf5(good)
