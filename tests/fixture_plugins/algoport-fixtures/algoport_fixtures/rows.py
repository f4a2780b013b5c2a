"""Serve-only algorithms for adaptive batching: every predict call appends its record count
to ``calls.log`` in the model directory, so a test sees which requests shared a call.

score = 3 + 2 * x1 - x2 per record; a record with a missing value is refused (400), and
custom attributes are echoed back (``sleep=S`` sleeps S seconds first).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from algoport import Capabilities, Invocation, UserError, hookimpl

CALLS_LOG = "calls.log"


class DependentRows:
    """Declares nothing: its requests are never predicted together."""

    @hookimpl
    def load(self, model_dir: Path) -> Path:
        return model_dir / CALLS_LOG

    @hookimpl
    def predict(self, model: Path, data: np.ndarray, invocation: Invocation) -> Any:
        with model.open("a") as log:
            log.write(f"{len(data)}\n")
        if invocation.custom_attributes:
            invocation.response_custom_attributes = f"echo={invocation.custom_attributes}"
            if invocation.custom_attributes.startswith("sleep="):
                time.sleep(float(invocation.custom_attributes.removeprefix("sleep=")))
        if np.isnan(data).any():
            raise UserError("A record has a missing value; send every feature.")
        return 3 + data @ np.array([2.0, -1.0])


class IndependentRows(DependentRows):
    @hookimpl
    def capabilities(self) -> Capabilities:
        return Capabilities(independent_rows=True)
