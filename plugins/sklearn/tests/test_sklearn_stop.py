"""SIGTERM (StopTrainingJob) during random-forest training: the forest grown so far is
saved, as SageMaker's stop grace period allows, and it serves."""

from __future__ import annotations

import signal
import subprocess
import time
from typing import Any

from algoport.testing import ServeProcess, command

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
