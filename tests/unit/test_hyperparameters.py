"""Coercion of hyperparameters.json, in process: the values ``fit`` gets and the messages a
user reads. The end-to-end doors (the failure file, exit 2) are in tests/test_train.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import pytest

from algoport import hp
from algoport.errors import AlgorithmError, UserError
from algoport.hyperparameters import HyperParameterSchema

DECLARED = (
    hp.Integer(name="num_round", min=1, default=10),
    hp.Float(name="eta", min=0, max=1, min_open=True, default=0.3),
    hp.Boolean(name="verbose", default=False),
    hp.String(name="tag", default=""),
    hp.Categorical(name="solver", choices=("adam", "sgd"), default="adam"),
    hp.List(name="layers", item=hp.Integer(name="layer", min=1), default=[8]),
)


def coerce(raw: Mapping[str, str], declared: tuple[hp.HyperParameter, ...] = DECLARED) -> Any:
    return HyperParameterSchema(declared, "algo").coerce(raw)


def problems(raw: Mapping[str, str], declared: tuple[hp.HyperParameter, ...] = DECLARED) -> Any:
    with pytest.raises(UserError) as raised:
        coerce(raw, declared)
    return raised.value


@pytest.mark.parametrize(
    ("key", "value", "typed"),
    [
        ("num_round", 7, 7),
        ("num_round", 7.0, 7),
        ("eta", 0.25, 0.25),
        ("eta", 1, 1.0),
        ("verbose", True, True),
        ("tag", "adam", "adam"),
        ("solver", "sgd", "sgd"),
        ("layers", [16, 4], [16, 4]),
    ],
)
def test_plain_and_json_quoted_spellings_give_the_same_value(
    key: str, value: Any, typed: Any
) -> None:
    plain = value if isinstance(value, str) else str(value)
    if isinstance(value, list):
        plain = ",".join(str(v) for v in value)

    assert coerce({key: plain})[key] == typed
    assert coerce({key: json.dumps(value)})[key] == typed


@pytest.mark.parametrize(
    ("raw", "typed"),
    [
        ("007", "007"),
        ('"007"', "007"),
        ("true", "true"),
        ("[1, 2]", "[1, 2]"),
    ],
)
def test_a_string_is_unquoted_only_when_it_is_a_json_string(raw: str, typed: str) -> None:
    assert coerce({"tag": raw})["tag"] == typed


@pytest.mark.parametrize(
    ("raw", "typed"),
    [("yes", True), ("ON", True), ("1", True), ("no", False), ("off", False), ("False", False)],
)
def test_booleans_take_the_usual_spellings(raw: str, typed: bool) -> None:
    assert coerce({"verbose": raw})["verbose"] is typed


def test_undeclared_values_get_their_defaults_and_platform_keys_are_skipped() -> None:
    values = coerce(
        {
            "num_round": "3",
            "sagemaker_program": "train.py",
            "_tuning_objective_metric": "validation:auc",
        }
    )

    assert values == {
        "num_round": 3,
        "eta": 0.3,
        "verbose": False,
        "tag": "",
        "solver": "adam",
        "layers": [8],
    }


@pytest.mark.parametrize(
    ("key", "raw", "expected"),
    [
        ("num_round", "1.5", "an integer in [1, ∞)"),
        ("num_round", "true", "an integer in [1, ∞)"),
        ("eta", "0", "a number in (0, 1]"),
        ("eta", "1.0001", "a number in (0, 1]"),
        ("eta", "inf", "a number in (0, 1]"),
        ("eta", "fast", "a number in (0, 1]"),
        ("verbose", "maybe", "true or false"),
        ("solver", "Adam", "one of 'adam', 'sgd'"),
        ("layers", "8,0", "a list of an integer in [1, ∞), as [a, b] or a,b"),
    ],
)
def test_a_bad_value_is_named_with_what_was_expected(key: str, raw: str, expected: str) -> None:
    error = problems({key: raw})

    assert error.message == f"Hyperparameter {key!r} has value {raw!r}; expected {expected}."
    assert error.details == [error.message]


def test_a_short_list_says_how_many_items_it_needs() -> None:
    declared = (hp.List(name="sizes", item=hp.Float(name="size"), min_length=2),)

    error = problems({"sizes": "[0.5]"}, declared)

    assert error.message == (
        "Hyperparameter 'sizes' has value '[0.5]'; expected a list of a number in (-∞, ∞), "
        "as [a, b] or a,b with at least 2 items."
    )


def test_a_long_value_is_cut_in_the_message() -> None:
    error = problems({"num_round": "9" * 100 + "x"})

    assert f"has value '{'9' * 77}...'; expected an integer" in error.message


def test_an_unknown_name_suggests_the_close_one() -> None:
    error = problems({"num_rounds": "5"})

    assert error.message == (
        "Hyperparameter 'num_rounds' is not known to algorithm 'algo'; it accepts eta, "
        "layers, num_round, solver, tag, verbose. Did you mean 'num_round'?"
    )


def test_an_unknown_name_far_from_every_declared_one_gets_no_suggestion() -> None:
    assert problems({"zzz": "5"}).message.endswith("solver, tag, verbose.")


def test_an_algorithm_without_hyperparameters_refuses_every_one() -> None:
    error = problems({"eta": "0.1"}, ())

    assert error.message == (
        "Hyperparameter 'eta' is not accepted: algorithm 'algo' takes no hyperparameters. "
        "Remove it from the training job."
    )


def test_every_problem_is_reported_at_once_the_first_leading() -> None:
    declared = (*DECLARED, hp.Integer(name="k", min=1, required=True))

    error = problems({"eta": "2", "solvr": "sgd", "verbose": "maybe"}, declared)

    assert error.message == (
        "Hyperparameter 'eta' has value '2'; expected a number in (0, 1]. "
        "(and 3 more hyperparameter problems)"
    )
    assert error.details == [
        "Hyperparameter 'eta' has value '2'; expected a number in (0, 1].",
        "Hyperparameter 'solvr' is not known to algorithm 'algo'; it accepts eta, k, layers, "
        "num_round, solver, tag, verbose. Did you mean 'solver'?",
        "Hyperparameter 'verbose' has value 'maybe'; expected true or false.",
        "Hyperparameter 'k' is required and missing; expected an integer in [1, ∞). "
        "Set it in the training job's HyperParameters.",
    ]


def test_two_problems_count_one_more() -> None:
    error = problems({"eta": "2", "verbose": "maybe"})

    assert error.message.endswith("(and 1 more hyperparameter problem)")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (
            (hp.Integer(name="k", min=1),) * 2,
            "Algorithm 'algo' declares hyperparameter 'k' twice.",
        ),
        (
            ("k",),
            "Algorithm 'algo' declared hyperparameter 'k'; expected an "
            "algoport.hp.HyperParameter such as hp.Integer(name=...).",
        ),
    ],
)
def test_a_wrong_declaration_is_the_algorithm_s_fault(declared: Any, message: str) -> None:
    with pytest.raises(AlgorithmError) as raised:
        HyperParameterSchema(declared, "algo")

    assert raised.value.message == message


def test_a_declaration_cannot_be_required_and_defaulted_or_choose_from_nothing() -> None:
    with pytest.raises(AlgorithmError, match="declared required and with a default"):
        hp.Integer(name="k", required=True, default=3)
    with pytest.raises(AlgorithmError, match="Categorical hyperparameter 'mode' declares no"):
        hp.Categorical(name="mode")
