"""Per-round metric lines, the regexes declared for them, and early stopping."""

from __future__ import annotations

import json
import re
from importlib import metadata
from typing import Any

import numpy as np
import pytest
import xgboost as xgb
from sklearn.datasets import load_breast_cancer, load_diabetes


def declared_metrics() -> dict[str, Any]:
    """The plugin's ``metrics`` hook, reached through its entry point as algoport reaches it."""
    (entry_point,) = metadata.entry_points(group="algoport.algorithms", name="xgboost")
    return {metric.name: metric for metric in entry_point.load().metrics()}


@pytest.fixture(scope="module")
def diabetes(formats: Any) -> dict[str, str]:
    features, labels = load_diabetes(return_X_y=True)
    held_out = np.arange(len(labels)) % 5 == 0
    return {
        "train": formats.csv(features[~held_out], labels[~held_out]),
        "validation": formats.csv(features[held_out], labels[held_out]),
    }


@pytest.fixture(scope="module")
def breast_cancer(formats: Any) -> dict[str, str]:
    features, labels = load_breast_cancer(return_X_y=True)
    held_out = np.arange(len(labels)) % 4 == 0
    return {
        "train": formats.csv(features[~held_out], labels[~held_out]),
        "validation": formats.csv(features[held_out], labels[held_out]),
    }


def test_every_round_logs_each_metric_for_train_and_validation(
    training_jobs: Any, diabetes: dict[str, str]
) -> None:
    _, result = training_jobs.train(
        "xgboost", {"num_round": 4, "eval_metric": "rmse,mae,r2"}, diabetes
    )

    assert result.returncode == 0, result.failure
    for step in range(4):
        for name in (
            "train:rmse",
            "train:mae",
            "train:r2",
            "validation:rmse",
            "validation:mae",
            "validation:r2",
        ):
            assert re.search(rf"^#metric {name}=[-+0-9.e]+; step={step}$", result.stdout, re.M)


def test_declared_regexes_match_the_logged_lines(
    training_jobs: Any, breast_cancer: dict[str, str]
) -> None:
    declared = declared_metrics()
    _, result = training_jobs.train(
        "xgboost",
        {
            "num_round": 3,
            "objective": "binary:logistic",
            "eval_metric": "auc,aucpr,logloss,error,f1,accuracy",
        },
        breast_cancer,
    )

    assert result.returncode == 0, result.failure
    for name in (
        "validation:auc",
        "validation:aucpr",
        "validation:logloss",
        "validation:error",
        "validation:f1",
        "validation:accuracy",
        "train:logloss",
        "train:error",
    ):
        values = re.findall(declared[name].regex, result.stdout)
        assert len(values) == 3, name  # one per round, and validation:auc not from aucpr
        assert all(0 <= float(v) <= 1 for v in values)


def test_declared_metrics_fit_sagemaker_and_tune_on_validation() -> None:
    declared = declared_metrics()

    assert len(declared) <= 20  # SageMaker's MetricDefinitions limit for an algorithm
    objectives = {name: m.objective for name, m in declared.items() if m.objective}
    assert objectives["validation:auc"] == "Maximize"
    assert objectives["validation:rmse"] == "Minimize"
    assert all(name.startswith("validation:") for name in objectives)


def test_tuning_objective_metric_is_logged_without_eval_metric(
    training_jobs: Any, breast_cancer: dict[str, str]
) -> None:
    _, result = training_jobs.train(
        "xgboost",
        {
            "num_round": 2,
            "objective": "binary:logistic",
            "_tuning_objective_metric": "validation:f1",
        },
        breast_cancer,
    )

    assert result.returncode == 0, result.failure
    assert "#metric validation:f1=" in result.stdout


def test_early_stopping_keeps_the_best_round(
    training_jobs: Any, breast_cancer: dict[str, str]
) -> None:
    tree, result = training_jobs.train(
        "xgboost",
        {
            "num_round": 500,
            "eta": 0.5,
            "objective": "binary:logistic",
            "eval_metric": "logloss",
            "early_stopping_rounds": 3,
        },
        breast_cancer,
    )

    assert result.returncode == 0, result.failure
    booster = xgb.Booster(model_file=str(tree.model_dir / "xgboost-model.ubj"))
    facts = json.loads((tree.model_dir / "xgboost-metadata.json").read_text())
    logged = [float(v) for v in re.findall(r"#metric validation:logloss=([^;]+);", result.stdout)]
    assert len(logged) < 500
    assert booster.num_boosted_rounds() == facts["best_iteration"] + 1
    assert logged[facts["best_iteration"]] == pytest.approx(min(logged), rel=1e-5)
