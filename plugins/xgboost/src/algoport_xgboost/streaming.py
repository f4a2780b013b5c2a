"""Pipe and FastFile channels, streamed a chunk at a time into XGBoost's external memory.

A channel is never held whole: an ``xgboost.DataIter`` gives XGBoost one chunk (about
4 MB of the channel's bytes, the core's chunk) at a time, and XGBoost writes the quantised
records, about one byte per feature value, as pages to a temporary directory
(``ExtMemQuantileDMatrix``) that each boosting round reads back; the directory goes with
the matrix. Memory then holds a page and the per-record training state (gradients,
labels, predictions; about 30 bytes a record), not the quantised matrix: a 2 GB CSV
channel of 10M records trained at 1.2 GB peak with an in-memory ``QuantileDMatrix``, at
0.7 GB this way. The pages on disk are a tenth of the text Pipe mode spares the disk.

XGBoost reads the iterator several times (xgboost 3.2): 3 passes for channel ``train``, 2
for ``validation``, which is quantised with train's bins. Each pass reads the channel's
next epoch: in Pipe mode a new FIFO ``<channel>_<n>`` (SageMaker writes as many epochs as
the algorithm opens), in FastFile mode the files again. One survey epoch comes first: of a
CSV or recordio-protobuf channel its first chunk (the width), of a libsvm channel all of it
(the lowest and highest index, so indices count as in File mode).
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from algoport import Channel, DataError, Epoch, UserError
from algoport_xgboost import data, libsvm, model
from algoport_xgboost.data import Matrices, Table
from algoport_xgboost.peers import Peers
from algoport_xgboost.settings import TrainingSettings

log = logging.getLogger("algoport.xgboost")

STREAMED_MODES = ("Pipe", "FastFile")
# The only tree method that trains on a QuantileDMatrix is hist.
NOT_HIST = {
    "booster": ("gblinear",),
    "tree_method": ("exact", "approx"),
    "updater": ("grow_colmaker", "grow_histmaker"),
}


class ReadingStopped(Exception):
    """A stop was requested while a channel was being read."""


@dataclass(frozen=True)
class Layout:
    """What every chunk of both channels follows, on every host."""

    n_features: int
    libsvm_base: int | None


def is_streamed(channels: tuple[Channel, Channel | None]) -> bool:
    """Whether any channel is in Pipe or FastFile mode: then both are streamed."""
    return any(c is not None and c.input_mode in STREAMED_MODES for c in channels)


def check_streamable(params: Mapping[str, Any]) -> None:
    """Refuse the settings that train on raw values only, not on a quantised matrix."""
    for name, values in NOT_HIST.items():
        for value in values:
            if value in str(params.get(name, "")):
                raise UserError(
                    f"{name}={value} cannot train on a streamed channel: Pipe and FastFile "
                    "channels stream into XGBoost's quantised matrix, which only "
                    "tree_method=hist (the default) trains on. Use tree_method=hist, or File "
                    "mode."
                )


def matrices(
    channels: tuple[Channel, Channel | None],
    settings: TrainingSettings,
    peers: Peers,
    stop: threading.Event,
) -> Matrices | None:
    """Both channels as QuantileDMatrix objects; None if a stop came while reading.

    Only a lone host stops reading early: hosts in a collective read to the end together.
    """
    train, validation = channels
    present = [c for c in channels if c is not None]
    epochs = {c.name: _epochs(c) for c in present}
    # XGBoost's quantised pages, read back each boosting round; removed with the matrix.
    cache = Path(tempfile.mkdtemp(prefix="algoport-xgboost-pages-"))
    try:
        stop_reading = stop if peers.size == 1 else None
        layout = _survey(train, present, epochs, settings.csv_weights, peers, stop_reading)
        nthread = int(settings.params["nthread"])
        train_batches = ChannelBatches(
            train, epochs[train.name], layout, settings, peers, stop_reading, str(cache / "train")
        )
        train_matrix = xgb.ExtMemQuantileDMatrix(
            train_batches, max_bin=settings.params.get("max_bin"), nthread=nthread
        )
        weakref.finalize(train_matrix, shutil.rmtree, cache, ignore_errors=True)
        rows = {train.name: train_matrix.num_row()}
        _log_read(train_batches, rows[train.name])
        validation_matrix = None
        if validation is not None:
            batches = ChannelBatches(
                validation,
                epochs[validation.name],
                layout,
                settings,
                peers,
                stop_reading,
                str(cache / "validation"),
            )
            validation_matrix = xgb.ExtMemQuantileDMatrix(
                batches, ref=train_matrix, nthread=nthread
            )
            rows[validation.name] = validation_matrix.num_row()
            _log_read(batches, rows[validation.name])
    except ReadingStopped:
        shutil.rmtree(cache, ignore_errors=True)
        return None
    except BaseException:
        shutil.rmtree(cache, ignore_errors=True)
        raise
    finally:
        for channel_epochs in epochs.values():
            channel_epochs.close()
    data.check_rows(rows, peers)
    base = layout.libsvm_base
    return Matrices(
        train_matrix, validation_matrix, model.UNRECORDED_INDEX_BASE if base is None else base
    )


def _epochs(channel: Channel) -> Generator[Epoch, None, None]:
    """The channel's epochs; closing this closes the open one (``Channel.epochs`` is one)."""
    yield from channel.epochs()


