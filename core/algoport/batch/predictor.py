"""A callable class for ``ray.data.Dataset.map_batches``: load once, predict every batch.

Ray Data runs a callable class as a pool of actors: each builds one :class:`Predictor`
(the plugin's ``load``) and calls it on batch after batch (its ``predict``). Nothing here
imports Ray, so the in-process runner calls the same class on the same batches.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from algoport.batch.alignment import FEATURES, LINE, PATH, RECORD, Run, runs
from algoport.errors import (
    AlgoportError,
    AlgorithmError,
    DataError,
    PlatformError,
    PluginError,
    UserError,
)
from algoport.local.artifacts import ArchiveLimits, extract_model
from algoport.media import Columns, Invocation, MediaType, encode_predictions
from algoport.plugins import selected_algorithm

Batch = dict[str, Any]
FIRST_LINE, ROWS, BODY, FAILURE = "first_line", "rows", "body", "failure"
# What predict is told the rows of a ``features`` column were: decoded arrays.
FEATURES_TYPE = "application/x-npy"


class RejectedRecord(UserError):
    """One record of a batch was refused by the format's decoder or by the model."""


def model_directory(model: Path | bytes, limits: ArchiveLimits, into: Path) -> Path:
    """A model directory, a model.tar.gz (a path, or its bytes from another machine)
    extracted safely into ``into``, as ``algoport local serve`` does."""
    if isinstance(model, bytes):
        tarball = into / "model.tar.gz"
        tarball.write_bytes(model)
        return extract_model(tarball, into / "model", limits)
    if model.is_dir():
        return model
    if model.is_file():
        return extract_model(model, into / "model", limits)
    raise UserError(f"Model {model} does not exist; give a model.tar.gz or a model directory.")


class Predictor:
    """Predict with any installed algorithm, batch by batch.

    The algorithm is chosen as ``serve`` chooses it: ``algorithm`` if given, else the one
    named in the model's manifest, else the only one installed. A batch (a dict of
    columns, as Ray Data's ``numpy`` batches are) holds either ``record``, one encoded
    record per row (e.g. a CSV line) decoded as ``content_type`` (default: the first type
    the algorithm accepts), or ``features``, a 2-D array of one row per record. A call
    returns the prediction columns as the algorithm names them, beside the batch's other
    columns (``path`` and ``line`` say where a record came from and name it when it is
    rejected).
    """

    def __init__(
        self,
        model: str | Path | bytes,
        *,
        algorithm: str | None = None,
        content_type: str | None = None,
        accept: str | None = None,
        limits: ArchiveLimits | None = None,
    ) -> None:
        self._workdir = tempfile.TemporaryDirectory(prefix="algoport-batch-")
        source = model if isinstance(model, bytes) else Path(model)
        model_dir = model_directory(source, limits or ArchiveLimits(), Path(self._workdir.name))
        self.algorithm = selected_algorithm(algorithm, model_dir)
        self.formats = self.algorithm.formats()
        self.decoder, decoded_as = self.formats.decoder(content_type)
        self.encoder, answer = self.formats.encoder(accept, None)
        self.invocation = Invocation(content_type=decoded_as, accept=answer)
        self.features_invocation = Invocation(
            content_type=MediaType.parse(FEATURES_TYPE), accept=answer
        )
        self.model = self.algorithm.load(model_dir)

    def __call__(self, batch: Batch) -> Batch:
        kept = {name: values for name, values in batch.items() if name not in (RECORD, FEATURES)}
        return {**kept, **self.predict(batch)}

    def predict(self, batch: Batch) -> Columns:
        try:
            return self._predict(batch)
        except UserError:
            self._reject_first_bad_record(batch)
            raise

    def _predict(self, batch: Batch) -> Columns:
        if FEATURES in batch:
            features = np.asarray(batch[FEATURES])
            return self.algorithm.predict_columns(self.model, features, self.features_invocation)
        if RECORD not in batch:
            raise UserError(
                f"A batch holds columns {', '.join(batch)}; expected {RECORD!r} (encoded "
                f"records) or {FEATURES!r} (a 2-D array)."
            )
        assert self.decoder.decode is not None
        body = b"".join(_as_bytes(record) for record in batch[RECORD])
        data = self.decoder.decode(body, self.invocation.content_type)
        return self.algorithm.predict_columns(self.model, data, self.invocation)

    def _reject_first_bad_record(self, batch: Batch) -> None:
        """Raise RejectedRecord for the first record the batch failed on, alone."""
        count = len(next(iter(batch.values())))
        for row in range(count):
            single = {name: values[row : row + 1] for name, values in batch.items()}
            try:
                self._predict(single)
            except UserError as exc:
                where = (
                    f"{batch[PATH][row]} line {batch[LINE][row]}"
                    if PATH in batch and LINE in batch
                    else f"Record {row + 1} of the batch"
                )
                raise RejectedRecord(f"{where} is rejected: {exc.message}") from exc

    def encode(self, columns: Columns) -> bytes:
        return encode_predictions(
            self.encoder, columns, self.invocation.accept, self.algorithm.name
        )


