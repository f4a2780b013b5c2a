"""Checkpoints: written atomically into the checkpoint directory SageMaker syncs to S3.

A checkpoint is one file named ``<prefix>-<step>``, the step zero-padded so names sort in
order. SageMaker restores the directory when a job restarts (a spot interruption), so the
latest checkpoint there is where training resumes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from algoport.files import atomic_write

STEP_DIGITS = 9


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    step: int


def checkpoint_path(directory: Path, prefix: str, step: int) -> Path:
    return directory / f"{prefix}-{step:0{STEP_DIGITS}d}"


def save_checkpoint(
    directory: Path, prefix: str, step: int, write: Callable[[IO[bytes]], None] | bytes
) -> Checkpoint:
    """Write a checkpoint atomically; a killed job leaves the previous one intact."""
    path = checkpoint_path(directory, prefix, step)
    with atomic_write(path) as out:
        if isinstance(write, bytes):
            out.write(write)
        else:
            write(out)
    return Checkpoint(path, step)


def latest_checkpoint(directory: Path, prefix: str) -> Checkpoint | None:
    """The checkpoint with the highest step, or None when there is none."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    found = [
        Checkpoint(path, int(match.group(1)))
        for path in (directory.iterdir() if directory.is_dir() else ())
        if (match := pattern.fullmatch(path.name))
    ]
    return max(found, key=lambda c: c.step, default=None)


def prune_checkpoints(directory: Path, prefix: str, keep: int) -> None:
    """Delete all but the ``keep`` latest checkpoints (each one is uploaded to S3)."""
    pattern = re.compile(rf"{re.escape(prefix)}-(\d+)")
    found = sorted(
        (int(m.group(1)), p)
        for p in (directory.iterdir() if directory.is_dir() else ())
        if (m := pattern.fullmatch(p.name))
    )
    for _, path in found[: max(0, len(found) - keep)]:
        path.unlink(missing_ok=True)
