"""``algoport batch`` without Ray: the same Predictor, batch by batch, in this process."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from algoport.batch.alignment import Run, read_bytes, records
from algoport.batch.predictor import Batch, LinePredictor
from algoport.batch.progress import Progress


def file_batches(files: Sequence[str], content_type: str, batch_size: int) -> Iterator[Batch]:
    for location in files:
        rows = records(location, read_bytes(location), content_type)
        count = len(rows["line"])
        for start in range(0, count, batch_size):
            yield {name: values[start : start + batch_size] for name, values in rows.items()}


def predict_in_process(
    predictor: LinePredictor,
    files: Sequence[str],
    content_type: str,
    batch_size: int,
    progress: Progress,
) -> Iterator[Run]:
    for batch in file_batches(files, content_type, batch_size):
        for run in predictor.runs(batch):
            progress.add(run.rows)
            yield run
