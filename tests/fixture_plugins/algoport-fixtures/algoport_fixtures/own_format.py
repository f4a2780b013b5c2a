"""Algorithms with formats of their own: one reads and serves its format, others get it wrong."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from algoport import (
    ChannelSpec,
    DataError,
    Dataset,
    Format,
    MediaType,
    TrainingJob,
    atomic_write,
    hookimpl,
)

SEMICOLONS = "text/x-semicolons"


def _table(body: bytes) -> np.ndarray:
    """Numbers separated by semicolons, one record per line."""
    try:
        return np.array(
            [[float(v) for v in line.split(b";")] for line in body.splitlines() if line.strip()]
        )
    except ValueError as exc:
        raise DataError(f"Semicolon text holds something other than numbers: {exc}.") from None


def _decode(body: bytes, media_type: MediaType) -> np.ndarray:
    return _table(body)


def _read(body: bytes, media_type: MediaType) -> Dataset:
    table = _table(body)
    return Dataset(table[:, 1:], table[:, 0])


def _encode(columns: dict[str, np.ndarray], media_type: MediaType) -> bytes:
    return "".join(f"{v!r}\n" for v in columns["score"].tolist()).encode()


class OwnFormat:
    """Trains on text/x-semicolons (label first) and answers in it: the mean label plus
    the sum of each record's features."""

    @hookimpl
    def formats(self) -> Sequence[Format]:
        return [Format(SEMICOLONS, decode=_decode, encode=_encode, read=_read, line_based=True)]

    @hookimpl
    def channels(self) -> Sequence[ChannelSpec]:
        return [ChannelSpec(name="train", required=True, content_types=(SEMICOLONS,))]

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        channel = job.channel("train")
        with channel.open_epoch(0) as epoch:
            records_in_chunks = sum(len(c.features) for c in epoch.chunks(chunk_bytes=8))
        train = channel.read()
        assert train.labels is not None
        if records_in_chunks != len(train.labels):
            raise AssertionError(
                f"chunks: {records_in_chunks} records, read(): {len(train.labels)}"
            )
        with atomic_write(job.model_dir / "mean.txt") as out:
            out.write(repr(float(train.labels.mean())).encode())

    @hookimpl
    def load(self, model_dir: Path) -> float:
        return float((model_dir / "mean.txt").read_text())

    @hookimpl
    def predict(self, model: float, data: np.ndarray) -> np.ndarray:
        return model + data.sum(axis=1)


class FormatClash:
    """Gives text/csv again without override=True: start-up must refuse it."""

    @hookimpl
    def formats(self) -> Sequence[Format]:
        return [Format("text/csv", decode=_decode)]

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        raise AssertionError("never reached: the clash stops start-up")

    @hookimpl
    def load(self, model_dir: Path) -> None:
        return None

    @hookimpl
    def predict(self, model: Any, data: Any) -> Any:
        return data


class ComplexOutput:
    """Predicts complex numbers, which no built-in reply format can hold."""

    @hookimpl
    def load(self, model_dir: Path) -> None:
        return None

    @hookimpl
    def predict(self, model: Any, data: np.ndarray) -> np.ndarray:
        return data[:, 0] * 1j
