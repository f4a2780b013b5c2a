"""Hyperparameter declarations, for ``from algoport import hp``: ``hp.Integer(name=...)``."""

from algoport.hyperparameters import (
    Boolean,
    Categorical,
    Float,
    HyperParameter,
    Integer,
    InvalidValue,
    List,
    String,
)

__all__ = [
    "Boolean",
    "Categorical",
    "Float",
    "HyperParameter",
    "Integer",
    "InvalidValue",
    "List",
    "String",
]
