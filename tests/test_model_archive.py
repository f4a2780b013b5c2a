"""model.tar.gz extracted for `algoport local serve`: bounded, safe, all or nothing."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from algoport.errors import UserError
from algoport.local.artifacts import MB, ArchiveLimits, extract_model, pack_model
from algoport.testing import command


def _archive(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for member, data in members:
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return path


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    return tarfile.TarInfo(name), data


def _bomb(path: Path, megabytes: int) -> Path:
    """Zeros compress about a thousandfold: a few KB that unpack to ``megabytes``."""
    return _archive(path, _file("model.bin", bytes(megabytes * MB)))


def _truncated(path: Path, model: Path) -> Path:
    model.mkdir()
    (model / "a.json").write_text("{}")
    # Random bytes do not compress, so cutting the archive in half cuts this file.
    (model / "weights.bin").write_bytes(os.urandom(256 * 1024))
    whole = pack_model(model, path).read_bytes()
    path.write_bytes(whole[: len(whole) // 2])
    return path


def _refused(tarball: Path, target: Path, match: str, limits: ArchiveLimits) -> None:
    with pytest.raises(UserError, match=match):
        extract_model(tarball, target, limits)
    assert list(target.parent.iterdir()) == [], "a refused archive left files behind"


def test_model_archive_round_trip(tmp_path: Path) -> None:
    model = tmp_path / "model"
    (model / "sub").mkdir(parents=True)
    (model / "a.bin").write_bytes(b"\x00\x01")
    (model / "sub" / "b.json").write_text("{}")
    tarball = pack_model(model, tmp_path / "model.tar.gz")
    extracted = extract_model(tarball, tmp_path / "serving" / "model")
    assert (extracted / "a.bin").read_bytes() == b"\x00\x01"
    assert (extracted / "sub" / "b.json").read_text() == "{}"
    assert sorted(p.name for p in extracted.parent.iterdir()) == ["model"]


def test_an_archive_within_both_limits_is_extracted(tmp_path: Path) -> None:
    limits = ArchiveLimits(max_bytes=2 * MB, max_entries=3)
    tarball = _archive(
        tmp_path / "ok.tar.gz", _file("a", bytes(MB)), _file("b", bytes(MB)), _file("c", b"")
    )
    model = extract_model(tarball, tmp_path / "serving" / "model", limits)
    assert sorted(p.name for p in model.iterdir()) == ["a", "b", "c"]


def test_a_decompression_bomb_is_refused_before_it_is_written(tmp_path: Path) -> None:
    tarball = _bomb(tmp_path / "bomb.tar.gz", megabytes=64)
    assert tarball.stat().st_size < 200 * 1024
    _refused(
        tarball,
        tmp_path / "serving" / "model",
        "unpacks to more than 8 MB and was not extracted; raise the limit with --max-model-mb",
        ArchiveLimits(max_bytes=8 * MB),
    )


def test_too_many_entries_are_refused(tmp_path: Path) -> None:
    tarball = _archive(tmp_path / "many.tar.gz", *(_file(f"f{i}") for i in range(51)))
    _refused(
        tarball,
        tmp_path / "serving" / "model",
        "holds more than 50 entries and was not extracted; raise the limit with --max-model-files",
        ArchiveLimits(max_entries=50),
    )


def test_an_absolute_path_is_refused(tmp_path: Path) -> None:
    tarball = _archive(
        tmp_path / "abs.tar.gz", _file("ok.txt"), _file("/tmp/algoport-abs.txt", b"evil")
    )
    _refused(
        tarball,
        tmp_path / "serving" / "model",
        "holds an entry with an absolute path, '/tmp/algoport-abs.txt', and was not extracted",
        ArchiveLimits(),
    )


def test_an_entry_escaping_its_directory_is_refused(tmp_path: Path) -> None:
    tarball = _archive(tmp_path / "evil.tar.gz", _file("ok.txt"), _file("../escape.txt", b"evil"))
    _refused(tarball, tmp_path / "serving" / "model", "unsafe member", ArchiveLimits())


def test_a_link_out_of_its_directory_is_refused(tmp_path: Path) -> None:
    link = tarfile.TarInfo("passwd")
    link.type = tarfile.SYMTYPE
    link.linkname = "/etc/passwd"
    tarball = _archive(tmp_path / "evil.tar.gz", (link, b""))
    _refused(tarball, tmp_path / "serving" / "model", "unsafe member", ArchiveLimits())


def test_a_truncated_archive_leaves_nothing(tmp_path: Path) -> None:
    tarball = _truncated(tmp_path / "cut.tar.gz", tmp_path / "trained")
    _refused(
        tarball,
        tmp_path / "serving" / "model",
        "is not a complete .tar.gz model archive .*; nothing was extracted",
        ArchiveLimits(),
    )


def _local_serve(tmp_path: Path, tarball: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "local", "serve", "--model", str(tarball),
         "--workdir", str(tmp_path / "work"), *flags],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip


@pytest.mark.e2e
def test_local_serve_refuses_a_truncated_archive_in_one_line(tmp_path: Path) -> None:
    served = _local_serve(tmp_path, _truncated(tmp_path / "cut.tar.gz", tmp_path / "trained"))
    assert served.returncode == 2
    assert served.stderr.startswith(f"algoport: user error: {tmp_path / 'cut.tar.gz'} is not a")
    assert len(served.stderr.strip().splitlines()) == 1, served.stderr
    assert not any(p.is_file() for p in (tmp_path / "work").rglob("*"))


@pytest.mark.e2e
def test_local_serve_limits_are_flags(tmp_path: Path) -> None:
    tarball = _bomb(tmp_path / "bomb.tar.gz", megabytes=3)
    served = _local_serve(tmp_path, tarball, "--max-model-mb", "2")
    assert served.returncode == 2
    assert "unpacks to more than 2 MB and was not extracted" in served.stderr
    many = _archive(tmp_path / "many.tar.gz", *(_file(f"f{i}") for i in range(4)))
    served = _local_serve(tmp_path, many, "--max-model-files", "3")
    assert served.returncode == 2
    assert "holds more than 3 entries" in served.stderr
    assert not any(p.is_file() for p in (tmp_path / "work").rglob("*"))
