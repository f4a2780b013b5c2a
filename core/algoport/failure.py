"""The failure file: why a training job failed, in the one place SageMaker shows it.

SageMaker keeps the first 1024 characters of ``/opt/ml/output/failure`` as the job's
``FailureReason``, so the file starts with a one-line cause and its kind; the details
follow, and tracebacks go to the log only.
"""

from __future__ import annotations

import logging

from algoport.contract import ContractPaths
from algoport.errors import AlgoportError, AlgorithmError

log = logging.getLogger("algoport.train")

FIRST_LINE_LIMIT = 1000


def failure_text(error: AlgoportError) -> str:
    """The failure file's text: ``<Kind>: <cause>`` on one line, then the details."""
    first = f"{error.kind.capitalize()}: {' '.join(error.message.split())}"
    if len(first) > FIRST_LINE_LIMIT:
        first = first[: FIRST_LINE_LIMIT - 1] + "…"
    lines = [first]
    if len(error.details) > 1:
        lines += [f"- {detail}" for detail in error.details]
    return "\n".join(lines) + "\n"


def clear_failure(paths: ContractPaths) -> None:
    """Remove a failure file an earlier run left, so it cannot explain this one."""
    paths.failure_file.unlink(missing_ok=True)


def write_failure(paths: ContractPaths, error: AlgoportError) -> None:
    """Write the failure file, unless the algorithm already wrote its own."""
    failure = paths.failure_file
    if failure.exists() and failure.stat().st_size > 0:
        log.info("keeping the failure file the algorithm wrote: %s", failure)
        return
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(failure_text(error), encoding="utf-8")


def as_algoport_error(exc: BaseException, algorithm: str | None) -> AlgoportError:
    """Our own errors as they are; anything else raised during training is the algorithm's."""
    if isinstance(exc, AlgoportError):
        return exc
    where = f"Algorithm {algorithm!r} failed" if algorithm else "Training failed"
    return AlgorithmError(f"{where}: {type(exc).__name__}: {exc}")
