"""Boosting: ``xgboost.train`` with the plugin's callbacks, continuing from a checkpoint."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import xgboost as xgb

from algoport import TrainingJob, UserError
from algoport_xgboost import cluster, eval_metrics
from algoport_xgboost.callbacks import LogMetrics, ResumableEarlyStopping, StopAndCheckpoint
from algoport_xgboost.checkpoints import Checkpointer, Resumed
from algoport_xgboost.data import TRAIN, VALIDATION, Matrices
from algoport_xgboost.errors import xgboost_message
from algoport_xgboost.peers import Peers
from algoport_xgboost.settings import TrainingSettings

log = logging.getLogger("algoport.xgboost")


@dataclass(frozen=True)
class Boosted:
    booster: xgb.Booster
    rounds_done: int
    # Ended by a stop request before num_round rounds (not by early stopping).
    interrupted: bool


def boost(
    job: TrainingJob,
    settings: TrainingSettings,
    matrices: Matrices,
    peers: Peers,
    resumed: Resumed | None,
) -> Boosted:
    done = resumed.rounds if resumed else 0
    if resumed is not None and done >= settings.num_round:
        return Boosted(_first_rounds(resumed.booster, settings.num_round), done, False)
    train = matrices.train
    evals = [(train, TRAIN)]
    if matrices.validation is not None:
        evals.append((matrices.validation, VALIDATION))
    stopper = StopAndCheckpoint(
        job.stop_requested, peers, Checkpointer(job, settings.checkpoint_interval), done
    )
    custom_metric: Any = None
    if settings.extra_metrics:
        custom_metric = eval_metrics.extra_evaluation(settings.extra_metrics, settings.objective)
    log.info(
        "boosting rounds %d to %d on %d records × %d features%s",
        done + 1,
        settings.num_round,
        train.num_row(),
        train.num_col(),
        f", validating on {evals[1][0].num_row()} records" if len(evals) > 1 else "",
    )
    try:
        booster = xgb.train(
            settings.params,
            train,
            num_boost_round=settings.num_round - done,
            evals=evals,
            custom_metric=custom_metric,
            callbacks=_callbacks(job, settings, done, stopper),
            verbose_eval=False,
            xgb_model=resumed.booster if resumed else None,
        )
    except xgb.core.XGBoostError as exc:
        raise cluster.collective_failure(exc, job.resources) or UserError(
            f"XGBoost stopped training: {xgboost_message(exc)}. Check the hyperparameters "
            "and the data against XGBoost's parameter documentation."
        ) from exc
    interrupted = stopper.stopped and stopper.rounds_done < settings.num_round
    return Boosted(booster, stopper.rounds_done, interrupted)


def _callbacks(
    job: TrainingJob, settings: TrainingSettings, done: int, stopper: StopAndCheckpoint
) -> list[xgb.callback.TrainingCallback]:
    # Order matters: XGBoost stops calling callbacks for a round once one says stop.
    callbacks: list[xgb.callback.TrainingCallback] = []
    if job.is_master:
        # Every host holds the same metrics; one log of them is enough.
        callbacks.append(LogMetrics(job.log_metric, done))
    if settings.early_stopping_rounds is not None:
        callbacks.append(
            ResumableEarlyStopping(
                rounds_before=done,
                rounds=settings.early_stopping_rounds,
                metric_name=settings.early_stopping_metric,
                data_name=VALIDATION,
                maximize=settings.maximize_early_stopping,
                # gblinear cannot be cut back to its best round.
                save_best=settings.params.get("booster") != "gblinear",
            )
        )
    callbacks.append(stopper)
    return callbacks


def _first_rounds(booster: xgb.Booster, num_round: int) -> xgb.Booster:
    done = booster.num_boosted_rounds()
    if done == num_round:
        log.info("the checkpoint already holds all %d rounds", num_round)
        return booster
    log.warning("the checkpoint holds %d rounds, more than num_round=%d", done, num_round)
    try:
        return booster[:num_round]
    except xgb.core.XGBoostError:
        raise UserError(
            f"The checkpoint holds {done} rounds, more than num_round={num_round}, and this "
            "booster cannot be cut back. Raise num_round, or remove the checkpoints to train "
            "from the start."
        ) from None
