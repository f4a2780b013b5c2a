"""Hyperparameter problems reach the failure file worded for the job's owner."""

from __future__ import annotations

import json
from typing import Any

import pytest

from algoport.testing import run_train

TRAIN = {"train": "1,0.5,2\n0,0.1,3\n1,0.7,1\n0,0.2,5\n"}
TRAIN_AND_VALIDATION = {**TRAIN, "validation": TRAIN["train"]}


@pytest.mark.parametrize(
    ("hyperparameters", "expected"),
    [
        ({"eta": 0.1}, "Hyperparameter 'num_round' is required and missing"),
        (
            {"num_round": 2, "eta": 1.5},
            "Hyperparameter 'eta' has value '1.5'; expected a number in [0, 1]",
        ),
        ({"num_round": 0}, "expected an integer in [1, ∞)"),
        (
            {"num_round": 2, "objective": "multi:softmax"},
            "num_class is required with objective 'multi:softmax' and is missing",
        ),
        (
            {"num_round": 2, "num_class": 3},
            "num_class=3 is set, but objective 'reg:squarederror' is not multi-class",
        ),
        (
            {"num_round": 2, "eval_metric": "rsme"},
            "eval_metric 'rsme' is not a metric algoport-xgboost knows",
        ),
        (
            {"num_round": 2, "eval_metric": "auc"},
            "eval_metric 'auc' needs a binary:* or multi:* or rank:* objective",
        ),
        (
            {"num_round": 2, "early_stopping_rounds": 5},
            "early_stopping_rounds=5 needs a validation channel",
        ),
        (
            {"num_round": 2, "eta": 0.1, "learning_rate": 0.2},
            "Hyperparameter 'eta' is given twice, as 'eta' and 'learning_rate'",
        ),
        (
            {"num_round": 2, "objective": "binary:logistic", "base_score": 2},
            "base_score=2.0 is outside (0, 1)",
        ),
        (
            {"num_round": 2, "monotone_constraints": "(1,2)"},
            "monotone_constraints '(1,2)' is not a list of -1, 0 and 1",
        ),
        ({"num_round": 2, "updater": "shotgun"}, "updater shotgun is not a tree updater here"),
        (
            {"num_round": 2, "tree_method": "gpu_hist"},
            "expected one of 'auto', 'exact', 'approx', 'hist'",
        ),
    ],
)
def test_a_hyperparameter_problem_is_a_user_error_that_says_what_to_do(
    training_jobs: Any, hyperparameters: dict[str, Any], expected: str
) -> None:
    _, result = training_jobs.train("xgboost", hyperparameters, TRAIN)

    assert result.returncode == 2, result.stderr
    assert result.failure is not None
    assert result.failure.startswith("User error: ")
    assert expected in result.failure.splitlines()[0]


def test_every_rule_broken_at_once_is_reported_at_once(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "xgboost",
        {
            "num_round": 2,
            "objective": "multi:softprob",
            "eval_metric": "auc,bogus",
            "early_stopping_rounds": 2,
        },
        TRAIN,
    )

    assert result.returncode == 2
    assert result.failure is not None
    first, *details = result.failure.splitlines()
    assert "(and 2 more hyperparameter problems)" in first
    assert any("num_class is required" in line for line in details)
    assert any("'bogus' is not a metric" in line for line in details)
    assert any("needs a validation channel" in line for line in details)


def test_labels_outside_the_objective_are_named_by_record(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "xgboost",
        {"num_round": 2, "objective": "multi:softmax", "num_class": 2},
        {"train": "0,1\n1,2\n2,3\n"},
    )
    assert result.returncode == 2
    assert result.failure is not None
    assert (
        "Channel 'train', record 3 has label 2; objective multi:softmax needs integers 0 … 1"
        in (result.failure)
    )


def test_json_encoded_hyperparameters_are_read_like_plain_ones(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "xgboost",
        {"num_round": 2, "objective": "binary:logistic", "eval_metric": ["auc", "error@0.7"]},
        TRAIN_AND_VALIDATION,
        json_encoded=True,
    )

    assert result.returncode == 0, result.failure
    assert "#metric validation:error@0.7=" in result.stdout


def test_csv_weights_take_the_column_after_the_label(training_jobs: Any) -> None:
    _, result = training_jobs.train(
        "xgboost",
        {"num_round": 2, "csv_weights": 1, "objective": "binary:logistic"},
        {"train": "1,2.0,0.5\n0,1.0,0.1\n1,1.0,0.7\n0,3.0,0.2\n"},
    )

    assert result.returncode == 0, result.failure


def _train_with_json_values(training_jobs: Any, hyperparameters: dict[str, Any]) -> Any:
    """Train on a hyperparameters.json written by hand: JSON numbers, booleans, lists, null."""
    tree = training_jobs.lay_out({}, TRAIN_AND_VALIDATION)
    tree.paths.hyperparameters_file.write_text(json.dumps(hyperparameters))
    return tree, run_train(tree, "xgboost")


def test_json_numbers_booleans_and_lists_are_read_as_their_text(training_jobs: Any) -> None:
    _, result = _train_with_json_values(
        training_jobs,
        {"num_round": 2, "max_depth": 3.0, "eta": 1, "objective": "binary:logistic",
         "eval_metric": ["auc", "error@0.7"], "one_drop": True},
    )  # fmt: skip

    assert result.returncode == 0, result.failure
    assert "#metric validation:error@0.7=" in result.stdout


def test_a_null_hyperparameter_is_refused(training_jobs: Any) -> None:
    _, result = _train_with_json_values(training_jobs, {"num_round": None})

    assert result.returncode == 2
    assert result.failure == (
        "User error: Hyperparameter 'num_round' is null; expected an integer in [1, ∞). "
        "Give a value, or leave it out for its default.\n"
    )
