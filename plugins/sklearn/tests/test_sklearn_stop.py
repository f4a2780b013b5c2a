"""SIGTERM (StopTrainingJob) during training: random-forest saves the forest grown so far,
as SageMaker's stop grace period allows, and it serves; a streaming run writes a checkpoint
and no model, and a restarted job resumes from it."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

import pytest

from algoport.testing import ServeProcess, command, run_train

TREES = 10_000  # far more than can grow before the signal


def test_sigterm_keeps_the_trees_grown_so_far(training_jobs: Any, sklearn_kit: Any) -> None:
    data = sklearn_kit.split("binary_classifier")
    tree = training_jobs.lay_out(
        {"predictor_type": "binary_classifier", "num_trees": TREES},
        {"train": sklearn_kit.csv(data.train_x, data.train_y)},
    )
    process = subprocess.Popen(
        command("train"),
        env=tree.env("random-forest"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "training 'local-training-job' with algorithm 'random-forest'" in line:
            break
    time.sleep(0.5)
    process.send_signal(signal.SIGTERM)
    log = process.stderr.read()
    assert process.wait(timeout=60) == 0, log

    assert "stop requested: keeping the forest with " in log
    grown = int(log.split("keeping the forest with ")[1].split(" of ")[0])
    assert 0 < grown < TREES
    with ServeProcess(tree.model_dir, "random-forest") as server:
        reply = server.client.post(
            "/invocations",
            content=sklearn_kit.csv(data.test_x),
            headers={"Content-Type": "text/csv"},
        )
    assert reply.status_code == 200, reply.text
    labels = sklearn_kit.column(sklearn_kit.predictions(reply.content), "predicted_label")
    assert (labels == data.test_y).mean() >= 0.9


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "labelled"),
    [
        ("linear", {"predictor_type": "binary_classifier", "mini_batch_size": 4}, True),
        ("kmeans", {"k": 3, "mini_batch_size": 6}, False),
    ],
)
def test_sigterm_checkpoints_a_streaming_run_that_a_restart_finishes(
    training_jobs: Any,
    sklearn_kit: Any,
    algorithm: str,
    hyperparameters: dict[str, Any],
    labelled: bool,
) -> None:
    data = sklearn_kit.split("binary_classifier")
    labels = data.train_y if labelled else None
    tree = training_jobs.lay_out(
        {**hyperparameters, "epochs": 100_000}, {"train": sklearn_kit.csv(data.train_x, labels)}
    )
    process = subprocess.Popen(
        command("train"),
        env=tree.env(algorithm),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if "epoch 1 of 100000" in line:
            break
    process.send_signal(signal.SIGTERM)
    log = process.stderr.read()
    assert process.wait(timeout=60) == 0, log

    assert "stopped during epoch " in log
    (checkpoint,) = tree.paths.default_checkpoint_dir.iterdir()
    assert checkpoint.name.startswith(f"{algorithm}-checkpoint-")
    assert not (tree.model_dir / "model.skops").exists()

    done = int(checkpoint.name.rpartition("-")[2])
    tree.hyperparameters({**hyperparameters, "epochs": done + 1})
    result = run_train(tree, algorithm)
    assert result.returncode == 0, result.stderr
    assert f"{done} epoch(s) already done" in result.stderr
    assert f"epoch {done + 1} of {done + 1}" in result.stderr
    with ServeProcess(tree.model_dir, algorithm) as server:
        reply = server.client.post(
            "/invocations",
            content=sklearn_kit.csv(data.test_x),
            headers={"Content-Type": "text/csv"},
        )
    assert reply.status_code == 200, reply.text
