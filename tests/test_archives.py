"""Safe extraction: hostile members refused, size limit, idempotence, no half-done folder taken as done."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from openretina_core import BadArchiveError
from openretina_core.files import archives
from openretina_core.files.archives import MARKER, UnsafeArchiveError, extract_archive
from openretina_core.files.extracted import check_extracted, is_extracted


def make_zip(path: Path, members: dict[str, bytes], symlinks: dict[str, str] | None = None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in (symlinks or {}).items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
    return path


def make_tar(path: Path, entries: list[tarfile.TarInfo], data: dict[str, bytes] | None = None) -> Path:
    data = data or {}
    with tarfile.open(path, "w:gz") as tf:
        for info in entries:
            payload = data.get(info.name)
            if payload is not None:
                info.size = len(payload)
            tf.addfile(info, io.BytesIO(payload) if payload is not None else None)
    return path


def entry(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def extract(archive: Path, tmp_path: Path, name: str = "out", **kwargs: object) -> Path:
    sha = hashlib.sha256(archive.read_bytes()).hexdigest()
    return extract_archive(archive, tmp_path / name, archive_sha256=sha, work_dir=tmp_path / "work", **kwargs)


def outside_untouched(tmp_path: Path) -> None:
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path.parent / "evil.txt").exists()
    assert not (tmp_path / "out").exists(), "nothing may be installed"
    assert not list((tmp_path / "work").glob("*")) if (tmp_path / "work").exists() else True


def test_zip_extracts_with_marker_and_without_double_nesting(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "neural_code_data.zip",
        {
            "neural_code_data/ganglion_cell_data/s1/naturalscene.h5": b"abc",
            "neural_code_data/readme.txt": b"r",
        },
    )
    folder = extract(archive, tmp_path, "neural_code_data")
    assert (folder / "ganglion_cell_data/s1/naturalscene.h5").read_bytes() == b"abc"
    marker = json.loads((folder / MARKER).read_text())
    assert {name: record["size"] for name, record in marker["files"].items()} == {
        "ganglion_cell_data/s1/naturalscene.h5": 3,
        "readme.txt": 1,
    }
    assert all(len(record["sha256"]) == 64 and record["mtime_ns"] for record in marker["files"].values())
    assert check_extracted(folder) == []
    other = extract(make_zip(tmp_path / "two.zip", {"a/x": b"1", "b/y": b"2"}), tmp_path, "two")
    assert (other / "a/x").exists() and (other / "b/y").exists()


@pytest.mark.parametrize(
    "name", ["../evil.txt", "ok/../../evil.txt", "/tmp/evil.txt", "..\\evil.txt", "C:/evil.txt"]
)
def test_zip_slip_members_are_refused(tmp_path: Path, name: str) -> None:
    archive = make_zip(tmp_path / "bad.zip", {"fine.txt": b"ok", name: b"pwned"})
    with pytest.raises(UnsafeArchiveError, match="refusing member") as caught:
        extract(archive, tmp_path)
    outside_untouched(tmp_path)
    # an unsafe archive is a bad archive: one except clause catches both, and it carries the archive's path
    assert isinstance(caught.value, BadArchiveError) and caught.value.path == str(archive)
    assert str(archive) in str(caught.value)


def test_zip_symlink_pointing_outside_is_refused_and_inside_is_kept(tmp_path: Path) -> None:
    bad = make_zip(tmp_path / "bad.zip", {"a.txt": b"1"}, symlinks={"link": "../../etc/passwd"})
    with pytest.raises(UnsafeArchiveError, match="points outside"):
        extract(bad, tmp_path)
    outside_untouched(tmp_path)
    good = make_zip(tmp_path / "good.zip", {"d/a.txt": b"1"}, symlinks={"d/link": "a.txt"})
    folder = extract(good, tmp_path, "good")
    assert (folder / "d/link").is_symlink() and (folder / "d/link").read_bytes() == b"1"


def test_tar_with_absolute_paths_is_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "bad.tar.gz", [entry("/etc/evil.txt")], {"/etc/evil.txt": b"x"})
    with pytest.raises(UnsafeArchiveError, match="absolute"):
        extract(archive, tmp_path)
    outside_untouched(tmp_path)


@pytest.mark.parametrize(
    ("entries", "match"),
    [
        ([entry("../evil.txt")], "refusing member"),
        ([entry("link", tarfile.SYMTYPE, "/etc/passwd")], "points outside"),
        ([entry("d/link", tarfile.SYMTYPE, "../../evil.txt")], "points outside"),
        ([entry("hard", tarfile.LNKTYPE, "../evil.txt")], "refusing member"),
        ([entry("dev", tarfile.CHRTYPE)], "special member"),
        ([entry("d/l", tarfile.SYMTYPE, ".."), entry("d/l/m", tarfile.SYMTYPE, "../..")], "through a link"),
    ],
)
def test_hostile_tar_members_are_refused(tmp_path: Path, entries: list[tarfile.TarInfo], match: str) -> None:
    data = {e.name: b"x" for e in entries if e.type == tarfile.REGTYPE}
    archive = make_tar(tmp_path / "bad.tar.gz", [entry("fine.txt"), *entries], {"fine.txt": b"ok", **data})
    with pytest.raises(UnsafeArchiveError, match=match):
        extract(archive, tmp_path)
    outside_untouched(tmp_path)


def test_tar_with_inside_links_extracts(tmp_path: Path) -> None:
    entries = [entry("./"), entry("pkg/a.txt"), entry("pkg/hard", tarfile.LNKTYPE, "pkg/a.txt")]
    entries.append(entry("pkg/soft", tarfile.SYMTYPE, "a.txt"))
    folder = extract(make_tar(tmp_path / "ok.tar.gz", entries, {"pkg/a.txt": b"hello"}), tmp_path)
    assert (folder / "pkg/hard").read_bytes() == b"hello" and not (folder / "pkg/hard").is_symlink()
    assert (folder / "pkg/soft").is_symlink() and (folder / "pkg/soft").read_bytes() == b"hello"


def test_size_limit_stops_archive_bombs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(5_000_000)})
    assert archive.stat().st_size < 20_000
    with pytest.raises(UnsafeArchiveError, match="archive bomb"):
        extract(archive, tmp_path, max_bytes=1_000_000)
    monkeypatch.setenv("OPENRETINA_MAX_EXTRACT_BYTES", "4e6")
    with pytest.raises(UnsafeArchiveError, match="4000000"):
        extract(archive, tmp_path)
    outside_untouched(tmp_path)


def test_extraction_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.txt": b"1"})
    folder = extract(archive, tmp_path)
    marker_mtime = (folder / MARKER).stat().st_mtime_ns

    def must_not_run(*args: object, **kwargs: object) -> None:
        raise AssertionError("extracted twice")

    monkeypatch.setattr(archives, "_unpack", must_not_run)
    assert extract(archive, tmp_path) == folder
    assert (folder / MARKER).stat().st_mtime_ns == marker_mtime


def test_half_extracted_folder_is_never_taken_as_done(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.txt": b"1", "y.txt": b"2"})
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "x.txt").write_bytes(b"1")  # as if a naive extraction had stopped half-way
    assert not is_extracted(folder, None) and check_extracted(folder) != []
    extract(archive, tmp_path)
    assert sorted(p.name for p in folder.iterdir()) == sorted([MARKER, "x.txt", "y.txt"])
    assert is_extracted(folder, hashlib.sha256(archive.read_bytes()).hexdigest())


def test_failed_extraction_leaves_no_folder_and_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archive = make_zip(tmp_path / "a.zip", {"x.txt": b"1", "y.txt": b"2"})
    real = archives._copy_limited
    calls = []

    def crash_on_second(*args: object, **kwargs: object) -> int:
        calls.append(1)
        if len(calls) == 2:
            raise OSError("killed")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(archives, "_copy_limited", crash_on_second)
    with pytest.raises(OSError, match="killed"):
        extract(archive, tmp_path)
    assert not (tmp_path / "out").exists() and list((tmp_path / "work").iterdir()) == []


def test_a_new_archive_version_replaces_the_old_folder(tmp_path: Path) -> None:
    old = make_zip(tmp_path / "v1.zip", {"x.txt": b"old", "gone.txt": b"1"})
    extract(old, tmp_path)
    new = make_zip(tmp_path / "v2.zip", {"x.txt": b"new"})
    folder = extract(new, tmp_path)
    assert (folder / "x.txt").read_bytes() == b"new" and not (folder / "gone.txt").exists()
    assert list((tmp_path / "work").iterdir()) == []


def test_extraction_checks_free_space_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import shutil
    from collections import namedtuple

    from openretina_core.files.fetch import DiskFullError

    archive = make_zip(tmp_path / "a.zip", {"x.bin": bytes(100_000)})
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 10, 10))
    with pytest.raises(DiskFullError, match="not enough disk space"):
        extract(archive, tmp_path)
    assert not (tmp_path / "out").exists()


# -- issue 16, class 5: duplicate names, a name both file and folder, headers that lie ---------------------------


def test_duplicate_member_names_are_refused(tmp_path: Path) -> None:
    archive = tmp_path / "dup.zip"
    with zipfile.ZipFile(archive, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("data/a.txt", b"first")
        zf.writestr("data/a.txt", b"second: would silently win")
    with pytest.raises(BadArchiveError, match=r"dup\.zip: member 'data/a\.txt' appears 2 times"):
        extract(archive, tmp_path)
    outside_untouched(tmp_path)


def test_duplicate_tar_members_are_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "dup.tar.gz", [entry("a.txt"), entry("a.txt")], {"a.txt": b"x"})
    with pytest.raises(BadArchiveError, match="appears 2 times"):
        extract(archive, tmp_path)


def test_repeated_folder_entries_are_harmless(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "dirs.tar.gz",
        [entry("d", tarfile.DIRTYPE), entry("d", tarfile.DIRTYPE), entry("d/a.txt")],
        {"d/a.txt": b"x"},
    )
    assert (extract(archive, tmp_path) / "d" / "a.txt").read_bytes() == b"x"


@pytest.mark.parametrize(
    "members",
    [
        {"a": b"a file", "a/b.txt": b"inside the file?"},  # a file, then a member below it
        {"a/b.txt": b"x", "a": b"a file after its folder"},
    ],
)
def test_member_both_file_and_folder_is_refused(tmp_path: Path, members: dict[str, bytes]) -> None:
    archive = make_zip(tmp_path / "both.zip", members)
    with pytest.raises(BadArchiveError, match=r"both\.zip: 'a' is both a file and the folder") as info:
        extract(archive, tmp_path)
    assert not isinstance(info.value, FileExistsError)
    outside_untouched(tmp_path)


def test_file_and_folder_entry_of_the_same_name_is_refused(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "both.tar.gz", [entry("a"), entry("a", tarfile.DIRTYPE)], {"a": b"x"})
    with pytest.raises(BadArchiveError, match="'a' is both a file and a folder"):
        extract(archive, tmp_path)


def test_zip_whose_headers_lie_names_the_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "lies.zip", {"a.bin": bytes(range(256)) * 64})
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("a.bin")
    raw[info.header_offset + 14 : info.header_offset + 18] = b"\0\0\0\0"  # the local header's CRC-32
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 16 : central + 20] = b"\xde\xad\xbe\xef"  # and the central directory's: both lie
    archive.write_bytes(bytes(raw))
    with pytest.raises(BadArchiveError, match=r"lies\.zip: damaged \(BadZipFile") as info_:
        extract(archive, tmp_path)
    assert isinstance(info_.value, ValueError)
    outside_untouched(tmp_path)


def test_damaged_compressed_data_names_the_archive(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "broken.zip", {"a.bin": bytes(range(256)) * 256})
    raw = bytearray(archive.read_bytes())
    with zipfile.ZipFile(archive) as zf:
        info = zf.getinfo("a.bin")
    start = info.header_offset + 30 + len("a.bin") + 5
    raw[start : start + 40] = b"\xff" * 40  # garbage in the deflate stream
    archive.write_bytes(bytes(raw))
    with pytest.raises(BadArchiveError, match=r"broken\.zip: damaged"):
        extract(archive, tmp_path)


def test_neither_zip_nor_tar_is_a_bad_archive(tmp_path: Path) -> None:
    archive = tmp_path / "noise.zip"
    archive.write_bytes(b"not an archive at all" * 10)
    with pytest.raises(BadArchiveError, match=r"noise\.zip: neither a zip nor a tar"):
        extract(archive, tmp_path)


def test_a_file_changed_or_deleted_under_an_extraction_is_found_and_extracted_again(tmp_path) -> None:
    """Issue 16, class 4: verify re-hashes extracted files; a load re-extracts a folder whose files changed or
    went missing (never serves it, never silently drops a session)."""
    import os
    import zipfile

    from openretina_core.files.archives import extract_archive
    from openretina_core.files.extracted import check_extracted

    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("data/a/session.h5", b"abcdef")
        zf.writestr("data/b/session.h5", b"ghijkl")
    folder = extract_archive(archive, tmp_path / "data", archive_sha256="x", work_dir=tmp_path / "work")
    edited = folder / "a" / "session.h5"
    assert check_extracted(folder, rehash=True) == []
    stat = edited.stat()
    edited.write_bytes(b"ABCDEF")  # same size, other content
    os.utime(edited, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # even with the stamp put back
    assert check_extracted(folder) == [], "the cheap check trusts an unchanged stamp"
    assert check_extracted(folder, rehash=True) == [f"{edited} differs from the extracted file (sha256)"]
    edited.write_bytes(b"ABCDEF")  # a fresh stamp
    assert check_extracted(folder) == [f"{edited} was modified after extraction"]
    (folder / "b" / "session.h5").unlink()
    assert f"{folder / 'b' / 'session.h5'} is missing" in check_extracted(folder)
    again = extract_archive(archive, folder, archive_sha256="x", work_dir=tmp_path / "work")
    assert (again / "a" / "session.h5").read_bytes() == b"abcdef"
    assert (again / "b" / "session.h5").read_bytes() == b"ghijkl"
    assert check_extracted(again, rehash=True) == []
