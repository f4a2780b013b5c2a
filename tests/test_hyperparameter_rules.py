"""Aliases and cross-field rules: every hyperparameter problem reported in one pass."""

from __future__ import annotations

from typing import Any

import pytest

from algoport import UserError, hp
from algoport.errors import AlgorithmError
from algoport.hyperparameters import HyperParameterSchema
from algoport.testing import SageMakerTree, run_train

SCHEMA = HyperParameterSchema(
    [
        hp.Integer(name="num_round", required=True, min=1, aliases=("num_boost_round",)),
        hp.Float(name="eta", default=0.3, min=0.0, aliases=("learning_rate",)),
        hp.Categorical(name="objective", choices=("reg", "multi"), default="reg"),
        hp.Integer(name="num_class", default=None, min=2),
    ],
    "demo",
)


def needs_classes(values: dict[str, Any]) -> list[str]:
    if values.get("objective") == "multi" and values.get("num_class") is None:
        return ["num_class is required with objective 'multi'; set num_class."]
    return []


def test_an_alias_sets_the_declared_name() -> None:
    values = SCHEMA.coerce({"num_boost_round": "10", "learning_rate": "0.1"})
    assert values == {"num_round": 10, "eta": 0.1, "objective": "reg", "num_class": None}
    assert SCHEMA.given({"num_boost_round": "10"}) == {"num_round"}


def test_a_value_given_under_two_keys_is_an_error() -> None:
    with pytest.raises(UserError) as raised:
        SCHEMA.coerce({"num_round": "10", "num_boost_round": "12"})
    assert str(raised.value) == (
        "Hyperparameter 'num_round' is given twice, as 'num_round' and 'num_boost_round'; "
        "they are the same hyperparameter. Keep one."
    )


def test_a_bad_alias_value_names_the_key_the_job_used() -> None:
    with pytest.raises(UserError) as raised:
        SCHEMA.coerce({"num_boost_round": "ten"})
    assert str(raised.value).startswith("Hyperparameter 'num_boost_round' has value 'ten'")


def test_unknown_keys_are_matched_against_aliases_too() -> None:
    with pytest.raises(UserError) as raised:
        SCHEMA.coerce({"num_round": "1", "learning_rat": "0.1"})
    assert str(raised.value).endswith("Did you mean 'learning_rate'?")


def test_cross_field_rules_are_reported_with_the_type_errors() -> None:
    with pytest.raises(UserError) as raised:
        SCHEMA.coerce({"num_round": "0", "objective": "multi"}, check=needs_classes)
    assert raised.value.details == [
        "Hyperparameter 'num_round' has value '0'; expected an integer in [1, ∞).",
        "num_class is required with objective 'multi'; set num_class.",
    ]
    assert str(raised.value).endswith("(and 1 more hyperparameter problem)")


def test_a_rule_does_not_see_a_value_that_failed_its_type() -> None:
    seen: list[dict[str, Any]] = []

    def record(values: dict[str, Any]) -> list[str]:
        seen.append(dict(values))
        return []

    with pytest.raises(UserError):
        SCHEMA.coerce({"num_round": "3", "eta": "fast"}, check=record)
    assert seen == [{"num_round": 3, "objective": "reg", "num_class": None}]


def test_an_alias_that_clashes_with_a_name_is_the_algorithms_fault() -> None:
    with pytest.raises(AlgorithmError, match="declares hyperparameter key 'eta' twice"):
        HyperParameterSchema(
            [hp.Float(name="eta"), hp.Float(name="learning_rate", aliases=("eta",))], "demo"
        )


@pytest.mark.e2e
def test_a_plugins_rules_reach_the_failure_file_with_the_type_errors(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.hyperparameters({"num_epochs": 0, "tag": "validated"})
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.returncode == 2, result.stderr
    assert result.failure == (
        "User error: Hyperparameter 'num_epochs' has value '0'; expected an integer in "
        "[1, 1000]. (and 1 more hyperparameter problem)\n"
        "- Hyperparameter 'num_epochs' has value '0'; expected an integer in [1, 1000].\n"
        "- tag='validated' needs a 'validation' channel; add one.\n"
    )
