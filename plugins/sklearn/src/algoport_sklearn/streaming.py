"""What streaming training shares: the choice of solver, mini-batches read from a channel
epoch by epoch, and checkpoints of the training state.

Memory is bounded by one decoded chunk of the channel (the core reads about 4 MB of it at
a time) plus one mini-batch, whatever the channel's size; each epoch is one pass over the
channel's files, or one FIFO in Pipe mode.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import skops.io

from algoport import Channel, TrainingJob, UserError
from algoport_sklearn.data import Features, check_feature_count, check_values

log = logging.getLogger(__name__)

# Keys the saved state always has; a checkpoint without them was not written here.
STATE_KEYS: Final = frozenset({"algorithm", "epochs_done", "feature_count"})


def chooses_streaming(
    job: TrainingJob, streaming_only: Collection[str], exact_only: Collection[str]
) -> bool:
    """Resolve ``solver`` (see its description) and warn about settings the choice ignores."""
    solver = job.hyperparameters["solver"]
    given = job.given_hyperparameters
    if solver == "auto":
        pipe = job.channel("train").is_pipe
        wants = sorted(given & set(streaming_only))
        streaming = pipe or bool(wants)
        reason = "the train channel is in Pipe mode" if pipe else f"the job sets {wants}"
        log.info(
            "solver auto: %s", f"streaming, as {reason}" if streaming else "exact (data in memory)"
        )
    else:
        streaming = solver == "streaming"
    ignored = sorted(given & set(exact_only if streaming else streaming_only))
    for name in ignored:
        log.warning(
            "hyperparameter %s=%r does not apply to the %s solver and is ignored",
            name,
            job.hyperparameters[name],
            "streaming" if streaming else "exact",
        )
    return streaming


@dataclass(frozen=True)
class Batch:
    """Consecutive records of one epoch; ``first_record`` counts from 1 at the epoch's start."""

    features: Features
    labels: Features | None
    first_record: int

    def __len__(self) -> int:
        return int(self.features.shape[0])


class ChannelStream:
    """A channel read epoch after epoch in mini-batches, every batch checked."""

    def __init__(self, channel: Channel, feature_count: int | None, source: str) -> None:
        self.channel = channel
        self.where = f"Channel {channel.name!r}"
        # The width every record must have, and what set it (for messages).
        self.feature_count = feature_count
        self.source = source
        self._epochs = channel.epochs()

    def next_epoch(self, size: int, *, labelled: bool) -> Iterator[Batch]:
        """The next epoch's records, ``size`` at a time (the last batch may be smaller)."""
        epoch = next(self._epochs)
        features: list[Features] = []
        labels: list[Features] = []
        pending = 0
        done = 0
        for chunk in epoch.chunks():
            x = np.asarray(chunk.features, dtype=np.float64)
            self._check(x, done + pending)
            features.append(x)
            if labelled:
                labels.append(self._labels(chunk.labels))
            pending += x.shape[0]
            while pending >= size:
                batch = self._cut(features, labels, size, done, labelled)
                done += size
                pending -= size
                yield batch
        if pending:
            yield self._cut(features, labels, pending, done, labelled)
        elif not done:
            raise UserError(f"{self.where} holds no records; check the channel's S3 prefix.")

    def _check(self, features: Features, records_before: int) -> None:
        if self.feature_count is None:
            self.feature_count = features.shape[1]
            self.source = f"like the first record of channel {self.channel.name!r}"
        check_feature_count(features, self.feature_count, self.where, self.source)
        check_values(features, self.where, allow_missing=False, first_record=records_before + 1)

    def _labels(self, labels: Any) -> Features:
        if labels is None:
            raise UserError(
                f"{self.where} has no label column (its ContentType is "
                f"{self.channel.content_type}); this algorithm learns from labels. Put the "
                "label in the first column and use ContentType text/csv, or give "
                "recordio-protobuf records a label."
            )
        return np.asarray(labels, dtype=np.float64).reshape(-1)

    @staticmethod
    def _cut(
        features: list[Features], labels: list[Features], size: int, done: int, labelled: bool
    ) -> Batch:
        """Take ``size`` records off the front of the pending lists."""
        x = np.concatenate(features) if len(features) > 1 else features[0]
        features[:] = [x[size:]] if size < x.shape[0] else []
        y = None
        if labelled:
            all_labels = np.concatenate(labels) if len(labels) > 1 else labels[0]
            labels[:] = [all_labels[size:]] if size < all_labels.shape[0] else []
            y = all_labels[:size]
        return Batch(x[:size], y, done + 1)


def save_state(job: TrainingJob, prefix: str, state: dict[str, Any]) -> None:
    """Checkpoint ``<prefix>-<epochs done>``: plain values and arrays, saved with skops."""
    checkpoint = job.save_checkpoint(prefix, int(state["epochs_done"]), skops.io.dumps(state))
    log.info("checkpoint %s written", checkpoint.path.name)


def load_state(job: TrainingJob, prefix: str, algorithm: str, feature_count: int | None) -> Any:
    """The state of the latest checkpoint, or None to start afresh."""
    checkpoint = job.latest_checkpoint(prefix)
    if checkpoint is None:
        return None
    try:
        state = skops.io.load(checkpoint.path, trusted=[])
    except Exception as exc:
        raise UserError(
            f"Checkpoint {checkpoint.path} cannot be read ({type(exc).__name__}: {exc}); "
            "remove it, or point CheckpointConfig at an empty S3 prefix, to train from the start."
        ) from None
    if (
        not isinstance(state, dict)
        or not set(state) >= STATE_KEYS
        or state["algorithm"] != algorithm
    ):
        raise UserError(
            f"Checkpoint {checkpoint.path} was not written by algorithm {algorithm!r}; remove "
            "it, or point CheckpointConfig at an empty S3 prefix, to train from the start."
        )
    if feature_count is not None and state["feature_count"] != feature_count:
        raise UserError(
            f"Checkpoint {checkpoint.path} is of a model with {state['feature_count']} "
            f"features; feature_dim is {feature_count}. Remove the checkpoint to train afresh."
        )
    log.info(
        "resuming from checkpoint %s: %d epoch(s) already done",
        checkpoint.path.name,
        state["epochs_done"],
    )
    return state
