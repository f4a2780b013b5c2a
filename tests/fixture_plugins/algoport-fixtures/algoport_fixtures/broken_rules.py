"""fixture-linear, each class breaking one rule of the contract that ``algoport check`` checks."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import numpy as np

from algoport import (
    ChannelSpec,
    ContentTypes,
    DataError,
    Dataset,
    Format,
    Invocation,
    MediaType,
    TrainingJob,
    hookimpl,
    hp,
)
from algoport_fixtures import linear


class Conforming:
    """fixture-linear's hooks, for each subclass to break one of."""

    @hookimpl
    def hyperparameters(self) -> list[hp.HyperParameter]:
        return linear.hyperparameters()

    @hookimpl
    def channels(self) -> list[ChannelSpec]:
        return linear.channels()

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        linear.fit(job)

    @hookimpl
    def load(self, model_dir: Path) -> dict[str, Any]:
        return linear.load(model_dir)

    @hookimpl
    def predict(self, model: dict[str, Any], data: np.ndarray, invocation: Invocation) -> Any:
        return linear.predict(model, data, invocation)


class WrongRowCount(Conforming):
    """Drops the last prediction of a request with several records."""

    @hookimpl
    def predict(self, model: dict[str, Any], data: np.ndarray, invocation: Invocation) -> Any:
        return linear.predict(model, data, invocation)[: max(1, len(data) - 1)]


class CsvOnly(Conforming):
    """Declares application/x-npy but predicts only for CSV requests."""

    @hookimpl
    def content_types(self) -> ContentTypes:
        return ContentTypes(accepts=("text/csv", "application/x-npy"), produces=("text/csv",))

    @hookimpl
    def predict(self, model: dict[str, Any], data: np.ndarray, invocation: Invocation) -> Any:
        if invocation.content_type.essence != "text/csv":
            raise TypeError(f"cannot predict for {invocation.content_type.essence}")
        return linear.predict(model, data, invocation)


class IgnoresStop(Conforming):
    """Trains for ``train_seconds`` without looking at job.stop_requested."""

    @hookimpl
    def hyperparameters(self) -> list[hp.HyperParameter]:
        return [*linear.hyperparameters(), hp.Float(name="train_seconds", default=0.0, min=0.0)]

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        deadline = time.monotonic() + job.hyperparameters["train_seconds"]
        while time.monotonic() < deadline:
            time.sleep(0.05)
        linear.fit(job)


class FailsOnBadInput(Conforming):
    """Multiplies without checking the feature count: a wrong one is a 500, not a 400."""

    @hookimpl
    def predict(self, model: dict[str, Any], data: np.ndarray, invocation: Invocation) -> Any:
        weights = np.asarray(model["weights"])
        return np.hstack([np.ones((len(data), 1)), data]) @ weights


class ModelInOutput(Conforming):
    """Saves the model into the output data directory instead of the model directory."""

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        linear.fit(job)
        for path in job.model_dir.iterdir():
            path.rename(job.output_data_dir / path.name)

    @hookimpl
    def load(self, model_dir: Path) -> dict[str, Any]:
        return linear.load(model_dir.parent / "output" / "data")


MAX_ROWS = 100  # the fixed buffer of a hand-written parser


def _table(body: bytes) -> np.ndarray:
    try:
        return np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2, max_rows=MAX_ROWS)
    except ValueError as exc:
        raise DataError(f"The CSV body does not parse: {exc}.") from None


def _read(body: bytes, media_type: MediaType) -> Dataset:
    table = np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)
    return Dataset(table[:, 1:], table[:, 0])


class DropsBatchRecords(Conforming):
    """Its CSV decoder reads at most MAX_ROWS records of a request and drops the rest."""

    @hookimpl
    def formats(self) -> list[Format]:
        return [
            Format(
                "text/csv",
                decode=lambda body, media_type: _table(body),
                read=_read,
                line_based=True,
                override=True,
            )
        ]

    @hookimpl
    def content_types(self) -> ContentTypes:
        return ContentTypes(accepts=("text/csv",), produces=("application/json",))
