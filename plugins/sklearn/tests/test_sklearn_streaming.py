"""linear and kmeans with the streaming solver: File and Pipe mode through real FIFOs fed
by the core's feeder, text/csv and recordio-protobuf, the real ``train`` and ``serve``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans

from algoport.formats.recordio_protobuf import encode_records_from_array
from algoport.testing import PipeFeeder, SageMakerTree, ServeProcess, TrainResult, run_train

RECORDIO = "application/x-recordio-protobuf"
# Small data, small batches: enough steps to learn in a few epochs.
LINEAR_HPS: dict[str, Any] = {"mini_batch_size": 32, "epochs": 20, "learning_rate": 0.05}


def write_parts(directory: Path, parts: list[bytes], suffix: str) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number, content in enumerate(parts):
        path = directory / f"part-{number}{suffix}"
        path.write_bytes(content)
        paths.append(path)
    return paths


def train_job(
    tree: SageMakerTree,
    algorithm: str,
    hyperparameters: dict[str, Any],
    files: list[Path],
    *,
    content_type: str,
    input_mode: str,
    validation: list[Path] | None = None,
) -> TrainResult:
    """Train on ``files`` in ``input_mode``; in Pipe mode each channel is fed through FIFOs."""
    tree.hyperparameters(hyperparameters)
    channels = {"train": files, **({"validation": validation} if validation else {})}
    for name, paths in channels.items():
        content = {} if input_mode == "Pipe" else {p.name: p.read_bytes() for p in paths}
        tree.channel(name, content, content_type=content_type, input_mode=input_mode)
    if input_mode != "Pipe":
        return run_train(tree, algorithm, timeout=300)
    feeders = []
    for name, paths in channels.items():
        prefix = tree.paths.data_dir / name
        prefix.rmdir()  # Pipe mode has FIFOs <channel>_0, _1… and no directory
        feeders.append(PipeFeeder(prefix, paths))
    for feeder in feeders:
        feeder.start()
    try:
        return run_train(tree, algorithm, timeout=300)
    finally:
        for feeder in feeders:
            feeder.stop()


def predict(tree: SageMakerTree, algorithm: str, features: np.ndarray, kit: Any) -> list[Any]:
    with ServeProcess(tree.model_dir, algorithm) as server:
        reply = server.client.post(
            "/invocations", content=kit.csv(features), headers={"Content-Type": "text/csv"}
        )
    assert reply.status_code == 200, reply.text
    records: list[Any] = kit.predictions(reply.content)
    return records


def csv_parts(kit: Any, features: np.ndarray, labels: np.ndarray | None) -> list[bytes]:
    """Three files, so an epoch spans several objects."""
    return [
        kit.csv(x, None if labels is None else y).encode()
        for x, y in zip(
            np.array_split(features, 3),
            np.array_split(labels if labels is not None else features, 3),
            strict=True,
        )
    ]


@pytest.mark.parametrize("predictor_type", ["binary_classifier", "multiclass_classifier"])
def test_pipe_and_fastfile_mode_train_the_same_model_as_file_mode(
    tmp_path: Path, sklearn_kit: Any, predictor_type: str
) -> None:
    data = sklearn_kit.split(predictor_type)
    files = write_parts(
        tmp_path / "data", csv_parts(sklearn_kit, data.train_x, data.train_y), ".csv"
    )
    hps = {"predictor_type": predictor_type, **LINEAR_HPS}
    answers = []
    for mode in ("File", "FastFile", "Pipe"):
        tree = SageMakerTree(tmp_path / mode / "opt_ml")
        result = train_job(tree, "linear", hps, files, content_type="text/csv", input_mode=mode)
        assert result.returncode == 0, result.failure or result.stderr
        assert "solver auto: streaming" in result.stderr
        answers.append(predict(tree, "linear", data.test_x, sklearn_kit))

    assert answers[0] == answers[1] == answers[2]
    labels = sklearn_kit.column(answers[2], "predicted_label")
    assert (labels == data.test_y).mean() >= 0.85


def test_recordio_protobuf_trains_as_csv_does(tmp_path: Path, sklearn_kit: Any) -> None:
    data = sklearn_kit.split("regressor")
    hps = {"predictor_type": "regressor", **LINEAR_HPS}
    csv_files = write_parts(
        tmp_path / "csv", csv_parts(sklearn_kit, data.train_x, data.train_y), ".csv"
    )
    records = encode_records_from_array(data.train_x, data.train_y)  # float64 tensors
    recordio_files = write_parts(tmp_path / "rec", [records], ".rec")
    answers = []
    for name, files, content_type in (
        ("csv", csv_files, "text/csv"),
        ("rec", recordio_files, RECORDIO),
    ):
        tree = SageMakerTree(tmp_path / name / "opt_ml")
        result = train_job(tree, "linear", hps, files, content_type=content_type, input_mode="Pipe")
        assert result.returncode == 0, result.failure or result.stderr
        answers.append(
            sklearn_kit.column(predict(tree, "linear", data.test_x, sklearn_kit), "score")
        )

    np.testing.assert_allclose(answers[0], answers[1], rtol=1e-9)
    errors = answers[1] - data.test_y
    assert 1 - (errors**2).sum() / ((data.test_y - data.test_y.mean()) ** 2).sum() > 0.4


def test_streaming_kmeans_in_pipe_mode_on_recordio(tmp_path: Path, sklearn_kit: Any) -> None:
    data = sklearn_kit.split("multiclass_classifier")
    files = write_parts(tmp_path / "rec", [encode_records_from_array(data.train_x)], ".rec")
    validation = write_parts(tmp_path / "val", [encode_records_from_array(data.test_x)], ".rec")
    tree = SageMakerTree(tmp_path / "opt_ml")
    hps = {"k": 3, "mini_batch_size": 30, "epochs": 5, "seed": 2}
    result = train_job(
        tree, "kmeans", hps, files, content_type=RECORDIO, input_mode="Pipe", validation=validation
    )
    assert result.returncode == 0, result.failure or result.stderr
    assert "epoch 5 of 5" in result.stderr

    exact = KMeans(n_clusters=3, random_state=2, n_init="auto").fit(data.train_x)
    exact_msd = (exact.transform(data.test_x).min(axis=1) ** 2).mean()
    assert sklearn_kit.metric(result.stdout, "validation:msd") < 1.3 * exact_msd
    records = predict(tree, "kmeans", data.test_x, sklearn_kit)
    assert sorted(set(sklearn_kit.column(records, "closest_cluster"))) == [0, 1, 2]


# What the SageMaker Python SDK's estimators write: every value a string (str() of the
# Python value, so booleans are "True"), mini_batch_size and feature_dim always.
SDK_LINEAR_LEARNER = {
    "feature_dim": "30",
    "mini_batch_size": "100",
    "predictor_type": "binary_classifier",
    "binary_classifier_model_selection_criteria": "accuracy",
    "target_recall": "0.8",
    "target_precision": "0.8",
    "positive_example_weight_mult": "balanced",
    "epochs": "15",
    "use_bias": "True",
    "num_models": "1",
    "num_calibration_samples": "10000000",
    "init_method": "normal",
    "init_scale": "0.07",
    "init_sigma": "0.01",
    "init_bias": "0.0",
    "optimizer": "adam",
    "loss": "logistic",
    "wd": "0.0001",
    "l1": "0.0",
    "momentum": "0.0",
    "learning_rate": "0.01",
    "beta_1": "0.9",
    "beta_2": "0.999",
    "bias_lr_mult": "10.0",
    "bias_wd_mult": "0.0",
    "use_lr_scheduler": "True",
    "lr_scheduler_step": "10",
    "lr_scheduler_factor": "0.99",
    "lr_scheduler_minimum_lr": "1e-05",
    "normalize_data": "True",
    "normalize_label": "False",
    "unbias_data": "True",
    "unbias_label": "False",
    "num_point_for_scaler": "10000",
    "margin": "1.0",
    "quantile": "0.5",
    "loss_insensitivity": "0.01",
    "huber_delta": "1.0",
    "early_stopping_patience": "3",
    "early_stopping_tolerance": "0.001",
    "num_classes": "2",
    "accuracy_top_k": "3",
    "f_beta": "1.0",
    "balance_multiclass_weights": "False",
}
SDK_KMEANS = {
    "force_dense": "True",
    "feature_dim": "4",
    "mini_batch_size": "5000",
    "k": "3",
    "init_method": "kmeans++",
    "local_lloyd_max_iter": "300",
    "local_lloyd_tol": "0.0001",
    "local_lloyd_num_trials": "1",
    "local_lloyd_init_method": "kmeans++",
    "half_life_time_size": "0",
    "epochs": "1",
    "extra_center_factor": "2",
    "eval_metrics": '["msd", "ssd"]',
}


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "dataset"),
    [
        ("linear", SDK_LINEAR_LEARNER, "binary_classifier"),
        ("kmeans", SDK_KMEANS, "multiclass_classifier"),
    ],
)
def test_the_sdk_estimators_hyperparameters_train(
    training_jobs: Any,
    sklearn_kit: Any,
    algorithm: str,
    hyperparameters: dict[str, str],
    dataset: str,
) -> None:
    data = sklearn_kit.split(dataset)
    labels = data.train_y if algorithm == "linear" else None
    tree = training_jobs.lay_out({}, {"train": sklearn_kit.csv(data.train_x, labels)})
    tree.raw_hyperparameters(hyperparameters)

    result = run_train(tree, algorithm)

    assert result.returncode == 0, result.failure or result.stderr
    assert "solver auto: streaming" in result.stderr
    assert "is accepted and changes nothing here" in result.stderr
    assert len(predict(tree, algorithm, data.test_x, sklearn_kit)) == len(data.test_x)


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "message"),
    [
        (
            "linear",
            {"predictor_type": "binary_classifier", "loss": "hinge_loss"},
            "Hyperparameter 'loss' is 'hinge_loss', which gives no probabilities",
        ),
        (
            "linear",
            {"predictor_type": "regressor", "loss": "softmax_loss"},
            "Hyperparameter 'loss' is 'softmax_loss', which does not fit predictor_type",
        ),
        (
            "linear",
            {"predictor_type": "binary_classifier", "num_models": 8},
            "Hyperparameter 'num_models' is 8: Linear Learner trains that many models",
        ),
        (
            "linear",
            {"predictor_type": "binary_classifier", "solver": "exact", "loss": "logistic"},
            None,
        ),
        (
            "kmeans",
            {"k": 3, "half_life_time_size": 100},
            "Hyperparameter 'half_life_time_size' is 100; algoport's k-means weighs",
        ),
        (
            "kmeans",
            {"k": 3, "mini_batch_size": 5, "extra_center_factor": 2},
            "Hyperparameter 'mini_batch_size' is 5, fewer than the k * extra_center_factor",
        ),
    ],
)
def test_settings_that_cannot_be_honoured_are_user_errors(
    training_jobs: Any,
    sklearn_kit: Any,
    algorithm: str,
    hyperparameters: dict[str, Any],
    message: str | None,
) -> None:
    data = sklearn_kit.split("binary_classifier")
    labels = data.train_y if algorithm == "linear" else None
    _, result = training_jobs.train(
        algorithm, hyperparameters, {"train": sklearn_kit.csv(data.train_x, labels)}
    )
    if message is None:
        assert result.returncode == 0, result.failure
        return
    assert result.returncode == 2, result.stderr
    assert message in (result.failure or "")


def test_a_bad_value_is_named_by_its_record_in_the_channel(
    training_jobs: Any, sklearn_kit: Any
) -> None:
    data = sklearn_kit.split("binary_classifier")
    features = data.train_x.copy()
    features[300, 4] = np.inf
    _, result = training_jobs.train(
        "linear",
        {"predictor_type": "binary_classifier", "mini_batch_size": 64, "num_point_for_scaler": 64},
        {"train": sklearn_kit.csv(features, data.train_y)},
    )
    assert result.returncode == 2
    assert (result.failure or "").startswith(
        "User error: Channel 'train': record 301, feature 5 is inf; expected a finite number."
    )


@pytest.mark.parametrize("algorithm", ["random-forest", "linear", "kmeans"])
def test_sharded_input_on_several_hosts_is_refused(
    sagemaker_tree: SageMakerTree, sklearn_kit: Any, algorithm: str
) -> None:
    data = sklearn_kit.split("binary_classifier")
    hps = {"k": 2} if algorithm == "kmeans" else {"predictor_type": "binary_classifier"}
    sagemaker_tree.hyperparameters(hps)
    sagemaker_tree.channel(
        "train",
        {"part-0.csv": sklearn_kit.csv(data.train_x, data.train_y)},
        content_type="text/csv;label_size=1",
        distribution="ShardedByS3Key",
    )
    sagemaker_tree.resources("algo-1", ("algo-1", "algo-2"))

    result = run_train(sagemaker_tree, algorithm)

    assert result.returncode == 2
    assert (result.failure or "").startswith(
        "User error: Channel 'train' is ShardedByS3Key over 2 hosts, but algorithm "
        f"{algorithm!r} trains on one host"
    )


def test_checkpoint_config_resumes_after_the_last_epoch(
    training_jobs: Any, sklearn_kit: Any
) -> None:
    data = sklearn_kit.split("binary_classifier")
    hps = {"predictor_type": "binary_classifier", "mini_batch_size": 50, "epochs": 2}
    tree = training_jobs.lay_out(hps, {"train": sklearn_kit.csv(data.train_x, data.train_y)})
    tree.paths.checkpoint_config_file.write_text(json.dumps({"LocalPath": str(tree.root / "ck")}))
    first = run_train(tree, "linear")
    assert first.returncode == 0, first.stderr
    assert sorted(p.name for p in (tree.root / "ck").iterdir()) == [
        "linear-checkpoint-000000001",
        "linear-checkpoint-000000002",
    ]

    tree.hyperparameters({**hps, "epochs": 4})
    second = run_train(tree, "linear")

    assert second.returncode == 0, second.stderr
    assert "resuming from checkpoint linear-checkpoint-000000002: 2 epoch(s)" in second.stderr
    assert "epoch 3 of 4" in second.stderr
    assert "epoch 1 of 4" not in second.stderr
