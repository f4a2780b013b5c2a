"""A whole model directory: sealed after ``fit``, decrypted into memory for ``load``.

Opening decrypts the sealed files into a private directory (0700) on ``/dev/shm``, the
memory filesystem every Linux container has, and removes it as soon as ``load`` returns: the
plaintext is never written to disk. ``/dev/shm`` is small in containers (64 MB by default in
Docker, and SageMaker endpoints offer no way to raise it), so the workers of one server
decrypt one at a time, and a model that does not fit is refused before anything is written.
"""

from __future__ import annotations

import contextlib
import errno
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from algoport import PlatformError
from algoport_protect.key import ModelKey
from algoport_protect.marker import MARKER_NAME, Marker
from algoport_protect.sealing import OVERHEAD, open_file, seal_file

# The core's manifest, written after fit, and the marker: readable by anyone, never sealed.
READABLE = ("algoport-manifest.json", MARKER_NAME)
MEMORY_FILESYSTEM = Path("/dev/shm")
MB = 1024 * 1024


def _model_files(model_dir: Path) -> list[str]:
    """The regular files ``fit`` wrote, relative to ``model_dir``, in a stable order."""
    return sorted(
        path.relative_to(model_dir).as_posix()
        for path in model_dir.rglob("*")
        if path.is_file() and not path.is_symlink()
    )


def seal_model_dir(model_dir: Path, key: ModelKey) -> list[str]:
    """Seal every file in ``model_dir`` in place and write the marker; return the files."""
    files = [name for name in _model_files(model_dir) if name not in READABLE]
    for index, name in enumerate(files):
        try:
            seal_file(model_dir / name, name, key)
        except OSError as exc:
            # Whatever is left in the model directory may be uploaded: none of it readable.
            for unsealed in files[index:]:
                with contextlib.suppress(OSError):
                    (model_dir / unsealed).unlink()
            raise PlatformError(
                f"Model file {name} could not be encrypted ({exc}); it and the files not yet "
                "encrypted were deleted, so the job leaves no readable model. Free space in "
                "the model directory's volume and train again."
            ) from exc
    Marker.for_files(files, key).write(model_dir)
    return files


def _check_unmodified(model_dir: Path, marker: Marker) -> list[str]:
    present = _model_files(model_dir)
    unsealed = sorted(set(present) - set(marker.files) - set(READABLE))
    missing = sorted(set(marker.files) - set(present))
    if unsealed or missing:
        problems = [f"{name} is not sealed" for name in unsealed]
        problems += [f"{name} is missing" for name in missing]
        raise PlatformError(
            f"The protected model in {model_dir} was modified after training: "
            f"{'; '.join(problems)} ({MARKER_NAME} lists the sealed files). Serve an "
            "unmodified model.tar.gz."
        )
    return present


@contextlib.contextmanager
def _one_process_at_a_time(model_dir: Path) -> Iterator[None]:
    import fcntl  # Linux only, like /dev/shm; imported here so the extension loads anywhere

    with (model_dir / MARKER_NAME).open("rb") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _room_problem(needed: int) -> str | None:
    if not MEMORY_FILESYSTEM.is_dir():
        return f"there is no {MEMORY_FILESYSTEM}"
    free = shutil.disk_usage(MEMORY_FILESYSTEM).free
    if needed > free:
        return f"it needs {needed / MB:.1f} MB and {MEMORY_FILESYSTEM} has {free / MB:.1f} MB free"
    return None


def _no_room(model_dir: Path, why: str) -> PlatformError:
    return PlatformError(
        f"The protected model in {model_dir} cannot be decrypted into memory: {why}. Its "
        f"files are decrypted only into {MEMORY_FILESYSTEM}, never to disk; give the container "
        "a larger /dev/shm (docker run --shm-size) or serve the model unprotected."
    )


@contextlib.contextmanager
def opened_model_dir(model_dir: Path, marker: Marker, key: ModelKey) -> Iterator[Path]:
    """A private directory on ``/dev/shm`` holding the model's plaintext while it is open."""
    marker.check(key)
    present = _check_unmodified(model_dir, marker)
    with _one_process_at_a_time(model_dir):
        needed = sum((model_dir / name).stat().st_size - OVERHEAD for name in marker.files)
        problem = _room_problem(needed)
        if problem:
            raise _no_room(model_dir, problem)
        view = Path(tempfile.mkdtemp(prefix="algoport-protect-", dir=MEMORY_FILESYSTEM))
        try:
            for name in present:
                target = view / name
                target.parent.mkdir(parents=True, exist_ok=True)
                if name in READABLE:
                    target.symlink_to(model_dir / name)
                    continue
                try:
                    with target.open("wb") as plain:
                        open_file(model_dir / name, name, key, plain)
                except OSError as exc:
                    if exc.errno == errno.ENOSPC:
                        raise _no_room(model_dir, f"{MEMORY_FILESYSTEM} filled up") from None
                    raise
            yield view
        finally:
            shutil.rmtree(view, ignore_errors=True)
