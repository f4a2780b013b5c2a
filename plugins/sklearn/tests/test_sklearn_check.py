"""Every algorithm of the package passes ``algoport check`` (as its sellers would run it)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from algoport.testing import check_algorithm

JOBS = {
    "random-forest": (
        "binary_classifier",
        {"predictor_type": "binary_classifier", "num_trees": 10},
    ),
    "linear": ("regressor", {"predictor_type": "regressor"}),
    "kmeans": ("unlabelled", {"k": 3}),
}


@pytest.mark.parametrize("algorithm", sorted(JOBS))
def test_passes_every_check(algorithm: str, tmp_path: Path, sklearn_kit: Any) -> None:
    kind, hyperparameters = JOBS[algorithm]
    data = sklearn_kit.split("binary_classifier" if kind == "unlabelled" else kind)
    labels = None if kind == "unlabelled" else data.train_y
    train = tmp_path / "train.csv"
    train.write_text(sklearn_kit.csv(data.train_x[:200], None if labels is None else labels[:200]))
    result = check_algorithm(algorithm, {"train": train}, hyperparameters)
    assert not result.failed, result.report()
