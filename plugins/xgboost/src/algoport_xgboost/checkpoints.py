"""Checkpoints: the booster so far, written into the job's checkpoint directory; resuming.

A checkpoint is ``xgboost-checkpoint-<rounds done, 9 digits>``, the booster in XGBoost's
UBJSON format, written atomically by the core (``job.save_checkpoint``); the three latest
are kept. SageMaker uploads the directory to ``CheckpointConfig.S3Uri`` and restores it
when a job restarts (a spot interruption), so a restarted job resumes from the latest one.
With several hosts only the first writes them, and its checkpoint is what every host
resumes from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import xgboost as xgb

from algoport import TrainingJob, UserError
from algoport_xgboost.errors import xgboost_message
from algoport_xgboost.peers import Peers

log = logging.getLogger("algoport.xgboost")

PREFIX = "xgboost-checkpoint"
KEEP = 3


@dataclass(frozen=True)
class Resumed:
    """The booster a restarted job continues from."""

    booster: xgb.Booster
    rounds: int


class Checkpointer:
    """Writes checkpoints from the host that writes the model; the other hosts write none."""

    def __init__(self, job: TrainingJob, interval: int) -> None:
        self.job = job
        # SageMaker syncs the directory only with CheckpointConfig; without it, a checkpoint
        # is still written when the job is stopped, for a local rerun of the same tree.
        self.periodic = job.paths.checkpoint_config_file.is_file()
        self.interval = interval
        self.writes = job.is_master
        self.latest: int | None = None

    def after_round(self, booster: xgb.Booster, rounds: int, *, stopping: bool) -> None:
        due = stopping or (self.periodic and rounds % self.interval == 0)
        if not (self.writes and due) or rounds == self.latest:
            return
        raw = bytes(booster.save_raw(raw_format="ubj"))
        checkpoint = self.job.save_checkpoint(PREFIX, rounds, raw, keep=KEEP)
        self.latest = rounds
        log.debug("checkpoint %s written", checkpoint.path)


def resume(job: TrainingJob, peers: Peers) -> Resumed | None:
    """The latest checkpoint of the first host, on every host; None to start afresh."""
    raw = _read_latest(job) if peers.rank == 0 else None
    shared = peers.share(raw)
    if shared is None:
        return None
    booster = xgb.Booster(model_file=bytearray(shared))
    return Resumed(booster, booster.num_boosted_rounds())


def _read_latest(job: TrainingJob) -> bytes | None:
    checkpoint = job.latest_checkpoint(PREFIX)
    if checkpoint is None:
        return None
    raw = checkpoint.path.read_bytes()
    try:
        rounds = xgb.Booster(model_file=bytearray(raw)).num_boosted_rounds()
    except xgb.core.XGBoostError as exc:
        raise UserError(
            f"Checkpoint {checkpoint.path} is not a model XGBoost {xgb.__version__} can read: "
            f"{xgboost_message(exc)}. Remove it, or point CheckpointConfig at an empty S3 "
            "prefix, to train from the start."
        ) from None
    log.info("resuming from checkpoint %s: %d round(s) already done", checkpoint.path.name, rounds)
    return raw
