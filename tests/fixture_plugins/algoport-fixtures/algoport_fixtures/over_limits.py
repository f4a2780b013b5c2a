"""An algorithm whose declarations break CreateAlgorithm's limits, for ``algoport spec``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algoport import ChannelSpec, hookimpl, hp

# The service model allows 100 hyperparameters and 30 values per categorical.
HYPERPARAMETERS = 101
CHOICES = 31


@hookimpl
def hyperparameters() -> list[hp.HyperParameter]:
    declared: list[hp.HyperParameter] = [
        hp.Categorical(name="mode", choices=tuple(f"m{i}" for i in range(CHOICES)), default="m0")
    ]
    declared += [hp.Integer(name=f"p{i}", default=i) for i in range(HYPERPARAMETERS - 1)]
    return declared


@hookimpl
def channels() -> list[ChannelSpec]:
    return [ChannelSpec(name="train data", required=True)]


@hookimpl
def load(model_dir: Path) -> None:
    return None


@hookimpl
def predict(model: Any, data: Any) -> Any:
    return data
