"""Shared test data for algoport's own tests; fixtures for plugins come from algoport.testing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from algoport.testing import TrainingJobs


def linear_csv(rows: int, seed: int = 0, noise: float = 0.0) -> tuple[str, np.ndarray]:
    """CSV with the label first: y = 3 + 2*x1 - x2, and the true weights."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 2))
    y = 3 + 2 * x[:, 0] - x[:, 1] + noise * rng.normal(size=rows)
    lines = [
        f"{float(label)!r},{float(a)!r},{float(b)!r}" for label, (a, b) in zip(y, x, strict=True)
    ]
    return "\n".join(lines) + "\n", np.array([3.0, 2.0, -1.0])


@pytest.fixture(scope="session")
def linear_data() -> str:
    return linear_csv(200)[0]


@pytest.fixture(scope="session")
def train_linear(tmp_path_factory: pytest.TempPathFactory, linear_data: str) -> Callable[..., Path]:
    """Train fixture-linear on ``linear_data`` with the real ``train`` (epochs=1 and the
    hyperparameters given); return the model directory."""

    def train(**hyperparameters: object) -> Path:
        jobs = TrainingJobs(tmp_path_factory.mktemp("linear"))
        tree, result = jobs.train(
            "fixture-linear", {"epochs": 1, **hyperparameters}, {"train": linear_data}
        )
        assert result.returncode == 0, result.failure
        return tree.model_dir

    return train


@pytest.fixture(scope="session")
def model_dir(train_linear: Callable[..., Path]) -> Path:
    """A fixture-linear model; tests copy it before changing anything in it."""
    return train_linear()
