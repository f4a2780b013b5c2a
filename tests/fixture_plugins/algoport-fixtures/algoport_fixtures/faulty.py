"""Algorithms that fail in each way the core must report well."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from algoport import TrainingJob, UserError, hookimpl


class _Serves:
    @hookimpl
    def load(self, model_dir: Path) -> Any:
        return None

    @hookimpl
    def predict(self, model: Any, data: Any) -> Any:
        return data


class Raises(_Serves):
    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        raise ValueError("the matrix is singular")


class RaisesUserError(_Serves):
    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        raise UserError("Column 3 is constant; drop it or add noise.")


class WritesOwnFailure(_Serves):
    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        job.paths.failure_file.parent.mkdir(parents=True, exist_ok=True)
        job.paths.failure_file.write_text("custom reason from the algorithm\n")
        raise RuntimeError("failed after writing its own reason")


class BadHookArgument(_Serves):
    @hookimpl
    def fit(self, job: TrainingJob, gpu_count: int) -> None:
        raise AssertionError("never registered")


class ServeOnly(_Serves):
    """Implements load and predict only."""


class PredictRaises(_Serves):
    @hookimpl
    def predict(self, model: Any, data: Any) -> Any:
        raise RuntimeError("predict blew up")


class SlowLoad(_Serves):
    """Loads for FIXTURE_LOAD_SECONDS, or fails when FIXTURE_LOAD_FAILS is set."""

    @hookimpl
    def load(self, model_dir: Path) -> Any:
        if os.environ.get("FIXTURE_LOAD_FAILS"):
            raise FileNotFoundError(f"no model file in {model_dir}")
        time.sleep(float(os.environ.get("FIXTURE_LOAD_SECONDS", "0")))
        return None
