"""Mistakes a user can make when training, each a user error (exit code 2) whose failure
reason names the problem, what was expected and what to do."""

from __future__ import annotations

import json
from typing import Any

import pytest

from algoport.testing import run_train

BINARY = "0,1.0,2.0\n1,2.0,1.0\n0,1.5,2.5\n1,2.5,0.5\n"
ALMOST_BINARY = "0,1.0,2.0\n1,2.0,1.0\n2,1.5,2.5\n1,2.5,0.5\n"
FRACTIONAL = "0,1.0,2.0\n1,2.0,1.0\n1.5,1.5,2.5\n2,2.5,0.5\n"
NEGATIVE = "0,1.0,2.0\n-1,2.0,1.0\n"
ONE_CLASS = "1,1.0,2.0\n1,2.0,1.0\n"
MISSING_LABEL = "0,1.0,2.0\n,2.0,1.0\n"
MISSING_FEATURE = "0,1.0,2.0\n1,2.0,\n0,1.5,2.5\n1,2.5,0.5\n"
THREE_FEATURES = "0,1.0,2.0,3.0\n1,2.0,1.0,0.0\n"
BEYOND_FLOAT32 = "0,1.0,2.0\n1,2.0,-1e39\n0,1.5,2.5\n1,2.5,0.5\n"


@pytest.mark.parametrize(
    ("algorithm", "hyperparameters", "channels", "expected"),
    [
        pytest.param(
            "random-forest",
            {"num_trees": 5},
            {"train": BINARY},
            "Hyperparameter 'predictor_type' is required and missing; expected one of "
            "'binary_classifier', 'multiclass_classifier', 'regressor'.",
            id="missing-predictor-type",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "classifier"},
            {"train": BINARY},
            "Hyperparameter 'predictor_type' has value 'classifier'; expected one of",
            id="unknown-predictor-type",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "regressor", "num_trees": 0},
            {"train": BINARY},
            "Hyperparameter 'num_trees' has value '0'; expected an integer in [1, 10000].",
            id="no-trees",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "regressor", "wd": -1},
            {"train": BINARY},
            "Hyperparameter 'wd' has value '-1'; expected a number in [0, ∞).",
            id="negative-wd",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "binary_classifier", "num_trees": 5},
            {"train": ALMOST_BINARY},
            "Channel 'train': record 3 has label 2, which predictor_type 'binary_classifier' "
            "does not take; expected 0 or 1",
            id="binary-with-three-classes",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "multiclass_classifier"},
            {"train": FRACTIONAL},
            "Channel 'train': record 3 has label 1.5, which predictor_type "
            "'multiclass_classifier' does not take; expected an integer class index 0..k-1",
            id="fractional-class",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "multiclass_classifier"},
            {"train": NEGATIVE},
            "Channel 'train': record 2 has label -1,",
            id="negative-class",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "multiclass_classifier", "num_classes": 2, "num_trees": 5},
            {"train": ALMOST_BINARY},
            "record 3 has label 2, which predictor_type 'multiclass_classifier' does not take; "
            "expected an integer class index 0..1 (num_classes is 2).",
            id="class-beyond-num-classes",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "binary_classifier"},
            {"train": ONE_CLASS},
            "Channel 'train' has only label 1; predictor_type 'binary_classifier' needs "
            "records of both 0 and 1 to learn from.",
            id="one-class",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "regressor", "num_trees": 5},
            {"train": MISSING_LABEL},
            "Channel 'train': record 2 has label nan; expected a number in the first column",
            id="missing-label",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "binary_classifier"},
            {"train": MISSING_FEATURE},
            "Channel 'train': record 2, feature 2 is missing (empty or NaN); expected a finite "
            "number. This algorithm needs every feature",
            id="missing-feature",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "binary_classifier", "num_trees": 5},
            {"train": BINARY, "validation": THREE_FEATURES},
            "Channel 'validation' has 3 features per record; expected 2, like channel 'train'.",
            id="validation-width",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "binary_classifier", "num_trees": 5},
            {"train": BINARY, "validation": ALMOST_BINARY},
            "Channel 'validation': record 3 has label 2,",
            id="validation-label",
        ),
        pytest.param(
            "random-forest",
            {"predictor_type": "binary_classifier", "num_trees": 5},
            {"train": BEYOND_FLOAT32},
            "Channel 'train': record 2, feature 2 is -1e+39; expected a number from "
            "-3.4028235e+38 to 3.4028235e+38: this algorithm computes in float32",
            id="beyond-float32",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "regressor", "feature_dim": 5},
            {"train": BINARY},
            "Channel 'train' has 2 features per record; expected 5, the feature_dim "
            "hyperparameter.",
            id="feature-dim",
        ),
        pytest.param(
            "kmeans",
            {"seed": 1},
            {"train": BINARY},
            "Hyperparameter 'k' is required and missing; expected an integer in [1, ∞).",
            id="missing-k",
        ),
        pytest.param(
            "kmeans",
            {"k": "three"},
            {"train": BINARY},
            "Hyperparameter 'k' has value 'three'; expected an integer in [1, ∞).",
            id="k-not-a-number",
        ),
        pytest.param(
            "kmeans",
            {"k": 9},
            {"train": BINARY},
            "Hyperparameter 'k' is 9, more than the 4 records in channel 'train'; expected at "
            "most one cluster per record. Lower k or add data.",
            id="k-above-records",
        ),
        pytest.param(
            "kmeans",
            {"k": 2, "init_method": "k-means++"},
            {"train": BINARY},
            "Hyperparameter 'init_method' has value 'k-means++'; expected one of 'kmeans++', "
            "'random'.",
            id="init-method-spelling",
        ),
        pytest.param(
            "linear",
            {"predictor_type": "binary_classifier", "positive_example_weight_mult": "heavy"},
            {"train": BINARY},
            "Hyperparameter 'positive_example_weight_mult' has value 'heavy'; expected auto or "
            "balanced or a number in (0, ∞).",
            id="word-or-number",
        ),
    ],
)
def test_user_errors_are_reported_in_the_failure_file(
    training_jobs: Any,
    algorithm: str,
    hyperparameters: dict[str, Any],
    channels: dict[str, str],
    expected: str,
) -> None:
    tree, result = training_jobs.train(algorithm, hyperparameters, channels)

    assert result.returncode == 2, result.stderr
    assert result.failure is not None
    assert result.failure.startswith("User error: ")
    assert expected in result.failure
    assert not (tree.model_dir / "model.skops").exists()


