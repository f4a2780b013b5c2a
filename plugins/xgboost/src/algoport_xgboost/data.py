"""Training data: File-mode channels (text/csv, text/libsvm, recordio-protobuf) read whole
into XGBoost DMatrix objects; ``streaming`` reads Pipe and FastFile channels chunk by chunk.

With several hosts, the hosts agree on how libsvm indices count and on the feature count;
each host keeps the files SageMaker gave it of a ShardedByS3Key channel, and its own 1/N
of the rows of a FullyReplicated one, so together they train on the data exactly once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
import scipy.sparse
import xgboost as xgb

from algoport import Channel, DataError, Dataset, UserError
from algoport_xgboost import libsvm, model, objectives
from algoport_xgboost.peers import LONE_HOST, Peers

log = logging.getLogger("algoport.xgboost")

TRAIN = "train"
VALIDATION = "validation"
CONTENT_TYPES = ("text/libsvm", "text/csv", "text/x-libsvm", "application/x-recordio-protobuf")

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
    # The table's first row in the channel's records, once a host has kept only its part.
    first_row: int = 0

    def where(self, row: int) -> str:
        if self.origin is not None:
            return self.origin(row + self.first_row)
        return f"Channel {self.channel!r}, record {row + self.first_row + 1}"

    @property
    def n_features(self) -> int:
        return int(self.features.shape[1])

    @property
    def n_rows(self) -> int:
        return int(self.features.shape[0])

    def part(self, index: int, count: int) -> Table:
        """Part ``index`` of ``count`` near-equal runs of rows; a query group is never split."""
        cuts = _cuts(self.n_rows, count, self.qid)
        rows = slice(cuts[index], cuts[index + 1])
        return replace(
            self,
            features=self.features[rows],
            labels=self.labels[rows],
            weights=None if self.weights is None else self.weights[rows],
            qid=None if self.qid is None else self.qid[rows],
            first_row=self.first_row + cuts[index],
        )

    def dmatrix(self, nthread: int) -> xgb.DMatrix:
        return xgb.DMatrix(
            self.features,
            label=self.labels,
            weight=self.weights,
            qid=self.qid,
            nthread=nthread,
        )


@dataclass(frozen=True)
class Matrices:
    """What boosting trains on and scores every round."""

    train: xgb.DMatrix
    validation: xgb.DMatrix | None
    # The libsvm index of column 0: 0 or 1 as the libsvm data counted, 0 after CSV (a
    # libsvm request to a CSV-trained model names CSV column j by index j).
    libsvm_index_base: int


@dataclass(frozen=True)
class TrainingData:
    train: Table
    validation: Table | None
    libsvm_index_base: int

    def matrices(self, nthread: int) -> Matrices:
        validation = self.validation.dmatrix(nthread) if self.validation is not None else None
        return Matrices(self.train.dmatrix(nthread), validation, self.libsvm_index_base)


def _cuts(n_rows: int, count: int, qid: npt.NDArray[np.int64] | None) -> list[int]:
    cuts = [k * n_rows // count for k in range(count + 1)]
    if qid is None:
        return cuts
    group_starts = np.concatenate([[0], np.flatnonzero(np.diff(qid)) + 1, [n_rows]])
    return [int(group_starts[np.searchsorted(group_starts, cut)]) for cut in cuts]


def is_libsvm(channel: Channel) -> bool:
    return channel.content_type.essence in libsvm.MEDIA_TYPES


def read_dense(channel: Channel, csv_weights: bool, *, may_be_empty: bool = False) -> Table | None:
    """The records of a CSV or recordio-protobuf channel; None when it has no files and
    ``may_be_empty``."""
    if may_be_empty and not channel.files():
        return None
    return dense_table(channel.name, channel.read(), csv_weights)


def dense_table(channel: str, dataset: Dataset, csv_weights: bool, first_row: int = 0) -> Table:
    """Labelled records (of a whole channel or one chunk) as a Table; the weight column split
    off with ``csv_weights``."""
    if dataset.labels is None:
        raise UserError(
            f"Channel {channel!r} has no label column (label_size=0) or label field; XGBoost "
            "trains on labelled data: put the label in the first CSV column and drop "
            "label_size=0, or write the records with their labels."
        )
    features = np.asarray(dataset.features, dtype=np.float64)
    weights = None
    if csv_weights:
        if features.shape[1] < 2:
            raise DataError(
                f"Channel {channel!r} has {features.shape[1] + 1} columns; csv_weights=true "
                "needs the label, a weight and at least one feature column."
            )
        weights, features = features[:, 0], features[:, 1:]
    labels = np.asarray(dataset.labels, np.float64)
    return Table(channel, features, labels, weights, first_row=first_row)


def read_libsvm_files(channel: Channel, *, may_be_empty: bool = False) -> list[libsvm.LibsvmRows]:
    files = channel.files()
    if not files and not may_be_empty:
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


def empty_table(name: str, n_features: int, sparse: bool) -> Table:
    features: Features = (
        scipy.sparse.csr_matrix((0, n_features)) if sparse else np.empty((0, n_features))
    )
    return Table(name, features, np.empty(0))


def libsvm_table(name: str, parts: list[libsvm.LibsvmRows], base: int, n_features: int) -> Table:
    if not parts:
        return empty_table(name, n_features, sparse=True)
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


def load(
    train: Channel, validation: Channel | None, csv_weights: bool, peers: Peers = LONE_HOST
) -> TrainingData:
    """Read both channels into tables with the same feature columns, on every host."""
    channels = [c for c in (train, validation) if c is not None]
    several = peers.size > 1
    parsed = {c.name: read_libsvm_files(c, may_be_empty=several) for c in channels if is_libsvm(c)}
    base = None
    if parsed:
        lows = [p.min_index for parts in parsed.values() for p in parts if p.min_index is not None]
        base = agreed_index_base(min(lows, default=None), peers)
    dense = {
        c.name: read_dense(c, csv_weights, may_be_empty=several)
        for c in channels
        if not is_libsvm(c)
    }
    highest = [p.max_index for parts in parsed.values() for p in parts if p.max_index is not None]
    n_features = feature_count(train.name, dense, max(highest, default=None), base, peers)
    tables: dict[str, Table] = {}
    for channel in channels:
        if channel.name in parsed:
            assert base is not None
            table = libsvm_table(channel.name, parsed[channel.name], base, n_features)
        else:
            table = dense[channel.name] or empty_table(channel.name, n_features, sparse=False)
        if table.n_rows and table.n_features != n_features:
            raise DataError(
                f"Channel {channel.name!r} has {table.n_features} features and channel "
                f"{train.name!r} has {n_features}; both need the same feature columns."
            )
        if several and channel.distribution == "FullyReplicated":
            whole = table.n_rows
            table = table.part(peers.rank, peers.size)
            log.info(
                "channel %r is FullyReplicated over %d hosts: this host trains on records "
                "%d to %d of %d",
                channel.name,
                peers.size,
                table.first_row + 1,
                table.first_row + table.n_rows,
                whole,
            )
        tables[channel.name] = table
    if several:
        check_rows({name: table.n_rows for name, table in tables.items()}, peers)
    return TrainingData(
        tables[train.name],
        tables[validation.name] if validation else None,
        model.UNRECORDED_INDEX_BASE if base is None else base,
    )


def agreed_index_base(lowest: int | None, peers: Peers) -> int:
    """0 when any host's libsvm data has index 0, else 1: XGBoost's rule over all the data."""
    return 0 if peers.any(lowest == 0) else 1


def feature_count(
    train: str,
    dense: dict[str, Table | None],
    highest: int | None,
    base: int | None,
    peers: Peers,
) -> int:
    """The feature columns of both channels, on every host: the CSV columns of channel
    ``train``, else the widest record; ``highest`` is the highest libsvm index seen here."""
    if train in dense:
        return _csv_feature_count(train, dense[train], peers)
    widths = [t.n_features for t in dense.values() if t is not None]
    if highest is not None:
        assert base is not None
        widths.append(highest + 1 - base)
    width = peers.max(max(widths, default=0))
    if not width:
        raise DataError("Channel 'train' has records but no feature values; nothing to learn from.")
    return width


def _csv_feature_count(train: str, table: Table | None, peers: Peers) -> int:
    """CSV columns are positional, so every host's files need the same number."""
    if peers.size == 1:
        assert table is not None
        return table.n_features
    here = table.n_features if table is not None else None
    fewest = peers.min(here if here is not None else 2**62)
    most = peers.max(here if here is not None else -1)
    if most < 0:
        raise UserError(
            f"Channel {train!r} has no records on any of the {peers.size} hosts; check the "
            "channel's S3 prefix."
        )
    if fewest != most:
        raise DataError(
            f"Channel {train!r} has from {fewest} to {most} feature columns across the hosts' "
            f"files ({here if here is not None else 'none'} on this host); every file needs "
            "the same columns."
        )
    return most


def check_rows(rows: dict[str, int], peers: Peers) -> None:
    """Each channel has records on some host; a host without any takes part all the same."""
    for name, count in rows.items():
        if peers.size == 1 and not count:
            raise DataError(f"Channel {name!r} has no records.")
        if not peers.sum(count):
            raise UserError(
                f"Channel {name!r} has no records on any of the {peers.size} hosts; check the "
                "channel's S3 prefix."
            )
        if not count:
            log.warning(
                "this host has no records of channel %r; it takes part in training with none",
                name,
            )


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
