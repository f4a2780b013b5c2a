"""The SageMaker Python SDK's LinearLearner and KMeans as clients: the records its writer
makes and the hyperparameters its estimators send train ``linear`` and ``kmeans``.

The SDK lives in a virtual environment of its own (its pins clash with algoport's): .ci/run
makes one and sets ALGOPORT_SDK_PYTHON. Without it these tests are skipped and say why.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from algoport.testing import SageMakerTree, ServeProcess, run_train

SDK_PYTHON = os.environ.get("ALGOPORT_SDK_PYTHON")
pytestmark = pytest.mark.skipif(
    not SDK_PYTHON, reason="ALGOPORT_SDK_PYTHON names no Python with the SageMaker SDK"
)
DATASETS = {"linear": "binary_classifier", "kmeans": "multiclass_classifier"}


@pytest.fixture(scope="module")
def sdk_files(tmp_path_factory: pytest.TempPathFactory, sklearn_kit: Any) -> Path:
    out = tmp_path_factory.mktemp("sdk")
    for algorithm, dataset in DATASETS.items():
        data = sklearn_kit.split(dataset)
        np.save(out / f"{algorithm}-features.npy", data.train_x.astype(np.float32))
        if algorithm == "linear":
            np.save(out / f"{algorithm}-labels.npy", data.train_y.astype(np.float32))
    script = Path(__file__).with_name("sdk_estimators.py")
    subprocess.run([str(SDK_PYTHON), str(script), str(out)], check=True)
    return out


@pytest.mark.parametrize("algorithm", ["linear", "kmeans"])
def test_the_sdks_records_and_hyperparameters_train(
    sdk_files: Path, tmp_path: Path, sklearn_kit: Any, algorithm: str
) -> None:
    tree = SageMakerTree(tmp_path / "opt_ml")
    sent = json.loads((sdk_files / f"{algorithm}-hyperparameters.json").read_text())
    assert "mini_batch_size" in sent  # the SDK always sends it
    tree.raw_hyperparameters(sent)
    tree.channel(
        "train",
        {"train.rec": (sdk_files / f"{algorithm}.rec").read_bytes()},
        content_type="application/x-recordio-protobuf",
    )

    result = run_train(tree, algorithm)

    assert result.returncode == 0, result.failure or result.stderr
    assert "solver auto: streaming" in result.stderr
    data = sklearn_kit.split(DATASETS[algorithm])
    with ServeProcess(tree.model_dir, algorithm) as server:
        reply = server.client.post(
            "/invocations",
            content=sklearn_kit.csv(data.test_x),
            headers={"Content-Type": "text/csv"},
        )
    assert reply.status_code == 200, reply.text
    records = sklearn_kit.predictions(reply.content)
    if algorithm == "linear":
        labels = sklearn_kit.column(records, "predicted_label")
        assert (labels == data.test_y).mean() >= 0.9
    else:
        assert sorted(set(sklearn_kit.column(records, "closest_cluster"))) == [0, 1, 2]
