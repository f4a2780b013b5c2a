"""``fit``: check the settings, read the channels, boost, and save the model."""

from __future__ import annotations

import json
import logging
from typing import Any

import xgboost as xgb

from algoport import TrainingJob, UserError
from algoport_xgboost import data, eval_metrics, model
from algoport_xgboost.callbacks import LogMetrics, StopWhenRequested
from algoport_xgboost.errors import xgboost_message
from algoport_xgboost.settings import TrainingSettings, training_settings

log = logging.getLogger("algoport.xgboost")

TRAIN = "train"
VALIDATION = "validation"
TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"


def fit(job: TrainingJob) -> None:
    train_channel = job.channel(TRAIN)
    validation_channel = job.channels.get(VALIDATION)
    settings = training_settings(
        job.hyperparameters,
        has_validation=validation_channel is not None,
        train_content_type=train_channel.content_type.essence,
        tuning_metric=tuning_objective_metric(job),
    )
    if not _trains_on_this_host(job):
        return
    loaded = data.load(train_channel, validation_channel, settings.csv_weights)
    for table in (loaded.train, loaded.validation):
        if table is not None:
            data.check_labels(table, settings.objective, settings.num_class)
    if job.stop_requested.is_set():
        raise _stopped_error(0, settings.num_round)
    booster, stop = _boost(job, settings, loaded)
    if stop.stop_requested.is_set():
        if not settings.save_model_on_termination:
            raise _stopped_error(stop.rounds_done, settings.num_round)
        log.warning(
            "stopped after %d of %d rounds; saving that model (save_model_on_termination)",
            stop.rounds_done,
            settings.num_round,
        )
    if job.is_master:
        facts = model.ModelFacts.from_booster(
            booster,
            libsvm_index_base=loaded.libsvm_index_base,
            best_iteration=_best_iteration(booster),
            rounds=booster.num_boosted_rounds(),
        )
        model.save(booster, facts, job.model_dir)


def _boost(
    job: TrainingJob, settings: TrainingSettings, loaded: data.TrainingData
) -> tuple[xgb.Booster, StopWhenRequested]:
    nthread = int(settings.params["nthread"])
    train = loaded.train.dmatrix(nthread)
    evals = [(train, TRAIN)]
    if loaded.validation is not None:
        evals.append((loaded.validation.dmatrix(nthread), VALIDATION))
    stop = StopWhenRequested(job.stop_requested)
    callbacks: list[xgb.callback.TrainingCallback] = [LogMetrics(job.log_metric), stop]
    if settings.early_stopping_rounds is not None:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=settings.early_stopping_rounds,
                metric_name=settings.early_stopping_metric,
                data_name=VALIDATION,
                maximize=settings.maximize_early_stopping,
                # gblinear cannot be cut back to its best round.
                save_best=settings.params.get("booster") != "gblinear",
            )
        )
    custom_metric: Any = None
    if settings.extra_metrics:
        custom_metric = eval_metrics.extra_evaluation(settings.extra_metrics, settings.objective)
    log.info(
        "boosting up to %d rounds on %d records × %d features%s",
        settings.num_round,
        train.num_row(),
        train.num_col(),
        f", validating on {evals[1][0].num_row()} records" if len(evals) > 1 else "",
    )
    try:
        booster = xgb.train(
            settings.params,
            train,
            num_boost_round=settings.num_round,
            evals=evals,
            custom_metric=custom_metric,
            callbacks=callbacks,
            verbose_eval=False,
        )
    except xgb.core.XGBoostError as exc:
        raise UserError(
            f"XGBoost stopped training: {xgboost_message(exc)}. Check the hyperparameters "
            "and the data against XGBoost's parameter documentation."
        ) from exc
    return booster, stop


def tuning_objective_metric(job: TrainingJob) -> str | None:
    """The metric a tuning job optimises (``validation:auc`` → ``auc``), or None.

    SageMaker passes it as the reserved hyperparameter ``_tuning_objective_metric``, which
    the core strips from ``job.hyperparameters``; so it is read from the file itself.
    """
    try:
        raw = json.loads(job.paths.hyperparameters_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    value = raw.get(TUNING_OBJECTIVE_KEY) if isinstance(raw, dict) else None
    if not isinstance(value, str):
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        decoded = value
    name = str(decoded).rpartition(":")[2].strip()
    return name or None


def _trains_on_this_host(job: TrainingJob) -> bool:
    hosts = job.resources.hosts
    if len(hosts) == 1:
        return True
    sharded = [c.name for c in job.channels.values() if c.distribution == "ShardedByS3Key"]
    if sharded:
        raise UserError(
            f"Channel(s) {', '.join(sharded)} are ShardedByS3Key on {len(hosts)} instances, "
            "but algoport-xgboost trains on one instance, so it would see part of the data. "
            "Use InstanceCount=1, or S3DistributionType=FullyReplicated."
        )
    if not job.is_master:
        log.info(
            "host %s idles: algoport-xgboost trains on %s only",
            job.resources.current_host,
            hosts[0],
        )
        return False
    log.warning("training on %s only; the other %d instance(s) idle", hosts[0], len(hosts) - 1)
    return True


def _best_iteration(booster: xgb.Booster) -> int | None:
    try:
        return int(booster.best_iteration)
    except AttributeError:
        return None


def _stopped_error(rounds_done: int, num_round: int) -> UserError:
    return UserError(
        f"Training was stopped (SIGTERM) after {rounds_done} of {num_round} rounds and no model "
        "was saved. Set save_model_on_termination=true to keep the model trained so far."
    )
