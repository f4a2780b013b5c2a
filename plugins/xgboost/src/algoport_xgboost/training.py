"""``fit``: check the settings, read the channels, boost, and save the model.

On one host, or on several joined into one XGBoost collective (``cluster``). File-mode
channels are read whole (``data``), Pipe and FastFile channels streamed (``streaming``). A
job stopped by SIGTERM ends after the current round with a checkpoint and returns normally;
a restarted job resumes from the latest checkpoint (``checkpoints``).
"""

from __future__ import annotations

import json
import logging

import xgboost as xgb

from algoport import Channel, TrainingJob, UserError
from algoport_xgboost import checkpoints, cluster, data, model, streaming
from algoport_xgboost.boosting import Boosted, boost
from algoport_xgboost.data import TRAIN, VALIDATION
from algoport_xgboost.peers import LONE_HOST, Peers
from algoport_xgboost.settings import TrainingSettings, training_settings

log = logging.getLogger("algoport.xgboost")

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
    channels = (train_channel, validation_channel)
    if streaming.is_streamed(channels):
        streaming.check_streamable(settings.params)
    hosts = job.resources.hosts
    if len(hosts) == 1:
        _train(job, settings, channels, LONE_HOST)
        return
    undistributable = _undistributable(settings)
    if undistributable is None:
        try:
            with cluster.joined(job.resources, job.stop_requested) as peers:
                _train(job, settings, channels, peers)
        except cluster.StoppedWhileJoining:
            log.warning("training was stopped while the hosts were joining; nothing to save")
        return
    sharded = [c.name for c in job.channels.values() if c.distribution == "ShardedByS3Key"]
    if sharded:
        raise UserError(
            f"Channel(s) {', '.join(sharded)} are ShardedByS3Key on {len(hosts)} instances, "
            f"but XGBoost cannot train with {undistributable} across hosts, so one host would "
            "see part of the data. Use InstanceCount=1, S3DistributionType=FullyReplicated, "
            f"or settings other than {undistributable}."
        )
    if not job.is_master:
        log.info(
            "host %s idles: XGBoost cannot train with %s across hosts",
            job.resources.current_host,
            undistributable,
        )
        return
    log.warning(
        "XGBoost cannot train with %s across hosts: training on %s only; the other %d idle",
        undistributable,
        hosts[0],
        len(hosts) - 1,
    )
    _train(job, settings, channels, LONE_HOST)


def _undistributable(settings: TrainingSettings) -> str | None:
    """The setting XGBoost cannot spread over several hosts, if any."""
    params = settings.params
    if params.get("booster") == "gblinear":
        # XGBoost trains gblinear on the first worker's rows only.
        return "booster=gblinear"
    if params.get("tree_method") == "exact":
        return "tree_method=exact"
    if "grow_colmaker" in str(params.get("updater", "")):
        return "updater=grow_colmaker"
    return None


def _train(
    job: TrainingJob,
    settings: TrainingSettings,
    channels: tuple[Channel, Channel | None],
    peers: Peers,
) -> None:
    matrices = _matrices(job, settings, channels, peers)
    if matrices is None or peers.any(job.stop_requested.is_set()):
        job.stop_requested.set()
        log.warning("training was stopped before boosting began; there is nothing to save")
        return
    boosted = boost(job, settings, matrices, peers, checkpoints.resume(job, peers))
    if boosted.interrupted:
        first_host = job.resources.hosts[0]
        log.warning(
            "stopped after %d of %d rounds; the checkpoint in %s is where a restarted job resumes",
            boosted.rounds_done,
            settings.num_round,
            job.checkpoint_dir if job.is_master else f"{first_host}'s checkpoint directory",
        )
        if not settings.save_model_on_termination:
            return
        log.warning("saving the model trained so far (save_model_on_termination)")
    if job.is_master:
        _save(job, matrices.libsvm_index_base, boosted)


def _matrices(
    job: TrainingJob,
    settings: TrainingSettings,
    channels: tuple[Channel, Channel | None],
    peers: Peers,
) -> data.Matrices | None:
    """The DMatrix of each channel; None when a stop came while a channel was streamed."""
    if streaming.is_streamed(channels):
        return streaming.matrices(channels, settings, peers, job.stop_requested)
    loaded = data.load(*channels, settings.csv_weights, peers)
    for table in (loaded.train, loaded.validation):
        if table is not None and (table.n_rows or peers.size == 1):
            data.check_labels(table, settings.objective, settings.num_class)
    return loaded.matrices(int(settings.params["nthread"]))


def _save(job: TrainingJob, libsvm_index_base: int, boosted: Boosted) -> None:
    booster = boosted.booster
    facts = model.ModelFacts.from_booster(
        booster,
        libsvm_index_base=libsvm_index_base,
        best_iteration=_best_iteration(booster),
        rounds=booster.num_boosted_rounds(),
    )
    model.save(booster, facts, job.model_dir)


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


def _best_iteration(booster: xgb.Booster) -> int | None:
    try:
        return int(booster.best_iteration)
    except AttributeError:
        return None