def _log_read(batches: ChannelBatches, rows: int) -> None:
    log.info(
        "channel %r streamed: %d records on this host, in %d passes after a survey",
        batches.channel.name,
        rows,
        batches.passes,
    )


def _survey(
    train: Channel,
    channels: list[Channel],
    epochs: Mapping[str, Iterator[Epoch]],
    csv_weights: bool,
    peers: Peers,
    stop: threading.Event | None,
) -> Layout:
    """The feature count and libsvm index base, agreed by every host, from one epoch each."""
    dense: dict[str, Table | None] = {}
    lowest: list[int] = []
    highest: list[int] = []
    for channel in channels:
        epoch = next(epochs[channel.name])
        if data.is_libsvm(channel):
            for rows in _libsvm_rows(epoch):
                if stop is not None and stop.is_set():
                    raise ReadingStopped
                if rows.min_index is not None and rows.max_index is not None:
                    lowest.append(rows.min_index)
                    highest.append(rows.max_index)
            continue
        first = next(epoch.chunks(), None)
        dense[channel.name] = (
            None if first is None else data.dense_table(channel.name, first, csv_weights)
        )
    if train.name in dense and dense[train.name] is None and peers.size == 1:
        raise DataError(f"Channel {train.name!r} has no records.")
    base = None
    if any(data.is_libsvm(c) for c in channels):
        base = data.agreed_index_base(min(lowest, default=None), peers)
    n_features = data.feature_count(train.name, dense, max(highest, default=None), base, peers)
    return Layout(n_features, base)


def _libsvm_rows(epoch: Epoch) -> Iterator[libsvm.LibsvmRows]:
    current, line = None, 1
    for name, piece in epoch.lines():
        if name != current:
            current, line = name, 1
        source = f"Channel {epoch.channel.name!r}, {name}"
        yield libsvm.parse(piece, source, labelled=True, first_line=line)
        line += piece.count(b"\n")


def _whole_groups(chunks: Iterator[libsvm.LibsvmRows]) -> Iterator[list[libsvm.LibsvmRows]]:
    """The chunks, with each one's last query group held back for the next: XGBoost takes
    the records of one qid in two batches for two groups."""
    held: list[libsvm.LibsvmRows] = []
    for rows in chunks:
        if rows.qid is None or not rows.n_rows:
            yield [*held, rows]
            held = []
            continue
        boundaries = np.flatnonzero(rows.qid != rows.qid[-1])
        if not boundaries.size:
            held.append(rows)  # one group, perhaps continued
            continue
        last_group = int(boundaries[-1]) + 1
        yield [*held, rows.rows(0, last_group)]
        held = [rows.rows(last_group, rows.n_rows)]
    if held:
        yield held


# External memory keeps a page per batch it is given, so small batches (recordio-protobuf
# decodes 1024 records at a time) are joined up to this many values: 16 MB of float64.
# Measured on 10M records: 1024-record batches took 3.8 GB and 578 s, CSV's 4 MB ones 0.9 GB.
BATCH_VALUES = 1 << 21


