"""XGBoost learning objectives, grouped by what they predict."""

from __future__ import annotations

DEFAULT = "reg:squarederror"
# SageMaker's built-in still accepts this pre-1.0 name; XGBoost calls it deprecated.
DEPRECATED_ALIASES = {"reg:linear": "reg:squarederror"}

MULTI_CLASS = ("multi:softmax", "multi:softprob")
BINARY = ("binary:logistic", "binary:logitraw", "binary:hinge")
RANKING = ("rank:pairwise", "rank:ndcg", "rank:map")
REGRESSION = (
    "reg:squarederror",
    "reg:squaredlogerror",
    "reg:logistic",
    "reg:pseudohubererror",
    "reg:absoluteerror",
    "reg:quantileerror",
    "reg:gamma",
    "reg:tweedie",
    "count:poisson",
    "survival:cox",
)

CHOICES = (*REGRESSION, *BINARY, *MULTI_CLASS, *RANKING, *DEPRECATED_ALIASES)


def canonical(objective: str) -> str:
    return DEPRECATED_ALIASES.get(objective, objective)


def is_multi_class(objective: str) -> bool:
    return objective in MULTI_CLASS


def is_binary(objective: str) -> bool:
    return objective in BINARY


def is_classification(objective: str) -> bool:
    return is_binary(objective) or is_multi_class(objective)


def outputs_margin(objective: str) -> bool:
    """Whether the objective's prediction is a margin (decision threshold 0, not 0.5)."""
    return objective == "binary:logitraw"
