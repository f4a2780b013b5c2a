"""Helpers for the xgboost plugin's tests; training jobs, servers and the shared helpers come
from algoport.testing."""

from __future__ import annotations

import fcntl
import os
import select
import subprocess
import time

import numpy as np
import pytest

from algoport.testing import csv_text, prediction_records


def libsvm_text(features: np.ndarray, labels: np.ndarray | None, base: int = 1) -> str:
    """Rows as libsvm, zeros left out (missing), indices counted from ``base``."""
    lines = []
    for i, row in enumerate(features):
        cells = [f"{j + base}:{float(v)!r}" for j, v in enumerate(row) if v != 0]
        head = [] if labels is None else [repr(float(labels[i]))]
        lines.append(" ".join(head + cells))
    return "\n".join(lines) + "\n"


class Formats:
    """libsvm and algoport.testing's helpers, for test modules (which cannot import conftest)."""

    csv = staticmethod(csv_text)
    libsvm = staticmethod(libsvm_text)
    predictions = staticmethod(prediction_records)


@pytest.fixture(scope="session")
def formats() -> type[Formats]:
    return Formats


F_SETPIPE_SZ = 1031


def shrink_stdout_pipe(process: subprocess.Popen[bytes]) -> None:
    """Let ``process``'s stdout pipe hold 4 KiB: once the test stops reading, a training
    process blocks within a few rounds on writing metric lines."""
    assert process.stdout is not None
    fcntl.fcntl(process.stdout.fileno(), F_SETPIPE_SZ, 4096)


def read_until_step(process: subprocess.Popen[bytes], step: int, timeout: float = 60) -> None:
    """Read stdout unbuffered until the metric line of ``step``; the process is then ahead
    by no more than its pipe holds."""
    assert process.stdout is not None
    deadline = time.monotonic() + timeout
    seen = b""
    while f"step={step}\n".encode() not in seen:
        ready, _, _ = select.select([process.stdout], [], [], deadline - time.monotonic())
        assert ready, f"no metric line for step {step} within {timeout} s"
        chunk = os.read(process.stdout.fileno(), 64)
        assert chunk, "training ended before the step"
        seen += chunk


class Processes:
    """Helpers for tests that drive ``train`` processes mid-training."""

    shrink_stdout_pipe = staticmethod(shrink_stdout_pipe)
    read_until_step = staticmethod(read_until_step)


@pytest.fixture(scope="session")
def processes() -> type[Processes]:
    return Processes
