"""``algoport batch`` on Ray Data: a pool of Predictor actors, outputs back in input order.

Files are read whole by Ray tasks and split into lines (or Parquet rows) beside their
predictions; ``preserve_order`` keeps rows in input order through the actor pool, so
the driver writes each file's runs as they come back, and checks that they line up.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from algoport.batch.alignment import PATH, Run, records
from algoport.batch.predictor import (
    BODY,
    FAILURE,
    FIRST_LINE,
    ROWS,
    Batch,
    LinePredictor,
    raise_failure,
)
from algoport.batch.progress import Progress
from algoport.errors import AlgoportError, PlatformError

# Reading is I/O: read tasks take no CPU, so that actors holding every CPU cannot starve
# them (with a CPU each, 2 actors on 2 CPUs waited forever for their input).
READ_CPUS = 0


def ray_available() -> bool:
    try:
        import ray.data  # noqa: F401
    except ImportError:
        return False
    return True


def _split_files(batch: Batch, content_type: str) -> Batch:
    """Whole files (``bytes``, ``path``) into one row per record, with file and line."""
    import numpy as np

    pieces = [
        records(str(path), bytes(data), content_type)
        for path, data in zip(batch[PATH], batch["bytes"], strict=True)
    ]
    if not pieces:
        return {}
    return {name: np.concatenate([piece[name] for piece in pieces]) for name in pieces[0]}


def predict_on_ray(
    predictor_options: dict[str, Any],
    files: Sequence[str],
    content_type: str,
    *,
    batch_size: int,
    concurrency: int,
    address: str | None,
    progress: Progress,
) -> Iterator[Run]:
    """Predict every record of ``files`` on Ray; the runs come back in input order.

    ``address`` None starts a local Ray for the run; ``auto`` (or ``ray://…``) joins a cluster.
    """
    import ray
    import ray.data

    if address is None:
        ray.init(include_dashboard=False, logging_level="WARNING")
    else:
        ray.init(address=address, logging_level="WARNING")
    try:
        context = ray.data.DataContext.get_current()
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False  # ours reports records per second
        dataset = ray.data.read_binary_files(list(files), include_paths=True, num_cpus=READ_CPUS)
        dataset = dataset.map_batches(
            _split_files, batch_size=1, fn_kwargs={"content_type": content_type}
        )
        dataset = dataset.map_batches(
            LinePredictor,
            batch_size=batch_size,
            batch_format="numpy",
            fn_constructor_kwargs=predictor_options,
            compute=ray.data.ActorPoolStrategy(size=concurrency),
        )
        try:
            for row in dataset.iter_rows():
                if row[FAILURE]:
                    raise_failure(str(row[FAILURE]))
                run = Run(str(row[PATH]), int(row[FIRST_LINE]), int(row[ROWS]), row[BODY])
                progress.add(run.rows)
                yield run
        except AlgoportError:
            raise
        except Exception as exc:
            raise PlatformError(
                f"Ray failed to run the batch: {type(exc).__name__}: {exc}"
            ) from exc
    finally:
        ray.shutdown()