class LinePredictor(Predictor):
    """A Predictor whose calls answer runs of lines with their encoded predictions.

    Each output row is one :class:`~algoport.batch.alignment.Run`: a file, its first line,
    how many lines, and the body ``algoport local transform`` would have written for them.
    The output format must be line-based (one line per record): the first such type the
    algorithm produces, unless ``accept`` names one.
    """

    def __init__(self, model: str | Path | bytes, **options: Any) -> None:
        super().__init__(model, **options)
        if options.get("accept") is None:
            line_based = [t for t in self.formats.produces if self._line_based(t)]
            if not line_based:
                raise UserError(
                    f"Algorithm {self.algorithm.name!r} produces no line-based type "
                    f"({', '.join(self.formats.produces)}); batch output needs one line per "
                    "record."
                )
            self.encoder, answer = self.formats.encoder(line_based[0], None)
            self.invocation.accept = self.features_invocation.accept = answer
        elif not self.encoder.line_based:
            raise UserError(
                f"--format {self.invocation.accept.essence} is not line-based; batch output "
                "needs one line per record. Choose one of "
                f"{', '.join(t for t in self.formats.produces if self._line_based(t))}."
            )

    def _line_based(self, essence: str) -> bool:
        found = self.formats.get(essence)
        return found is not None and found.line_based

    def runs(self, batch: Batch) -> list[Run]:
        columns = self.predict(batch)
        return [
            Run(path, first, part.stop - part.start, _ended(self.encode(_rows(columns, part))))
            for path, first, part in runs(batch)
        ]

    def __call__(self, batch: Batch) -> Batch:
        # Ray hands the driver an actor's exception as text only: a failure travels as a
        # row, so that the driver raises it with its kind and message intact.
        try:
            found, failure = self.runs(batch), ""
        except AlgoportError as exc:
            found, failure = [], f"{type(exc).__name__}:{exc.message}"
        return {
            PATH: np.array([run.path for run in found] or [""], dtype=object),
            FIRST_LINE: np.array([run.first_line for run in found] or [0], dtype=np.int64),
            ROWS: np.array([run.rows for run in found] or [0], dtype=np.int64),
            BODY: np.array([run.body for run in found] or [b""], dtype=object),
            FAILURE: np.array([failure] * max(len(found), 1), dtype=object),
        }


def raise_failure(failure: str) -> None:
    """Raise again, in the driver, the error a LinePredictor's call returned."""
    kind, _, message = failure.partition(":")
    errors: dict[str, type[AlgoportError]] = {
        cls.__name__: cls
        for cls in (RejectedRecord, DataError, UserError, AlgorithmError, PluginError)
    }
    raise errors.get(kind, PlatformError)(message)


def _ended(body: bytes) -> bytes:
    """A body ending with a newline, as batch transform assembles with ``Line``."""
    return body if body.endswith(b"\n") else body + b"\n"


def _rows(columns: Columns, part: slice) -> Columns:
    return {name: values[part] for name, values in columns.items()}


def _as_bytes(record: Any) -> bytes:
    return record.encode() if isinstance(record, str) else bytes(record)
