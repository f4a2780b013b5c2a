"""random-forest and linear, end to end: the real ``train`` and ``serve`` processes on
scikit-learn's bundled datasets, every prediction compared with a plain scikit-learn model
fitted on the same records with the same settings and seed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.linear_model import ElasticNet, LogisticRegression, Ridge
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from algoport.testing import ServeProcess

# Same library, same records, same seed: predictions agree to float64 round-off.
RTOL = 1e-9

# (algorithm, extra hyperparameters), by case name.
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "forest": ("random-forest", {"num_trees": 15, "max_depth": 8, "seed": 3}),
    "linear": ("linear", {"wd": 0.01}),
    "linear-l1": ("linear", {"wd": 0.01, "l1": 0.01, "seed": 5}),
}
PARAMS = [
    (case, predictor_type)
    for case in CASES
    for predictor_type in ("binary_classifier", "multiclass_classifier", "regressor")
    if not (case == "linear-l1" and predictor_type == "multiclass_classifier")
]


def reference_model(case: str, predictor_type: str, record_count: int) -> Any:
    """The estimator the plugin documents for these hyperparameters, built by hand."""
    regressor = predictor_type == "regressor"
    if case == "forest":
        forest = RandomForestRegressor if regressor else RandomForestClassifier
        return forest(n_estimators=15, max_depth=8, random_state=3)
    solver = {"max_iter": 1000, "tol": 1e-4}
    if case == "linear":
        if regressor:
            return make_pipeline(StandardScaler(), Ridge(alpha=record_count * 0.01, **solver))
        return make_pipeline(
            StandardScaler(), LogisticRegression(C=1 / (record_count * 0.01), **solver)
        )
    # l1 = wd = 0.01: an even elastic-net mix of total weight 0.02.
    if regressor:
        return make_pipeline(StandardScaler(), ElasticNet(alpha=0.02, l1_ratio=0.5, **solver))
    return make_pipeline(
        StandardScaler(),
        LogisticRegression(
            C=1 / (record_count * 0.02), l1_ratio=0.5, solver="saga", random_state=5, **solver
        ),
    )


@dataclass
class Served:
    algorithm: str
    predictor_type: str
    server: ServeProcess
    stdout: str
    test_x: np.ndarray
    test_y: np.ndarray
    reference: Any
    validation_predictions: np.ndarray

    @property
    def is_classifier(self) -> bool:
        return self.predictor_type != "regressor"

    def post(self, body: bytes | str, content_type: str, accept: str = "application/json") -> Any:
        return self.server.client.post(
            "/invocations", content=body, headers={"Content-Type": content_type, "Accept": accept}
        )


@pytest.fixture(scope="module", params=PARAMS, ids=lambda p: f"{p[0]}-{p[1]}")
def served(
    request: pytest.FixtureRequest, module_training_jobs: Any, sklearn_kit: Any
) -> Iterator[Served]:
    case, predictor_type = request.param
    algorithm, extra = CASES[case]
    data = sklearn_kit.split(predictor_type)
    tree, result = module_training_jobs.train(
        algorithm,
        {"predictor_type": predictor_type, **extra},
        {
            "train": sklearn_kit.csv(data.train_x, data.train_y),
            "validation": sklearn_kit.csv(data.test_x, data.test_y),
        },
        # Framework estimators JSON-encode every value; the linear cases test that spelling.
        json_encoded=algorithm == "linear",
    )
    assert result.returncode == 0, result.failure or result.stderr
    reference = reference_model(case, predictor_type, len(data.train_y))
    reference.fit(data.train_x, data.train_y)
    with ServeProcess(tree.model_dir, algorithm) as server:
        yield Served(
            algorithm,
            predictor_type,
            server,
            result.stdout,
            data.test_x,
            data.test_y,
            reference,
            reference.predict(data.test_x),
        )


def test_csv_predictions_equal_scikit_learn(served: Served, sklearn_kit: Any) -> None:
    reply = served.post(sklearn_kit.csv(served.test_x), "text/csv")

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("application/json")
    records = sklearn_kit.predictions(reply.content)
    assert len(records) == len(served.test_x)
    if served.is_classifier:
        labels = sklearn_kit.column(records, "predicted_label")
        assert labels.dtype.kind == "i"
        np.testing.assert_array_equal(labels, served.reference.predict(served.test_x))
        probabilities = served.reference.predict_proba(served.test_x)
        if served.predictor_type == "binary_classifier":
            assert list(records[0]) == ["score", "predicted_label"]
            served_probabilities = sklearn_kit.column(records, "score")
            probabilities = probabilities[:, 1]
        else:
            assert list(records[0]) == ["probabilities", "predicted_label"]
            served_probabilities = sklearn_kit.column(records, "probabilities")
        np.testing.assert_allclose(served_probabilities, probabilities, rtol=RTOL, atol=1e-15)
    else:
        np.testing.assert_allclose(
            sklearn_kit.column(records, "score"), served.reference.predict(served.test_x), rtol=RTOL
        )


def test_held_out_quality_is_what_the_model_family_reaches(
    served: Served, sklearn_kit: Any
) -> None:
    records = sklearn_kit.predictions(
        served.post(sklearn_kit.csv(served.test_x), "text/csv").content
    )
    if served.is_classifier:
        accuracy = accuracy_score(served.test_y, sklearn_kit.column(records, "predicted_label"))
        assert accuracy >= 0.9
    else:
        assert r2_score(served.test_y, sklearn_kit.column(records, "score")) >= 0.35


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [
        ("application/json", "json"),
        ("application/jsonlines", "jsonlines"),
        ("application/x-npy", "npy"),
    ],
)
def test_every_request_format_gives_the_csv_predictions(
    served: Served, sklearn_kit: Any, content_type: str, encode: str
) -> None:
    from_csv = served.post(sklearn_kit.csv(served.test_x), "text/csv").json()

    reply = served.post(getattr(sklearn_kit, encode)(served.test_x), content_type)

    assert reply.status_code == 200, reply.text
    assert reply.json() == from_csv


def test_csv_and_jsonlines_replies_hold_one_line_per_record(
    served: Served, sklearn_kit: Any
) -> None:
    body = sklearn_kit.csv(served.test_x[:5])
    records = sklearn_kit.predictions(served.post(body, "text/csv").content)

    csv_lines = served.post(body, "text/csv", accept="text/csv").text.splitlines()
    jsonl = served.post(body, "text/csv", accept="application/jsonlines").text.splitlines()

    assert len(csv_lines) == len(jsonl) == 5
    for line, record in zip(csv_lines, records, strict=True):
        cells = [float(cell) for cell in line.split(",")]
        if served.predictor_type == "multiclass_classifier":
            assert cells == [*record["probabilities"], record["predicted_label"]]
        else:
            assert cells == list(record.values())  # score, then the label of a classifier


def test_recordio_protobuf_is_produced(served: Served, sklearn_kit: Any) -> None:
    reply = served.post(
        sklearn_kit.csv(served.test_x[:3]), "text/csv", accept="application/x-recordio-protobuf"
    )

    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"] == "application/x-recordio-protobuf"
    assert reply.content[:4] == (0xCED7230A).to_bytes(4, "little")  # RecordIO magic


def test_validation_metrics_are_scikit_learn_scores(served: Served, sklearn_kit: Any) -> None:
    truth, predicted = served.test_y, served.validation_predictions
    if served.is_classifier:
        average = "binary" if served.predictor_type == "binary_classifier" else "macro"
        expected = {
            "validation:accuracy": accuracy_score(truth, predicted),
            "validation:f1": f1_score(truth, predicted, average=average),
        }
        absent = "validation:rmse"
    else:
        expected = {
            "validation:rmse": np.sqrt(mean_squared_error(truth, predicted)),
            "validation:r2": r2_score(truth, predicted),
        }
        absent = "validation:accuracy"
    for name, value in expected.items():
        # Metric lines carry 6 significant digits.
        assert sklearn_kit.metric(served.stdout, name) == pytest.approx(value, rel=1e-5)
    assert f"train:{name.split(':')[1]}" in served.stdout
    assert absent not in served.stdout


def test_a_wrong_feature_count_is_a_400_naming_both_counts(
    served: Served, sklearn_kit: Any
) -> None:
    expected = served.test_x.shape[1]

    reply = served.post(sklearn_kit.csv(served.test_x[:2, :3]), "text/csv")
    with_label = served.post(sklearn_kit.csv(served.test_x[:2], served.test_y[:2]), "text/csv")

    assert reply.status_code == 400
    assert reply.headers["content-type"].startswith("application/json")
    message = reply.json()["error"]
    assert message.startswith(f"Each record has 3 features; this model was trained on {expected}.")
    assert with_label.status_code == 400
    assert "Is the label column still in?" in with_label.json()["error"]


def test_missing_values_are_predicted_by_forests_and_refused_by_linear_models(
    served: Served,
) -> None:
    rows = served.test_x[:2].tolist()
    rows[1][1] = None  # JSON null: a missing value

    reply = served.post(json.dumps({"instances": rows}), "application/json")

    if served.algorithm == "random-forest":
        assert reply.status_code == 200, reply.text
        assert len(reply.json()["predictions"]) == 2
    else:
        assert reply.status_code == 400
        assert reply.json()["error"] == (
            "Request: record 2, feature 2 is missing (empty or NaN); expected a finite number. "
            "This algorithm needs every feature: fill or drop missing values."
        )


def test_infinite_features_are_refused(served: Served, sklearn_kit: Any) -> None:
    record = served.test_x[:1].copy()
    record[0, 0] = np.inf

    reply = served.post(sklearn_kit.csv(record), "text/csv")

    assert reply.status_code == 400
    assert reply.json()["error"].startswith(
        "Request: record 1, feature 1 is inf; expected a finite"
    )


def test_forests_refuse_features_beyond_float32(served: Served, sklearn_kit: Any) -> None:
    record = served.test_x[:1].copy()
    record[0, 1] = 1e39  # finite in float64, infinite in float32

    reply = served.post(sklearn_kit.csv(record), "text/csv")

    if served.algorithm == "random-forest":
        assert reply.status_code == 400
        assert reply.json()["error"] == (
            "Request: record 1, feature 2 is 1e+39; expected a number from -3.4028235e+38 to "
            "3.4028235e+38: this algorithm computes in float32, where a larger magnitude is "
            "infinite. Scale the feature down."
        )
    else:
        assert reply.status_code == 200, reply.text


def test_zero_records_answer_zero_predictions(served: Served, sklearn_kit: Any) -> None:
    empty = np.zeros((0, served.test_x.shape[1]))

    reply = served.post(sklearn_kit.npy(empty), "application/x-npy")

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": []}
