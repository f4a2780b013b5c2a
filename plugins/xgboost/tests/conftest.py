"""Shared data and helpers for the xgboost plugin's tests (fixtures come from algoport.testing)."""

from __future__ import annotations

import fcntl
import json
import os
import select
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algoport.testing import SageMakerTree, run_train

ALGORITHM = "xgboost"


def csv_text(features: np.ndarray, labels: np.ndarray | None = None) -> str:
    """Rows as SageMaker's text/csv: label first when given, no header, exact floats."""
    rows = features if labels is None else np.column_stack([labels, features])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def libsvm_text(features: np.ndarray, labels: np.ndarray | None, base: int = 1) -> str:
    """Rows as libsvm, zeros left out (missing), indices counted from ``base``."""
    lines = []
    for i, row in enumerate(features):
        cells = [f"{j + base}:{float(v)!r}" for j, v in enumerate(row) if v != 0]
        head = [] if labels is None else [repr(float(labels[i]))]
        lines.append(" ".join(head + cells))
    return "\n".join(lines) + "\n"


class Trainer:
    """Trains the xgboost algorithm through the real ``train`` process in a fresh tree."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def __call__(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, tuple[str, str]],
        *,
        json_encoded: bool = False,
        run: bool = True,
    ) -> tuple[SageMakerTree, Any]:
        """``channels``: name → (content type, file text). Returns the tree and the result
        (None with ``run=False``: the job is only laid out)."""
        self.count += 1
        tree = SageMakerTree(self.root / f"job{self.count}" / "opt_ml")
        for name, (content_type, text) in channels.items():
            suffix = "libsvm" if "libsvm" in content_type else "csv"
            tree.channel(name, {f"{name}.{suffix}": text}, content_type=content_type)
        tree.hyperparameters(hyperparameters, json_encoded=json_encoded)
        return tree, run_train(tree, ALGORITHM) if run else None


@pytest.fixture
def train_job(tmp_path: Path) -> Trainer:
    return Trainer(tmp_path)


@pytest.fixture(scope="module")
def module_train_job(tmp_path_factory: pytest.TempPathFactory) -> Trainer:
    return Trainer(tmp_path_factory.mktemp("xgboost"))


def predictions_of(body: bytes) -> list[dict[str, Any]]:
    """The records of a JSON response, ``{"predictions": [{...}, ...]}``."""
    records: list[dict[str, Any]] = json.loads(body)["predictions"]
    return records


class Formats:
    """The helpers above, for test modules (which cannot import conftest)."""

    csv = staticmethod(csv_text)
    libsvm = staticmethod(libsvm_text)
    predictions = staticmethod(predictions_of)


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
