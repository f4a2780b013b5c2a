"""algoport.testing, the harness plugin authors use: the job it lays out is the one SageMaker
would, and its helpers read what the core writes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from algoport.metrics import format_metric
from algoport.testing import (
    ServeProcess,
    TrainingJobs,
    csv_text,
    logged_metric,
    prediction_records,
)


def test_a_job_is_laid_out_as_sagemaker_lays_it_out(training_jobs: TrainingJobs) -> None:
    tree = training_jobs.lay_out(
        {"num_round": 3, "objective": "reg:squarederror"},
        {"train": "1 1:0.5\n", "validation": b"0 2:1\n"},
        content_type="text/libsvm;charset=utf-8",
    )

    assert json.loads(tree.paths.hyperparameters_file.read_text()) == {
        "num_round": "3",
        "objective": "reg:squarederror",
    }
    config = json.loads(tree.paths.input_data_config_file.read_text())
    assert config["train"]["ContentType"] == "text/libsvm;charset=utf-8"
    assert config["validation"]["TrainingInputMode"] == "File"
    assert (tree.paths.channel_dir("train") / "train.libsvm").read_text() == "1 1:0.5\n"
    assert (tree.paths.channel_dir("validation") / "validation.libsvm").read_bytes() == b"0 2:1\n"


def test_each_job_gets_its_own_tree_and_may_leave_the_content_type_out(
    training_jobs: TrainingJobs,
) -> None:
    first = training_jobs.lay_out({"eta": 0.1}, {"train": "1,2\n"}, json_encoded=True)
    second = training_jobs.lay_out({}, {"train": "1,2\n"}, content_type=None)

    assert first.root != second.root
    assert json.loads(first.paths.hyperparameters_file.read_text()) == {"eta": "0.1"}
    assert (first.paths.channel_dir("train") / "train.csv").is_file()
    assert "ContentType" not in json.loads(second.paths.input_data_config_file.read_text())["train"]
    assert (second.paths.channel_dir("train") / "train").is_file()


def test_csv_text_puts_the_label_first_and_keeps_every_digit() -> None:
    features = np.array([[0.1, 1e-300], [2.0, -3.5]])

    assert csv_text(features) == "0.1,1e-300\n2.0,-3.5\n"
    assert csv_text(features, np.array([1, 0])) == "1.0,0.1,1e-300\n0.0,2.0,-3.5\n"


def test_logged_metric_reads_the_line_the_core_prints() -> None:
    stdout = "\n".join(
        [format_metric("train:rmse", 0.75, step=0), format_metric("validation:rmse", 1.25)]
    )

    assert logged_metric(stdout, "validation:rmse") == 1.25
    assert logged_metric(stdout, "train:rmse") == 0.75
    with pytest.raises(AssertionError, match="metric validation:mae not logged in:"):
        logged_metric(stdout, "validation:mae")


def test_prediction_records_are_the_json_reply_s_records() -> None:
    body = b'{"predictions": [{"score": 0.5}, {"score": 1.5}]}'

    assert prediction_records(body) == [{"score": 0.5}, {"score": 1.5}]


def test_a_missing_httpx_is_named_with_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "httpx", None)
    server = ServeProcess(tmp_path / "model")

    with pytest.raises(ModuleNotFoundError) as raised:
        _ = server.client

    assert str(raised.value) == (
        "httpx is not installed; ServeProcess.client needs it. It is a test dependency of "
        'algoport: pip install "algoport[test]" (or pip install httpx).'
    )
