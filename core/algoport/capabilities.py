"""What an algorithm declares it can do beyond the baseline every algorithm gets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Capabilities:
    """The algorithm's answer to the ``capabilities`` hook; every field defaults to no.

    ``distributed_training``: with several hosts, ``fit`` on every host takes part and the
    model is built from every host's data (each host reads the files SageMaker gave it).
    Without it, a job with several hosts and a ``ShardedByS3Key`` channel is refused,
    since the model would see one host's shard only; ``algoport spec`` writes it as
    ``SupportsDistributedTraining``.

    ``independent_rows``: ``predict``'s output for a record depends on that record and
    the model alone, never on the other records of the request, so the core may predict
    a request's records in several calls, or several requests' records in one call, and
    reply exactly as for one call per request.
    """

    distributed_training: bool = False
    independent_rows: bool = False
