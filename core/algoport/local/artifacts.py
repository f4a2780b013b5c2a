"""``model.tar.gz``: packed as SageMaker uploads it, extracted as SageMaker does before serve."""

from __future__ import annotations

import tarfile
from pathlib import Path

from algoport.errors import UserError
from algoport.files import atomic_write


def pack_model(model_dir: Path, tarball: Path) -> Path:
    """Pack the contents of ``model_dir`` at the archive's root, as SageMaker does."""
    with atomic_write(tarball) as out, tarfile.open(fileobj=out, mode="w:gz") as archive:
        for path in sorted(model_dir.rglob("*")):
            archive.add(path, arcname=str(path.relative_to(model_dir)), recursive=False)
    return tarball


def extract_model(tarball: Path, model_dir: Path) -> Path:
    """Extract a model archive into an empty ``model_dir``, refusing unsafe members.

    Absolute paths, ``..``, links that leave the directory and device files are refused
    (tarfile's ``data`` filter), so a hostile archive cannot write outside ``model_dir``.
    """
    model_dir.mkdir(parents=True, exist_ok=True)
    if any(model_dir.iterdir()):
        raise UserError(f"{model_dir} is not empty; extract a model into a fresh directory.")
    try:
        with tarfile.open(tarball, mode="r:*") as archive:
            archive.extractall(model_dir, filter="data")
    except tarfile.FilterError as exc:
        raise UserError(f"{tarball} holds an unsafe member and was not extracted: {exc}.") from None
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"{tarball} is not a readable .tar.gz model archive: {exc}.") from None
    return model_dir