def test_a_supervised_algorithm_refuses_unlabelled_data(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "random-forest",
        {"predictor_type": "regressor"},
        {"train": BINARY},
        content_type="text/csv;label_size=0",
    )

    assert result.returncode == 2
    assert result.failure is not None
    assert result.failure.startswith(
        "User error: Channel 'train' has no label column (its ContentType is "
        "text/csv;label_size=0); algorithm 'random-forest' learns from labels."
    )


def _train_with_json_values(training_jobs: Any, hyperparameters: dict[str, Any]) -> Any:
    """Train on a hyperparameters.json written by hand: JSON numbers, booleans, null."""
    tree = training_jobs.lay_out({}, {"train": BINARY})
    tree.paths.hyperparameters_file.write_text(json.dumps(hyperparameters))
    return tree, run_train(tree, "random-forest")


def test_json_numbers_and_booleans_are_read_as_their_text(training_jobs: Any) -> None:
    tree, result = _train_with_json_values(
        training_jobs,
        {"predictor_type": "binary_classifier", "num_trees": 5, "max_depth": 3.0,
         "bootstrap": False, "seed": 7},
    )  # fmt: skip

    assert result.returncode == 0, result.failure
    assert (tree.model_dir / "model.skops").exists()


def test_a_null_hyperparameter_is_refused(training_jobs: Any) -> None:
    _, result = _train_with_json_values(
        training_jobs, {"predictor_type": "binary_classifier", "num_trees": None}
    )

    assert result.returncode == 2
    assert result.failure == (
        "User error: Hyperparameter 'num_trees' is null; expected an integer in [1, 10000]. "
        "Give a value, or leave it out for its default.\n"
    )
