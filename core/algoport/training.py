"""The ``train`` job: config in, ``fit``, model out, or a failure file and a non-zero exit."""

from __future__ import annotations

import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

from algoport.channels import Channel, resolve_channels
from algoport.checkpoints import Checkpoint, latest_checkpoint, prune_checkpoints, save_checkpoint
from algoport.contract import ContractPaths, JobConfig, ResourceConfig
from algoport.errors import AlgoportError, PlatformError, UserError
from algoport.failure import as_algoport_error, clear_failure, write_failure
from algoport.hyperparameters import TUNING_OBJECTIVE_KEY
from algoport.manifest import Manifest
from algoport.metrics import emit_metric
from algoport.plugins import Algorithm, selected_algorithm
from algoport.settings import VARIABLES, Settings
from algoport.version import __version__

log = logging.getLogger("algoport.train")


@dataclass
class TrainingJob:
    """Everything ``fit`` needs, typed and checked."""

    name: str
    algorithm: str
    hyperparameters: dict[str, Any]
    channels: dict[str, Channel]
    model_dir: Path
    output_data_dir: Path
    checkpoint_dir: Path
    resources: ResourceConfig
    paths: ContractPaths
    stop_requested: threading.Event = field(default_factory=threading.Event)
    given_hyperparameters: frozenset[str] = frozenset()
    tuning_objective_metric: str | None = None

    def channel(self, name: str) -> Channel:
        try:
            return self.channels[name]
        except KeyError:
            raise UserError(
                f"Channel {name!r} was not given to this job; it has "
                f"{', '.join(self.channels) or 'no channels'}."
            ) from None

    def save_checkpoint(
        self, prefix: str, step: int, write: Callable[[IO[bytes]], None] | bytes, keep: int = 3
    ) -> Checkpoint:
        """Write checkpoint ``<prefix>-<step>`` atomically; keep the ``keep`` latest."""
        checkpoint = save_checkpoint(self.checkpoint_dir, prefix, step, write)
        prune_checkpoints(self.checkpoint_dir, prefix, keep)
        return checkpoint

    def latest_checkpoint(self, prefix: str) -> Checkpoint | None:
        """The checkpoint to resume from (SageMaker restores them on a restarted job)."""
        return latest_checkpoint(self.checkpoint_dir, prefix)

    def log_metric(self, name: str, value: float, step: int | None = None) -> None:
        """Log a metric on stdout in the form ``Metric.regex`` (a MetricDefinition) matches."""
        emit_metric(name, value, step)

    @property
    def is_master(self) -> bool:
        return self.resources.is_master


def prepare_job(algorithm: Algorithm, config: JobConfig, settings: Settings) -> TrainingJob:
    """The job ``fit`` sees: the config checked against what the algorithm declares."""
    if not algorithm.can_fit:
        raise UserError(
            f"Algorithm {algorithm.name!r} cannot be trained: its plugin implements no fit "
            "hook. Choose a trainable algorithm (`algoport plugins`)."
        )
    raw = config.hyperparameters
    schema = algorithm.hyperparameters
    try:
        channels = resolve_channels(
            config.channels,
            algorithm.channels,
            config.paths,
            algorithm.name,
            algorithm.formats(),
            pipe_wait_seconds=settings.pipe_wait_seconds,
        )
    except UserError:
        schema.coerce(raw)  # hyperparameter problems, if any, are reported first
        raise
    hyperparameters = schema.coerce(
        raw, check=lambda values: algorithm.check_hyperparameters(values, channels)
    )
    check_sharding(algorithm, channels, config.resources)
    objective = raw.get(TUNING_OBJECTIVE_KEY)
    paths = config.paths
    return TrainingJob(
        name=settings.job_name,
        algorithm=algorithm.name,
        hyperparameters=hyperparameters,
        given_hyperparameters=schema.given(raw),
        tuning_objective_metric=str(objective).strip('"') if objective else None,
        channels=channels,
        model_dir=paths.model_dir,
        output_data_dir=paths.output_data_dir,
        checkpoint_dir=(
            config.checkpoint.local_path if config.checkpoint else paths.default_checkpoint_dir
        ),
        resources=config.resources,
        paths=paths,
    )


