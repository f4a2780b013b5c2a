"""Training data: channels (text/csv or text/libsvm) into XGBoost DMatrix objects."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse
import xgboost as xgb

from algoport import Channel, DataError, UserError
from algoport_xgboost import libsvm, objectives

LIBSVM_TYPES = ("text/libsvm", "text/x-libsvm")
CONTENT_TYPES = ("text/libsvm", "text/csv", "text/x-libsvm")

Features: TypeAlias = npt.NDArray[np.float64] | scipy.sparse.csr_matrix


@dataclass(frozen=True)
class Table:
    """One channel's records, ready for a DMatrix."""

    channel: str
    features: Features
    labels: npt.NDArray[np.float64]
    weights: npt.NDArray[np.float64] | None = None
    qid: npt.NDArray[np.int64] | None = None
    # Where record i (0-based, across files) came from, for messages; CSV gives record numbers.
    origin: Callable[[int], str] | None = None

    def where(self, row: int) -> str:
        if self.origin is not None:
            return self.origin(row)
        return f"Channel {self.channel!r}, record {row + 1}"

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    def dmatrix(self, nthread: int) -> xgb.DMatrix:
        return xgb.DMatrix(
            self.features,
            label=self.labels,
            weight=self.weights,
            qid=self.qid,
            nthread=nthread,
        )


@dataclass(frozen=True)
class TrainingData:
    train: Table
    validation: Table | None
    # How libsvm indices were counted (0 or 1); None when training read no libsvm.
    libsvm_index_base: int | None


def is_libsvm(channel: Channel) -> bool:
    return channel.content_type.essence in LIBSVM_TYPES


def read_csv(channel: Channel, csv_weights: bool) -> Table:
    dataset = channel.read()
    if dataset.labels is None:
        raise UserError(
            f"Channel {channel.name!r} has no label column (label_size=0); XGBoost trains on "
            "labelled data: put the label in the first column and drop label_size=0."
        )
    features = np.asarray(dataset.features, dtype=np.float64)
    weights = None
    if csv_weights:
        if features.shape[1] < 2:
            raise DataError(
                f"Channel {channel.name!r} has {features.shape[1] + 1} columns; csv_weights=true "
                "needs the label, a weight and at least one feature column."
            )
        weights, features = features[:, 0], features[:, 1:]
    return Table(channel.name, features, np.asarray(dataset.labels, np.float64), weights)


def read_libsvm_files(channel: Channel) -> list[libsvm.LibsvmRows]:
    files = channel.files()
    if not files:
        raise UserError(
            f"Channel {channel.name!r} has no data files under {channel.path}; check the "
            "channel's S3 prefix."
        )
    return [
        libsvm.parse(
            path.read_bytes(),
            f"Channel {channel.name!r}, file {path.relative_to(channel.path)}",
            labelled=True,
        )
        for path in files
    ]


def libsvm_table(name: str, parts: list[libsvm.LibsvmRows], base: int, n_features: int) -> Table:
    for part in parts:
        if part.max_index is not None and part.max_index - base >= n_features:
            raise DataError(
                f"{part.source} has feature index {part.max_index}, beyond the "
                f"{n_features} features of channel 'train'; both channels need the same "
                "feature columns."
            )
    features = scipy.sparse.vstack([part.to_csr(base, n_features) for part in parts], format="csr")
    labels = np.concatenate([p.labels for p in parts if p.labels is not None])
    weights = None
    if any(p.weights is not None for p in parts):
        weights = np.concatenate(
            [p.weights if p.weights is not None else np.ones(p.n_rows) for p in parts]
        )
    qid = None
    if any(p.qid is not None for p in parts):
        if not all(p.qid is not None for p in parts):
            raise DataError(
                f"Channel {name!r}: some files have qid values and some do not; give every "
                "line a qid (ranking data) or none."
            )
        qid = np.concatenate([p.qid for p in parts if p.qid is not None])
    return Table(name, features, labels, weights, qid, _libsvm_origin(parts))


def _libsvm_origin(parts: list[libsvm.LibsvmRows]) -> Callable[[int], str]:
    offsets = np.cumsum([0] + [p.n_rows for p in parts])

    def origin(row: int) -> str:
        index = int(np.searchsorted(offsets, row, side="right")) - 1
        part = parts[index]
        return f"{part.source}, line {part.lines[row - offsets[index]]}"

    return origin


def load(train: Channel, validation: Channel | None, csv_weights: bool) -> TrainingData:
    """Read both channels into tables with the same feature columns."""
    parsed = {c.name: read_libsvm_files(c) for c in (train, validation) if c and is_libsvm(c)}
    base = libsvm.index_base(*(p for parts in parsed.values() for p in parts)) if parsed else None
    dense = {
        c.name: read_csv(c, csv_weights) for c in (train, validation) if c and not is_libsvm(c)
    }
    n_features = _feature_count(train.name, dense, parsed, base)
    tables = dict(dense)
    for name, parts in parsed.items():
        assert base is not None
        tables[name] = libsvm_table(name, parts, base, n_features)
    if validation is not None and tables[validation.name].n_features != n_features:
        raise DataError(
            f"Channel {validation.name!r} has {tables[validation.name].n_features} features "
            f"and channel {train.name!r} has {n_features}; both need the same feature columns."
        )
    return TrainingData(tables[train.name], tables[validation.name] if validation else None, base)


def _feature_count(
    train: str,
    dense: dict[str, Table],
    parsed: dict[str, list[libsvm.LibsvmRows]],
    base: int | None,
) -> int:
    if train in dense:
        return dense[train].n_features
    widths = [t.n_features for t in dense.values()]
    highest = [p.max_index for parts in parsed.values() for p in parts if p.max_index is not None]
    if highest:
        assert base is not None
        widths.append(max(highest) + 1 - base)
    if not widths:
        raise DataError("Channel 'train' has records but no feature values; nothing to learn from.")
    return max(widths)


def check_labels(table: Table, objective: str, num_class: int | None) -> None:
    """Labels the objective cannot use, reported before XGBoost's terser check."""
    labels = table.labels
    if labels.size == 0:
        raise DataError(f"Channel {table.channel!r} has no records.")
    if np.isnan(labels).any():
        row = int(np.flatnonzero(np.isnan(labels))[0])
        raise DataError(
            f"{table.where(row)} has no label (empty or NaN); every training record needs one."
        )
    bad: npt.NDArray[np.bool_] | None = None
    expected = ""
    if objectives.is_multi_class(objective) and num_class is not None:
        bad = (labels < 0) | (labels >= num_class) | (labels != np.floor(labels))
        expected = f"integers 0 … {num_class - 1} (num_class={num_class})"
    elif objective in ("binary:logistic", "binary:logitraw", "binary:hinge", "reg:logistic"):
        bad = (labels < 0) | (labels > 1)
        expected = "values in [0, 1]"
    elif objective in ("count:poisson", "reg:tweedie"):
        bad = labels < 0
        expected = "values ≥ 0"
    elif objective == "reg:gamma":
        bad = labels <= 0
        expected = "values > 0"
    if bad is not None and bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise DataError(
            f"{table.where(row)} has label {labels[row]:g}; objective "
            f"{objective} needs {expected}. Fix the labels or choose another objective."
        )
