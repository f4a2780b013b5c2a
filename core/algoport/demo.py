"""``algoport demo``: train XGBoost through the real contract, serve it, predict, transform."""

from __future__ import annotations

import json
import time
from importlib import resources
from pathlib import Path

import numpy as np

from algoport.errors import PluginError
from algoport.local import runner
from algoport.local.layout import ChannelInput
from algoport.local.transform import Endpoint, TransformSettings, run_transform
from algoport.plugins import ALGORITHMS_GROUP, discover

ALGORITHM = "xgboost"
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "num_round": "60",
    "eta": "0.2",
    "max_depth": "4",
    "eval_metric": "auc",
    "seed": "7",
}


def split_data(workdir: Path) -> tuple[Path, Path, Path, np.ndarray]:
    """Train, validation and test files from the bundled data; test without its labels."""
    source = resources.files("algoport") / "demo_data" / "breast_cancer.csv"
    lines = source.read_text().splitlines()
    order = np.random.default_rng(7).permutation(len(lines))
    shuffled = [lines[i] for i in order]
    n_train, n_valid = int(0.7 * len(lines)), int(0.15 * len(lines))
    data = workdir / "data"
    for name, part in (
        ("train", shuffled[:n_train]),
        ("validation", shuffled[n_train : n_train + n_valid]),
    ):
        (data / name).mkdir(parents=True, exist_ok=True)
        (data / name / f"{name}.csv").write_text("\n".join(part) + "\n")
    test = shuffled[n_train + n_valid :]
    (data / "test").mkdir(exist_ok=True)
    (data / "test" / "test.csv").write_text("".join(line.split(",", 1)[1] + "\n" for line in test))
    labels = np.array([int(line.split(",", 1)[0]) for line in test])
    return data / "train", data / "validation", data / "test" / "test.csv", labels


def predicted_labels(jsonlines: bytes) -> np.ndarray:
    labels = []
    for line in jsonlines.decode().splitlines():
        record = json.loads(line)
        if "predicted_label" in record:
            labels.append(int(record["predicted_label"]))
        else:
            labels.append(int(float(record["score"]) > 0.5))
    return np.array(labels)


def run_demo(workdir: Path) -> int:
    workdir = workdir.resolve()
    if ALGORITHM not in discover(ALGORITHMS_GROUP):
        raise PluginError(
            "algoport demo trains XGBoost, and algoport-xgboost is not installed: "
            "`pip install -e plugins/xgboost` (or `python3 dev.py demo`, which installs it)."
        )
    started = time.monotonic()
    workdir.mkdir(parents=True, exist_ok=True)
    train_dir, valid_dir, test_file, test_labels = split_data(workdir)
    job_dir = runner.new_job_dir(workdir, "demo-training")
    channels = [
        ChannelInput("train", train_dir, "text/csv"),
        ChannelInput("validation", valid_dir, "text/csv"),
    ]
    outcome = runner.train(job_dir, ALGORITHM, channels, HYPERPARAMETERS)
    if outcome.model_tarball is None:
        print(f"demo: training failed: {(outcome.failure or '').strip()}")
        return outcome.returncode
    model_dir = runner.prepare_model(outcome.model_tarball, job_dir / "endpoint")
    server = runner.start_server(model_dir, None)
    try:
        endpoint = Endpoint(server.url)
        first = test_file.read_text().splitlines()[:3]
        csv_status, csv_reply = endpoint.request(
            "POST",
            "/invocations",
            ("\n".join(first) + "\n").encode(),
            {"Content-Type": "text/csv", "Accept": "text/csv"},
        )
        rows = [[float(v) for v in line.split(",")] for line in first]
        json_status, json_reply = endpoint.request(
            "POST",
            "/invocations",
            json.dumps({"instances": rows}).encode(),
            {"Content-Type": "application/json", "Accept": "application/json"},
        )
        output = job_dir / "transform"
        settings = TransformSettings(content_type="text/csv", accept="application/jsonlines")
        results = run_transform(server.url, [test_file], output, settings)
    finally:
        server.stop()
    result = results[0]
    if result.output is None:
        print(f"demo: batch transform failed: {result.error}")
        return 1
    accuracy = float(np.mean(predicted_labels(result.output.read_bytes()) == test_labels))
    print()
    print("algoport demo: XGBoost on the breast-cancer data, through train → model.tar.gz → serve")
    print(f"  real-time, text/csv ({csv_status}): {csv_reply.decode().strip().splitlines()}")
    print(f"  real-time, application/json ({json_status}): {json_reply.decode().strip()}")
    batches = f"{result.records} records in {result.batches} request(s)"
    print(f"  batch transform: {batches} → {result.output}")
    print(f"  test accuracy: {accuracy:.3f} on {len(test_labels)} held-out records")
    print(f"  model: {outcome.model_tarball}")
    print(f"  job directory: {job_dir}")
    print(f"  total time: {time.monotonic() - started:.1f} s")
    return 0
