"""Session discovery: species as a name part, skipped and ambiguous sessions, zipped sessions, clear errors."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path

import pytest
from openretina_karamanlis_2024.layout import find_session_files, list_sessions, session_species

MOUSE = "20201112_252MEA_mouse_left_half_dorsal"
MARMOSET = "20220208_60MEA_marmoset_right_i1"


def touch(path: Path, content: bytes = b"not opened by discovery") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def mat_name(session: str) -> str:
    return f"{session}_fixationmovie_data.mat"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    sessions = tmp_path / "data" / "sessions"
    touch(sessions / MOUSE / mat_name(MOUSE))
    touch(sessions / MARMOSET / mat_name(MARMOSET))
    touch(sessions / "x_marmosetlike_y" / mat_name("x_marmosetlike_y"))
    touch(sessions / "2021_60MEA_Mouse_upper" / mat_name("2021_60MEA_Mouse_upper"))
    touch(sessions / "notes_mouse.txt")  # neither a folder nor a zip
    return tmp_path / "data"


def test_species_is_a_name_component() -> None:
    assert session_species(MOUSE) == "mouse"
    assert session_species(MARMOSET) == "marmoset"
    assert session_species("x_marmosetlike_y") is None
    assert session_species("mousetrap_2020") is None
    assert session_species("2020_mouse_marmoset") is None  # ambiguous names belong to no species


def test_sessions_of_each_species(root: Path) -> None:
    assert [name for name, _ in list_sessions(root, "marmoset")] == [MARMOSET]
    assert [name for name, _ in list_sessions(root, "mouse")] == sorted([MOUSE, "2021_60MEA_Mouse_upper"])
    # The sessions folder itself works as well as the folder holding it.
    assert list_sessions(root / "sessions", "mouse") == list_sessions(root, "mouse")


def test_session_without_file_is_skipped_with_reason(root: Path, tmp_path: Path, caplog) -> None:
    empty = root / "sessions" / "20201120_252MEA_mouse_no_movie"
    touch(empty / "20201120_252MEA_mouse_no_movie_frozencheckerflicker_data.mat")
    with caplog.at_level(logging.WARNING):
        files = find_session_files(root, "mouse", "fixationmovie", tmp_path / "cache")
    assert "20201120_252MEA_mouse_no_movie" not in {f.session for f in files}
    assert "skipping session 20201120_252MEA_mouse_no_movie" in caplog.text
    assert "fixationmovie_data.mat" in caplog.text


def test_two_candidate_files_is_an_error_naming_both(root: Path, tmp_path: Path) -> None:
    touch(root / "sessions" / MOUSE / "copy_fixationmovie_data.mat")
    with pytest.raises(ValueError, match="has 2 files") as excinfo:
        find_session_files(root, "mouse", "fixationmovie", tmp_path / "cache")
    assert "copy_fixationmovie_data.mat" in str(excinfo.value)
    assert mat_name(MOUSE) in str(excinfo.value)


def test_zipped_session_is_extracted_into_the_cache(root: Path, tmp_path: Path) -> None:
    zipped = "20201203_252MEA_mouse_right"
    archive = root / "sessions" / f"{zipped}.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{zipped}/{mat_name(zipped)}", b"payload")
        zf.writestr(f"{zipped}/{zipped}_imagesequence_data.mat", b"other stimulus")
    before = sorted(p.name for p in (root / "sessions").iterdir())
    cache = tmp_path / "cache"
    files = {f.session: f for f in find_session_files(root, "mouse", "fixationmovie", cache)}
    located = files[zipped]
    assert located.source == archive and located.member == f"{zipped}/{mat_name(zipped)}"
    assert located.path.read_bytes() == b"payload"
    assert cache in located.path.parents
    assert sorted(p.name for p in (root / "sessions").iterdir()) == before, "nothing written next to the data"
    assert not any(p.name.endswith("imagesequence_data.mat") for p in cache.rglob("*")), (
        "only the needed file"
    )
    # A replaced archive is a different source: re-extracted, the stale copy removed.
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(f"{zipped}/{mat_name(zipped)}", b"new payload")
    again = {f.session: f for f in find_session_files(root, "mouse", "fixationmovie", cache)}[zipped]
    assert again.path.read_bytes() == b"new payload"
    assert not located.path.exists()


def test_folder_wins_over_its_zip(root: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(root / "sessions" / f"{MOUSE}.zip", "w") as zf:
        zf.writestr(mat_name(MOUSE), b"zip copy")
    files = {f.session: f for f in find_session_files(root, "mouse", "fixationmovie", tmp_path / "cache")}
    assert files[MOUSE].member is None and files[MOUSE].path.parent.name == MOUSE


def test_unsafe_zip_member_is_refused(root: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(root / "sessions" / "2022_60MEA_mouse_evil.zip", "w") as zf:
        zf.writestr("../2022_60MEA_mouse_evil_fixationmovie_data.mat", b"escape")
    with pytest.raises(ValueError, match="refusing member"):
        find_session_files(root, "mouse", "fixationmovie", tmp_path / "cache")
    assert not (root / "2022_60MEA_mouse_evil_fixationmovie_data.mat").exists()


def test_clear_errors_for_bad_arguments_and_missing_data(root: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"species must be one of \['mouse', 'marmoset'\], got 'rat'"):
        list_sessions(root, "rat")
    with pytest.raises(ValueError, match=r"stim_type must be one of \['fixationmovie'\].*not supported"):
        find_session_files(root, "mouse", "gratingflicker", tmp_path / "cache")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no mouse session") as excinfo:
        list_sessions(empty, "mouse")
    assert str(empty) in str(excinfo.value)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        list_sessions(tmp_path / "missing", "mouse")
