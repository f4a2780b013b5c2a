"""XGBoost passes ``algoport check`` on its demo data; libsvm requests come from a sample file,
the one request type the core cannot write from CSV features."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from algoport.testing import check_algorithm


def test_passes_every_check(tmp_path: Path, formats: Any) -> None:
    demo = resources.files("algoport_xgboost") / "demo_data" / "breast_cancer.csv"
    with resources.as_file(demo) as train:
        sample = tmp_path / "sample.libsvm"
        features = np.loadtxt(train, delimiter=",", max_rows=5)[:, 1:]
        sample.write_text(formats.libsvm(features, None, base=0))
        result = check_algorithm(
            "xgboost",
            {"train": train},
            {"objective": "binary:logistic", "num_round": 5},
            content_types={"train": "text/csv"},
            inputs={"text/libsvm": sample, "text/x-libsvm": sample},
        )
    assert not result.failed, result.report()
    assert not [c for c in result.checks if c.outcome == "skipped"], result.report()