def check_sharding(
    algorithm: Algorithm, channels: Mapping[str, Channel], resources: ResourceConfig
) -> None:
    """Refuse sharded input on several hosts unless ``fit`` combines every host's data."""
    if len(resources.hosts) < 2 or algorithm.capabilities.distributed_training:
        return
    sharded = [name for name, c in channels.items() if c.distribution == "ShardedByS3Key"]
    if sharded:
        raise UserError(
            f"Channel {sharded[0]!r} is ShardedByS3Key over {len(resources.hosts)} hosts, but "
            f"algorithm {algorithm.name!r} trains on one host, so the other hosts' shards "
            "would be lost. Use S3DataDistributionType FullyReplicated, or one instance."
        )


def _start_line(job: TrainingJob, algorithm: Algorithm) -> str:
    info = algorithm.info
    plugin = f"{info.distribution} {info.version}" if info.distribution else "unknown package"
    channels = ", ".join(
        f"{c.name} ({c.content_type}, {c.input_mode})" for c in job.channels.values()
    )
    given = {k: v for k, v in job.hyperparameters.items() if k in job.given_hyperparameters}
    return (
        f"training {job.name!r} with algorithm {job.algorithm!r} ({plugin}, algoport "
        f"{__version__}) on host {job.resources.current_host} of {len(job.resources.hosts)}; "
        f"channels: {channels or 'none'}; hyperparameters: {given or 'none'} "
        f"(others at their defaults)"
    )


def run_training(settings: Settings) -> int:
    """Run one training job; return the process exit code."""
    paths = ContractPaths(settings.base_dir)
    clear_failure(paths)
    algorithm_name: str | None = None
    try:
        algorithm = selected_algorithm(settings.algorithm)
        algorithm_name = algorithm.name
        job = prepare_job(algorithm, JobConfig.read(paths), settings)
        job.model_dir.mkdir(parents=True, exist_ok=True)
        job.output_data_dir.mkdir(parents=True, exist_ok=True)
        # Kept until exit: a SIGTERM while the manifest is written must not kill the job.
        _install_stop_handler(job, settings.stop_grace_seconds)
        log.info(_start_line(job, algorithm))
        algorithm.fit(job)
        if job.stop_requested.is_set():
            log.warning(
                "training stopped on request; checkpoints are in %s and no manifest was written",
                job.checkpoint_dir,
            )
            return 0
        if job.is_master:
            Manifest(
                algorithm=algorithm.name,
                distribution=algorithm.info.distribution,
                version=algorithm.info.version,
                algoport_version=__version__,
                hyperparameters=job.hyperparameters,
            ).write(job.model_dir)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt | SystemExit) and not isinstance(exc, AlgoportError):
            raise
        error = as_algoport_error(exc, algorithm_name)
        log.error("training failed (%s): %s", error.kind, error.message)
        if not isinstance(exc, UserError):
            log.error("%s", "".join(traceback.format_exception(exc)).rstrip())
        write_failure(paths, error)
        return error.exit_code
    if job.is_master:
        log.info("training complete; model written to %s", job.model_dir)
    else:
        log.info(
            "training complete on %s; %s writes the model",
            job.resources.current_host,
            job.resources.hosts[0],
        )
    return 0


def _install_stop_handler(job: TrainingJob, grace: float) -> Any:
    """On SIGTERM ask the algorithm to stop; if it has not within ``grace``, leave a reason.

    SageMaker sends SIGKILL 120 s after SIGTERM; a failure file written just before that
    tells the job's owner why the job ended rather than leaving nothing.
    """

    def give_up() -> None:
        write_failure(
            job.paths,
            PlatformError(
                f"Training was stopped (SIGTERM) and algorithm {job.algorithm!r} did not "
                f"finish within {grace:g} s ({VARIABLES['stop_grace_seconds'].name}); it "
                "ignores job.stop_requested."
            ),
        )
        log.error("algorithm %r ignored the stop request; exiting", job.algorithm)
        os._exit(143)

    def on_sigterm(signum: int, frame: FrameType | None) -> None:
        if job.stop_requested.is_set():
            return
        log.warning("SIGTERM received: asking algorithm %r to stop", job.algorithm)
        job.stop_requested.set()
        timer = threading.Timer(grace, give_up)
        timer.daemon = True
        timer.start()

    return signal.signal(signal.SIGTERM, on_sigterm)