def _large_batches(tables: Iterator[Table]) -> Iterator[Table]:
    """Dense tables joined until each holds ``BATCH_VALUES`` values; sparse ones as they come."""
    held: list[Table] = []
    values = 0
    for table in tables:
        if not isinstance(table.features, np.ndarray) or table.qid is not None:
            if held:
                yield _joined(held)
                held, values = [], 0
            yield table
            continue
        held.append(table)
        values += table.n_rows * table.n_features
        if values >= BATCH_VALUES:
            yield _joined(held)
            held, values = [], 0
    if held:
        yield _joined(held)


def _joined(tables: list[Table]) -> Table:
    if len(tables) == 1:
        return tables[0]
    weights = [t.weights for t in tables if t.weights is not None]
    return dataclasses.replace(
        tables[0],
        features=np.concatenate([t.features for t in tables]),
        labels=np.concatenate([t.labels for t in tables]),
        weights=np.concatenate(weights) if len(weights) == len(tables) else None,
        origin=None,
    )


class ChannelBatches(xgb.DataIter):
    """One channel's records for XGBoost, a chunk at a time; each pass reads the next epoch.

    ``reset`` only marks the pass as done: the next epoch opens when XGBoost asks for the
    next pass's first chunk, so the reset XGBoost makes after its last pass opens nothing.
    On several hosts a FullyReplicated channel's chunks are dealt round-robin (every host
    reads the same chunks), so together the hosts train on each record once. Once ``stop``
    is set, the next request for a chunk raises ReadingStopped.
    """

    def __init__(
        self,
        channel: Channel,
        epochs: Iterator[Epoch],
        layout: Layout,
        settings: TrainingSettings,
        peers: Peers,
        stop: threading.Event | None,
        cache_prefix: str,
    ) -> None:
        super().__init__(cache_prefix=cache_prefix, release_data=True, on_host=False)
        self.channel = channel
        self.passes = 0
        self._epochs = epochs
        self._layout = layout
        self._settings = settings
        self._stop = stop
        self._keep: Callable[[int], bool] = lambda index: True
        if peers.size > 1 and channel.distribution == "FullyReplicated":
            self._keep = lambda index: index % peers.size == peers.rank
            log.info(
                "channel %r is FullyReplicated over %d hosts: this host trains on every "
                "%d-th chunk from chunk %d",
                channel.name,
                peers.size,
                peers.size,
                peers.rank + 1,
            )
        self._tables: Iterator[Table] | None = None

    def reset(self) -> None:
        self._tables = None

    def next(self, input_data: Callable[..., None]) -> bool:
        if self._stop is not None and self._stop.is_set():
            raise ReadingStopped
        if self._tables is None:
            self.passes += 1
            self._tables = _large_batches(self._pass(next(self._epochs)))
        table = next(self._tables, None)
        if table is None:
            return False
        input_data(data=table.features, label=table.labels, weight=table.weights, qid=table.qid)
        return True

    def _pass(self, epoch: Epoch) -> Iterator[Table]:
        settings = self._settings
        given = False
        for index, table in enumerate(self._read(epoch)):
            if table.n_rows and self._keep(index):
                data.check_labels(table, settings.objective, settings.num_class)
                given = True
                yield table
        if not given:
            # XGBoost needs the columns even from a host with no records.
            yield data.empty_table(self.channel.name, self._layout.n_features, sparse=False)

    def _read(self, epoch: Epoch) -> Iterator[Table]:
        name = self.channel.name
        n_features = self._layout.n_features
        if self._layout.libsvm_base is not None and data.is_libsvm(self.channel):
            for parts in _whole_groups(_libsvm_rows(epoch)):
                yield data.libsvm_table(name, parts, self._layout.libsvm_base, n_features)
            return
        first_row = 0
        for chunk in epoch.chunks():
            table = data.dense_table(name, chunk, self._settings.csv_weights, first_row)
            if table.n_features != n_features:
                raise DataError(
                    f"{table.where(0)} has {table.n_features} features, but the records before "
                    f"it or channel 'train' have {n_features}; every record needs the same "
                    "feature columns."
                )
            first_row += table.n_rows
            yield table
