"""``model.tar.gz``: packed as SageMaker uploads it, extracted as SageMaker does before serve."""

from __future__ import annotations

import shutil
import tarfile
import tempfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from algoport.errors import UserError
from algoport.files import atomic_write
from algoport.settings import MB


@dataclass(frozen=True)
class ArchiveLimits:
    """The most a model archive may unpack to: bytes of file contents and entries.

    Sizes are read from each entry's header before it is written, so an archive over a
    limit is refused having written at most the limit.
    """

    max_bytes: int = 10 * 1024 * MB
    max_entries: int = 10_000


def pack_model(model_dir: Path, tarball: Path) -> Path:
    """Pack the contents of ``model_dir`` at the archive's root, as SageMaker does."""
    with atomic_write(tarball) as out, tarfile.open(fileobj=out, mode="w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return tarball


def extract_model(tarball: Path, model_dir: Path, limits: ArchiveLimits = ArchiveLimits()) -> Path:
    """Extract a model archive as ``model_dir``, which must not exist or be empty.

    The archive is unpacked into a temporary directory beside ``model_dir`` that is renamed
    into place only once complete, so an archive that is refused or breaks off leaves
    nothing. Refused: absolute paths, ``..``, links that leave the directory and device
    files (tarfile's ``data`` filter), and archives beyond ``limits``.
    """
    if model_dir.exists() and any(model_dir.iterdir()):
        raise UserError(f"{model_dir} is not empty; extract a model into a fresh directory.")
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{model_dir.name}.", dir=model_dir.parent))
    try:
        with tarfile.open(tarball, mode="r:*") as archive:
            archive.extractall(staging, members=_bounded(archive, tarball, limits), filter="data")
        # mkdtemp makes the directory private (0700); a model is read by whoever serves it.
        staging.chmod(0o755)
        if model_dir.exists():
            model_dir.rmdir()
        staging.rename(model_dir)
    except tarfile.FilterError as exc:
        raise UserError(f"{tarball} holds an unsafe member and was not extracted: {exc}.") from None
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        raise UserError(
            f"{tarball} is not a complete .tar.gz model archive ({exc}); nothing was extracted. "
            "Pack it again, or copy it again if it was cut short."
        ) from None
    except OSError as exc:
        raise UserError(f"{tarball} could not be extracted: {exc}; nothing was kept.") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return model_dir


def _bounded(
    archive: tarfile.TarFile, tarball: Path, limits: ArchiveLimits
) -> Iterator[tarfile.TarInfo]:
    """The archive's entries, read one at a time, refusing the first over a limit."""
    total = 0
    for count, member in enumerate(archive, start=1):
        if member.name.startswith("/"):
            raise UserError(
                f"{tarball} holds an entry with an absolute path, {member.name!r}, and was not "
                "extracted; a model archive holds paths relative to the model directory."
            )
        if count > limits.max_entries:
            raise UserError(
                f"{tarball} holds more than {limits.max_entries} entries and was not extracted; "
                "raise the limit with --max-model-files if the model really has that many."
            )
        total += member.size if member.isfile() else 0
        if total > limits.max_bytes:
            raise UserError(
                f"{tarball} unpacks to more than {limits.max_bytes // MB} MB and was not "
                "extracted; raise the limit with --max-model-mb if the model is that large."
            )
        yield member
