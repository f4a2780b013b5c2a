"""recordio-protobuf written by the SageMaker Python SDK trains through a Pipe-mode channel.

The SDK lives in a virtual environment of its own (see tests/sdk): .ci/run makes one and sets
ALGOPORT_SDK_PYTHON. Without it this test is skipped and says why.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import xgboost as xgb

from algoport.testing import PipeFeeder, TrainingJobs, csv_text, run_train

SDK_PYTHON = os.environ.get("ALGOPORT_SDK_PYTHON")
WRITER = Path(__file__).resolve().parents[3] / "tests" / "sdk" / "write_with_sdk.py"
HYPERPARAMETERS = {"num_round": 10, "max_depth": 3, "seed": 1, "nthread": 1}

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not SDK_PYTHON, reason="ALGOPORT_SDK_PYTHON names no Python with the SageMaker SDK"
    ),
]


def test_sdk_records_in_pipe_mode_train_the_model_of_the_same_csv(
    training_jobs: TrainingJobs, tmp_path: Path
) -> None:
    subprocess.run([str(SDK_PYTHON), str(WRITER), str(tmp_path)], check=True)
    features = np.load(tmp_path / "dense-float64-features.npy")
    labels = np.load(tmp_path / "dense-float64-labels.npy")
    expected, result = training_jobs.train(
        "xgboost", HYPERPARAMETERS, {"train": csv_text(features, labels)}
    )
    assert result.returncode == 0, result.failure
    tree = training_jobs.lay_out(HYPERPARAMETERS, {})
    tree.channel("train", {}, content_type="application/x-recordio-protobuf", input_mode="Pipe")
    prefix = tree.paths.data_dir / "train"
    prefix.rmdir()  # Pipe mode has FIFOs train_0, train_1… and no directory

    with PipeFeeder(prefix, [tmp_path / "dense-float64.rec"]):
        streamed = run_train(tree, "xgboost", timeout=120)

    assert streamed.returncode == 0, streamed.failure or streamed.stderr
    boosters = [
        xgb.Booster(model_file=str(t.model_dir / "xgboost-model.ubj")) for t in (tree, expected)
    ]
    got, want = (np.asarray(b.predict(xgb.DMatrix(features))) for b in boosters)
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)
