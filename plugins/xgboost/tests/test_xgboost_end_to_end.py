"""Train with the real ``train`` process, serve with the real ``serve`` process, and compare
every prediction with plain ``xgboost.train`` on the same data and parameters."""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes, load_iris

from algoport.formats import recordio, recordio_protobuf
from algoport.testing import ServeProcess

COMMON = {"num_round": 8, "max_depth": 3, "eta": 0.3, "nthread": 2, "seed": 7}
PROBLEMS: dict[str, tuple[Callable[..., Any], dict[str, Any], str]] = {
    "binary": (load_breast_cancer, {"objective": "binary:logistic"}, "score"),
    "multiclass": (load_iris, {"objective": "multi:softprob", "num_class": 3}, "probabilities"),
    "regression": (load_diabetes, {"objective": "reg:squarederror"}, "score"),
}


@dataclass
class Served:
    problem: str
    server: ServeProcess
    features: np.ndarray
    expected: np.ndarray
    main_column: str

    def post(self, body: bytes | str, content_type: str, accept: str = "application/json") -> Any:
        return self.server.client.post(
            "/invocations", content=body, headers={"Content-Type": content_type, "Accept": accept}
        )


@pytest.fixture(scope="module", params=list(PROBLEMS))
def served(
    request: pytest.FixtureRequest, module_training_jobs: Any, formats: Any
) -> Iterator[Served]:
    loader, hyperparameters, main_column = PROBLEMS[request.param]
    features, labels = loader(return_X_y=True)
    held_out = np.arange(len(labels)) % 4 == 0
    train_x, train_y = features[~held_out], labels[~held_out]
    test_x, test_y = features[held_out], labels[held_out]
    tree, result = module_training_jobs.train(
        "xgboost",
        {**COMMON, **hyperparameters},
        {
            "train": formats.csv(train_x, train_y),
            "validation": formats.csv(test_x, test_y),
        },
    )
    assert result.returncode == 0, result.failure or result.stderr
    params = {k: v for k, v in {**COMMON, **hyperparameters}.items() if k != "num_round"}
    booster = xgb.train(params, xgb.DMatrix(train_x, label=train_y), COMMON["num_round"])
    expected = booster.predict(xgb.DMatrix(test_x))
    with ServeProcess(tree.model_dir, "xgboost") as server:
        yield Served(request.param, server, test_x, expected, main_column)


def test_served_predictions_equal_plain_xgboost(served: Served, formats: Any) -> None:
    reply = served.post(formats.csv(served.features), "text/csv")

    assert reply.status_code == 200, reply.text
    records = formats.predictions(reply.content)
    got = np.array([record[served.main_column] for record in records], dtype=np.float32)
    np.testing.assert_allclose(got, served.expected, rtol=1e-6, atol=1e-6)


def test_classifiers_answer_a_predicted_label(served: Served, formats: Any) -> None:
    records = formats.predictions(served.post(formats.csv(served.features), "text/csv").content)

    if served.problem == "regression":
        assert set(records[0]) == {"score"}
        return
    labels = [record["predicted_label"] for record in records]
    if served.problem == "binary":
        assert labels == [int(p > 0.5) for p in served.expected]
    else:
        assert labels == np.argmax(served.expected, axis=1).tolist()


def test_csv_reply_has_one_line_per_record(served: Served, formats: Any) -> None:
    reply = served.post(formats.csv(served.features), "text/csv", accept="text/csv")

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/csv")
    rows = [line.split(",") for line in reply.text.splitlines()]
    assert len(rows) == len(served.features)
    # The built-in's single output first (score or probabilities), then predicted_label.
    width = {"binary": 2, "multiclass": 4, "regression": 1}[served.problem]
    assert {len(row) for row in rows} == {width}
    first = np.array(
        [[float(v) for v in row[: width - (served.problem != "regression")]] for row in rows],
        dtype=np.float32,
    )
    np.testing.assert_allclose(first.squeeze(), served.expected, rtol=1e-6, atol=1e-6)


def test_verbose_accept_answers_every_key_of_the_objective(served: Served, formats: Any) -> None:
    reply = served.post(
        formats.csv(served.features[:3]), "text/csv", "application/json;verbose=true"
    )

    assert reply.status_code == 200, reply.text
    record = formats.predictions(reply.content)[0]
    expected_keys = {
        "binary": {
            "predicted_label",
            "labels",
            "probability",
            "probabilities",
            "raw_score",
            "raw_scores",
        },
        "multiclass": {
            "predicted_label",
            "labels",
            "probability",
            "probabilities",
            "raw_score",
            "raw_scores",
        },
        "regression": {"score"},
    }[served.problem]
    assert set(record) == expected_keys
    if served.problem == "binary":
        assert record["labels"] == [0, 1]
        assert record["probabilities"][1] == pytest.approx(record["probability"])
        assert 1 / (1 + np.exp(-record["raw_score"])) == pytest.approx(record["probability"])


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/jsonlines",
        "application/x-npy",
        "application/x-recordio-protobuf",
    ],
)
def test_every_accepted_request_type_gives_the_same_predictions(
    served: Served, formats: Any, content_type: str
) -> None:
    rows = served.features[:5]
    if content_type == "application/json":
        body: bytes | str = json.dumps({"instances": [{"features": r.tolist()} for r in rows]})
    elif content_type == "application/jsonlines":
        body = "".join(json.dumps({"features": r.tolist()}) + "\n" for r in rows)
    elif content_type == "application/x-npy":
        buffer = io.BytesIO()
        np.save(buffer, rows)
        body = buffer.getvalue()
    else:  # what the SageMaker SDK's RecordSerializer sends
        body = recordio_protobuf.encode_records_from_array(rows)

    reply = served.post(body, content_type)

    assert reply.status_code == 200, reply.text
    got = [record[served.main_column] for record in formats.predictions(reply.content)]
    np.testing.assert_allclose(np.array(got, dtype=np.float32), served.expected[:5], rtol=1e-6)


@pytest.mark.parametrize("accept", ["application/jsonlines", "application/x-recordio-protobuf"])
def test_other_reply_types(served: Served, formats: Any, accept: str) -> None:
    reply = served.post(formats.csv(served.features[:4]), "text/csv", accept)

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith(accept)
    if accept == "application/jsonlines":
        assert len(reply.text.splitlines()) == 4
    else:
        assert len(recordio.split_records(reply.content)) == 4
