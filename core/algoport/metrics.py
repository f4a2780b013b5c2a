"""Metrics a training job logs, in a form SageMaker ``MetricDefinitions`` regexes read."""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from typing import Literal, TextIO

PREFIX = "#metric"


@dataclass(frozen=True)
class Metric:
    """A metric ``fit`` logs; ``objective`` makes it a hyperparameter-tuning objective."""

    name: str
    description: str = ""
    objective: Literal["Maximize", "Minimize"] | None = None

    @property
    def regex(self) -> str:
        """The ``MetricDefinitions`` regex matching :func:`format_metric` lines."""
        return f"{PREFIX} {re.escape(self.name)}=([-+0-9.eEnaif]+);"


def format_metric(name: str, value: float, step: int | None = None) -> str:
    tail = "" if step is None else f" step={step}"
    return f"{PREFIX} {name}={value:.6g};{tail}"


def emit_metric(
    name: str, value: float, step: int | None = None, stream: TextIO | None = None
) -> None:
    out = stream or sys.stdout
    out.write(format_metric(name, value, step) + "\n")
    out.flush()
