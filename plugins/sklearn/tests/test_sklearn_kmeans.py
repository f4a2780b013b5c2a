"""kmeans end to end on the iris features, compared with scikit-learn's KMeans."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from sklearn.cluster import KMeans

from algoport.testing import ServeProcess

HYPERPARAMETERS = {"k": 3, "seed": 11, "init_method": "kmeans++"}


@dataclass
class Served:
    server: ServeProcess
    stdout: str
    test_x: np.ndarray
    reference: KMeans

    def post(self, body: bytes | str, content_type: str = "text/csv") -> Any:
        return self.server.client.post(
            "/invocations", content=body, headers={"Content-Type": content_type}
        )


@pytest.fixture(scope="module")
def served(module_training_jobs: Any, sklearn_kit: Any) -> Iterator[Served]:
    data = sklearn_kit.split("multiclass_classifier")
    tree, result = module_training_jobs.train(
        "kmeans",
        HYPERPARAMETERS,
        {"train": sklearn_kit.csv(data.train_x), "validation": sklearn_kit.csv(data.test_x)},
        content_type="text/csv;label_size=0",
    )
    assert result.returncode == 0, result.failure or result.stderr
    reference = KMeans(n_clusters=3, random_state=11, n_init="auto").fit(data.train_x)
    with ServeProcess(tree.model_dir, "kmeans") as server:
        yield Served(server, result.stdout, data.test_x, reference)


def test_clusters_and_distances_equal_scikit_learn(served: Served, sklearn_kit: Any) -> None:
    reply = served.post(sklearn_kit.csv(served.test_x))

    assert reply.status_code == 200, reply.text
    records = sklearn_kit.predictions(reply.content)
    np.testing.assert_array_equal(
        sklearn_kit.column(records, "closest_cluster"), served.reference.predict(served.test_x)
    )
    np.testing.assert_allclose(
        sklearn_kit.column(records, "distance_to_cluster"),
        served.reference.transform(served.test_x).min(axis=1),
        rtol=1e-9,
    )


@pytest.mark.parametrize(
    ("content_type", "encode"),
    [("application/json", "json"), ("application/jsonlines", "jsonlines")],
)
def test_json_requests_give_the_csv_predictions(
    served: Served, sklearn_kit: Any, content_type: str, encode: str
) -> None:
    from_csv = served.post(sklearn_kit.csv(served.test_x)).json()

    reply = served.post(getattr(sklearn_kit, encode)(served.test_x), content_type)

    assert reply.json() == from_csv


def test_msd_is_the_mean_squared_distance_to_the_closest_center(
    served: Served, sklearn_kit: Any
) -> None:
    squared = served.reference.transform(served.test_x).min(axis=1) ** 2
    train_msd = served.reference.inertia_ / (150 - len(served.test_x))

    assert sklearn_kit.metric(served.stdout, "validation:msd") == pytest.approx(
        squared.mean(), rel=1e-5
    )
    assert sklearn_kit.metric(served.stdout, "validation:ssd") == pytest.approx(
        squared.sum(), rel=1e-5
    )
    assert sklearn_kit.metric(served.stdout, "train:msd") == pytest.approx(train_msd, rel=1e-5)


def test_zero_records_answer_zero_predictions(served: Served, sklearn_kit: Any) -> None:
    empty = np.zeros((0, served.test_x.shape[1]))

    reply = served.post(sklearn_kit.npy(empty), "application/x-npy")

    assert reply.status_code == 200, reply.text
    assert reply.json() == {"predictions": []}


def test_a_wrong_feature_count_is_a_400(served: Served, sklearn_kit: Any) -> None:
    reply = served.post(sklearn_kit.csv(served.test_x[:2, :2]))

    assert reply.status_code == 400
    assert reply.json()["error"].startswith(
        "Each record has 2 features; this model was trained on 4."
    )


@pytest.mark.parametrize(
    ("content_type", "with_label"),
    [
        # Without label_size the core reads a label column; kmeans keeps every column.
        ("text/csv", False),
        # An explicit label_size=1 says the first column is a label: it is ignored.
        ("text/csv;label_size=1", True),
    ],
)
def test_label_size_decides_which_columns_are_features(
    training_jobs: Any, sklearn_kit: Any, content_type: str, with_label: bool
) -> None:
    data = sklearn_kit.split("multiclass_classifier")
    text = sklearn_kit.csv(data.train_x, data.train_y if with_label else None)
    tree, result = training_jobs.train(
        "kmeans", HYPERPARAMETERS, {"train": text}, content_type=content_type
    )
    assert result.returncode == 0, result.failure

    with ServeProcess(tree.model_dir, "kmeans") as server:
        reply = server.client.post(
            "/invocations",
            content=sklearn_kit.csv(data.test_x),
            headers={"Content-Type": "text/csv"},
        )

    assert reply.status_code == 200, reply.text
    expected = KMeans(n_clusters=3, random_state=11, n_init="auto").fit(data.train_x)
    closest = sklearn_kit.column(sklearn_kit.predictions(reply.content), "closest_cluster")
    np.testing.assert_array_equal(closest, expected.predict(data.test_x))
