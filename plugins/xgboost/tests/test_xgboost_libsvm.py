"""text/libsvm: training on it, libsvm requests, and what goes wrong said precisely."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import scipy.sparse
import xgboost as xgb

from algoport import DataError
from algoport.channels import Channel
from algoport.media import MediaType
from algoport.plugins import ALGORITHMS_GROUP, discover, load_algorithm
from algoport.testing import ServeProcess, csv_text, prediction_records

HYPERPARAMETERS = {"num_round": 6, "max_depth": 3, "nthread": 2, "objective": "reg:squarederror"}
N_FEATURES = 12


def sparse_problem(rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    features = np.round(rng.normal(size=(rows, N_FEATURES)), 3)
    features[rng.random(features.shape) < 0.6] = 0.0
    features[:, -1] = np.where(np.arange(rows) % 7 == 0, 1.5, 0.0)  # the last index is used
    labels = 2 * features[:, 0] - features[:, 3] + features[:, -1]
    return features, labels


def plain_xgboost(train_x: np.ndarray, train_y: np.ndarray) -> xgb.Booster:
    params = {k: v for k, v in HYPERPARAMETERS.items() if k != "num_round"}
    matrix = xgb.DMatrix(scipy.sparse.csr_matrix(train_x), label=train_y)
    return xgb.train(params, matrix, HYPERPARAMETERS["num_round"])


@pytest.fixture(scope="module")
def libsvm_server(module_training_jobs: Any, formats: Any) -> Iterator[tuple[ServeProcess, Any]]:
    train_x, train_y = sparse_problem(300, seed=1)
    tree, result = module_training_jobs.train(
        "xgboost",
        HYPERPARAMETERS,
        {"train": formats.libsvm(train_x, train_y, base=1)},
        content_type="text/libsvm",
    )
    assert result.returncode == 0, result.failure or result.stderr
    with ServeProcess(tree.model_dir, "xgboost") as server:
        yield server, plain_xgboost(train_x, train_y)


def post(server: ServeProcess, body: str, content_type: str) -> Any:
    return server.client.post(
        "/invocations",
        content=body,
        headers={"Content-Type": content_type, "Accept": "application/json"},
    )


def test_libsvm_training_and_libsvm_requests_match_plain_xgboost(
    libsvm_server: tuple[ServeProcess, xgb.Booster], formats: Any
) -> None:
    server, booster = libsvm_server
    test_x, _ = sparse_problem(40, seed=2)

    reply = post(server, formats.libsvm(test_x, None, base=1), "text/libsvm")

    assert reply.status_code == 200, reply.text
    got = np.array([r["score"] for r in formats.predictions(reply.content)], dtype=np.float32)
    expected = booster.predict(xgb.DMatrix(scipy.sparse.csr_matrix(test_x)))
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


def test_libsvm_request_lines_may_carry_a_label(
    libsvm_server: tuple[ServeProcess, xgb.Booster], formats: Any
) -> None:
    server, _ = libsvm_server
    test_x, test_y = sparse_problem(5, seed=3)

    with_labels = post(server, formats.libsvm(test_x, test_y), "text/libsvm")
    without = post(server, formats.libsvm(test_x, None), "text/libsvm")

    assert with_labels.status_code == 200, with_labels.text
    assert with_labels.json() == without.json()


def test_a_libsvm_request_beyond_the_trained_features_is_a_400_naming_both_counts(
    libsvm_server: tuple[ServeProcess, xgb.Booster],
) -> None:
    server, _ = libsvm_server

    reply = post(server, f"1:0.5 {N_FEATURES + 5}:1.0\n", "text/libsvm")

    assert reply.status_code == 400
    error = reply.json()["error"]
    assert f"feature index {N_FEATURES + 5}" in error
    assert f"trained on {N_FEATURES} features" in error


def test_a_csv_request_with_more_features_is_a_400_naming_both_counts(
    libsvm_server: tuple[ServeProcess, xgb.Booster],
) -> None:
    server, _ = libsvm_server
    row = ",".join(["0.5"] * (N_FEATURES + 2))

    reply = post(server, row + "\n", "text/csv")

    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/json")
    error = reply.json()["error"]
    assert f"{N_FEATURES + 2} features" in error and f"{N_FEATURES} the model" in error


def test_a_malformed_libsvm_request_is_a_400_naming_the_line(
    libsvm_server: tuple[ServeProcess, xgb.Booster],
) -> None:
    server, _ = libsvm_server

    reply = post(server, "1:0.5 2:0.1\n3:abc\n", "text/libsvm")

    assert reply.status_code == 400
    assert "line 2" in reply.json()["error"] and "'abc'" in reply.json()["error"]


def test_zero_based_libsvm_is_recognised(training_jobs: Any, formats: Any) -> None:
    train_x, train_y = sparse_problem(200, seed=4)
    train_x[:, 0] = np.where(train_x[:, 0] == 0, 0.25, train_x[:, 0])  # index 0 always present
    tree, result = training_jobs.train(
        "xgboost",
        HYPERPARAMETERS,
        {"train": formats.libsvm(train_x, train_y, base=0)},
        content_type="text/libsvm",
    )
    assert result.returncode == 0, result.failure

    with ServeProcess(tree.model_dir, "xgboost") as server:
        reply = post(server, formats.libsvm(train_x[:10], None, base=0), "text/libsvm")

    assert reply.status_code == 200, reply.text
    got = np.array([r["score"] for r in formats.predictions(reply.content)], dtype=np.float32)
    expected = plain_xgboost(train_x, train_y).predict(
        xgb.DMatrix(scipy.sparse.csr_matrix(train_x[:10]))
    )
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 1:0.5\n0 2:abc\n", "line 2 has 'abc' where a value belongs"),
        ("1 1:0.5\n\n0 2 3\n", "line 3 has token '2'"),
        ("1.5,0.5,3\n", "set the channel's ContentType to text/csv"),
        ("1 1:0.5 3:1 1:2\n", "line 1 repeats feature index 1"),
        ("1 qid:1 1:0.5\n0 1:0.2\n", "1 of 2 lines have a qid"),
    ],
)
def test_malformed_libsvm_training_data_names_file_and_line(
    training_jobs: Any, text: str, expected: str
) -> None:
    _, result = training_jobs.train(
        "xgboost", {"num_round": 2}, {"train": text}, content_type="text/libsvm"
    )

    assert result.returncode == 2
    assert result.failure is not None
    assert result.failure.startswith("User error: Channel 'train', file train.libsvm")
    assert expected in result.failure


def test_ranking_reads_qid_groups(training_jobs: Any) -> None:
    lines = [f"{i % 3} qid:{i // 6} 1:{i % 5} 2:{(i * 7) % 11}" for i in range(60)]

    _, result = training_jobs.train(
        "xgboost",
        {"num_round": 3, "objective": "rank:pairwise", "eval_metric": "ndcg"},
        {"train": "\n".join(lines) + "\n"},
        content_type="text/libsvm",
    )

    assert result.returncode == 0, result.failure
    assert "#metric train:ndcg=" in result.stdout


def test_libsvm_is_the_default_training_content_type(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "xgboost", {"num_round": 2}, {"train": "1 1:0.5 2:1\n0 1:0.1\n"}, content_type=None
    )

    assert result.returncode == 0, result.failure


def libsvm_channel(directory: Path, files: dict[str, str]) -> Channel:
    """A File-mode text/libsvm channel read with the xgboost algorithm's formats."""
    for name, text in files.items():
        (directory / name).write_text(text)
    formats = load_algorithm(discover(ALGORITHMS_GROUP)["xgboost"], {}).formats()
    return Channel("train", directory, MediaType.parse("text/libsvm"), "File", formats=formats)


def test_channel_read_reads_libsvm_through_the_plugins_format(tmp_path: Path) -> None:
    channel = libsvm_channel(tmp_path, {"a.libsvm": "1 1:0.5 3:2\n", "b.libsvm": "0 2:1.5\n"})

    dataset = channel.read()

    # Columns are indices as written, so files naming fewer indices line up.
    assert dataset.features.toarray().tolist() == [[0, 0.5, 0, 2], [0, 0, 1.5, 0]]
    assert dataset.labels is not None
    assert dataset.labels.tolist() == [1, 0]
    with channel.open_epoch(1) as epoch:
        assert sum(chunk.features.shape[0] for chunk in epoch.chunks(chunk_bytes=4)) == 2


def test_channel_read_of_bad_libsvm_names_the_file_and_line(tmp_path: Path) -> None:
    channel = libsvm_channel(tmp_path, {"a.libsvm": "1 1:0.5\n0 2:x\n"})

    with pytest.raises(DataError) as raised:
        channel.read()
    assert str(raised.value).startswith("Channel 'train', file a.libsvm: libsvm text, line 2 has")


def _scores(server: ServeProcess, body: str, content_type: str) -> np.ndarray:
    reply = post(server, body, content_type)
    assert reply.status_code == 200, reply.text
    return np.array([r["score"] for r in prediction_records(reply.content)])


def test_a_csv_trained_model_reads_libsvm_index_j_as_csv_column_j(training_jobs: Any) -> None:
    """Never a per-request guess: a row without index 0 is not read as 1-based."""
    train_x, train_y = sparse_problem(300, seed=2)
    tree, result = training_jobs.train(
        "xgboost", HYPERPARAMETERS, {"train": csv_text(train_x, train_y)}
    )
    assert result.returncode == 0, result.failure
    rows = train_x[:8]
    # Feature 0 absent from libsvm, empty in CSV: both say "missing"; every other one given.
    as_libsvm = "".join(
        " ".join(f"{j}:{float(v)!r}" for j, v in enumerate(row) if j > 0) + "\n" for row in rows
    )
    as_csv = "".join("," + ",".join(repr(float(v)) for v in row[1:]) + "\n" for row in rows)
    metadata = tree.model_dir / "xgboost-metadata.json"
    assert json.loads(metadata.read_text())["libsvm_index_base"] == 0

    with ServeProcess(tree.model_dir, "xgboost") as server:
        from_csv = _scores(server, as_csv, "text/csv")
        from_libsvm = _scores(server, as_libsvm, "text/libsvm")
    np.testing.assert_array_equal(from_libsvm, from_csv)

    # A model saved before the base was recorded (metadata version 1: null after CSV).
    old = {**json.loads(metadata.read_text()), "libsvm_index_base": None, "metadata_version": 1}
    metadata.write_text(json.dumps(old))
    with ServeProcess(tree.model_dir, "xgboost") as server:
        np.testing.assert_array_equal(_scores(server, as_libsvm, "text/libsvm"), from_csv)


def test_a_one_based_model_refuses_index_0_instead_of_guessing(libsvm_server: Any) -> None:
    server, _ = libsvm_server

    reply = post(server, "0:1.5 3:0.25\n", "text/libsvm")

    assert reply.status_code == 400
    assert reply.json()["error"] == (
        "The libsvm request, line 1 has feature index 0, but indices count from 1 here. "
        "Indices must all count from 0 or all from 1."
    )
