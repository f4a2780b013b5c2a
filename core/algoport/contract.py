"""The ``/opt/ml`` tree and the config files SageMaker writes into it, typed.

The root is ``/opt/ml`` unless ``SAGEMAKER_BASE_DIR`` moves it (local runs and tests).
Absent optional files and keys take the values the SageMaker toolkits assume.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from algoport.errors import PlatformError, UserError

DEFAULT_ROOT = Path("/opt/ml")
DEFAULT_CHECKPOINT_DIR = Path("/opt/ml/checkpoints")
INPUT_MODES = ("File", "FastFile", "Pipe")


@dataclass(frozen=True)
class ContractPaths:
    """Every path of the container contract, under one root."""

    root: Path = DEFAULT_ROOT

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def data_dir(self) -> Path:
        return self.input_dir / "data"

    @property
    def hyperparameters_file(self) -> Path:
        return self.config_dir / "hyperparameters.json"

    @property
    def input_data_config_file(self) -> Path:
        return self.config_dir / "inputdataconfig.json"

    @property
    def resource_config_file(self) -> Path:
        return self.config_dir / "resourceconfig.json"

    @property
    def checkpoint_config_file(self) -> Path:
        return self.config_dir / "checkpointconfig.json"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def models_dir(self) -> Path:
        """Multi-model endpoints: where SageMaker places each model."""
        return self.root / "models"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    @property
    def success_file(self) -> Path:
        return self.output_dir / "success"

    @property
    def default_checkpoint_dir(self) -> Path:
        if self.root == DEFAULT_ROOT:
            return DEFAULT_CHECKPOINT_DIR
        return self.root / "checkpoints"

    def channel_dir(self, channel: str) -> Path:
        return self.data_dir / channel

    def pipe_path(self, channel: str, epoch: int) -> Path:
        return self.data_dir / f"{channel}_{epoch}"


def _read_object(path: Path, what: str) -> Mapping[str, Any] | None:
    """A config file's JSON object, or None when the file is absent (all are optional).

    A file that is not a JSON object is the platform's fault: SageMaker writes them.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except UnicodeDecodeError as exc:
        raise PlatformError(f"{what} at {path} is not UTF-8 text: {exc}.") from None
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as exc:
        problem = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)
        raise PlatformError(f"{what} at {path} is not valid JSON: {problem}.") from None
    if not isinstance(data, Mapping):
        raise PlatformError(
            f"{what} at {path} holds {type(data).__name__}; expected a JSON object."
        )
    return data


@dataclass(frozen=True)
class ChannelConfig:
    """One entry of ``inputdataconfig.json``."""

    name: str
    content_type: str | None = None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"
    record_wrapper: str = "None"
    compression: str = "None"

    @classmethod
    def parse(cls, name: str, entry: Mapping[str, Any]) -> ChannelConfig:
        if not isinstance(entry, Mapping):
            raise PlatformError(
                f"inputdataconfig.json entry {name!r} is {type(entry).__name__}; expected an "
                "object with TrainingInputMode, ContentType, …"
            )
        mode = str(entry.get("TrainingInputMode", "File"))
        if mode not in INPUT_MODES:
            raise UserError(
                f"Channel {name!r} has TrainingInputMode {mode!r}; expected one of "
                f"{', '.join(INPUT_MODES)}."
            )
        content_type = entry.get("ContentType")
        return cls(
            name=name,
            content_type=str(content_type) if content_type else None,
            input_mode=mode,
            distribution=str(entry.get("S3DistributionType", "FullyReplicated")),
            record_wrapper=str(entry.get("RecordWrapperType", "None")),
            compression=str(entry.get("CompressionType", "None")),
        )


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    instance_type: str
    hosts: tuple[str, ...]


@dataclass(frozen=True)
class ResourceConfig:
    """``resourceconfig.json``: this host and its peers."""

    current_host: str = "algo-1"
    hosts: tuple[str, ...] = ("algo-1",)
    network_interface_name: str = "eth0"
    current_instance_type: str = "local"
    current_group_name: str = "homogeneousCluster"
    instance_groups: tuple[InstanceGroup, ...] = field(default=())

    @property
    def is_master(self) -> bool:
        """The host that writes the model: the first in SageMaker's sorted list."""
        return self.current_host == self.hosts[0]

    @property
    def host_rank(self) -> int:
        return self.hosts.index(self.current_host)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> ResourceConfig:
        current = str(data.get("current_host", "algo-1"))
        hosts = tuple(sorted(str(h) for h in data.get("hosts", [current])))
        if current not in hosts:
            raise PlatformError(
                f"resourceconfig.json names current_host {current!r}, which is not in hosts "
                f"{list(hosts)}."
            )
        groups = tuple(
            InstanceGroup(
                name=str(g.get("instance_group_name", "")),
                instance_type=str(g.get("instance_type", "")),
                hosts=tuple(str(h) for h in g.get("hosts", [])),
            )
            for g in data.get("instance_groups", [])
        )
        return cls(
            current_host=current,
            hosts=hosts,
            network_interface_name=str(data.get("network_interface_name", "eth0")),
            current_instance_type=str(data.get("current_instance_type", "local")),
            current_group_name=str(
                data.get("current_group_name")
                or data.get("current_instance_group")
                or "homogeneousCluster"
            ),
            instance_groups=groups,
        )


@dataclass(frozen=True)
class CheckpointConfig:
    """``checkpointconfig.json``, present only when the job set CheckpointConfig."""

    local_path: Path
    s3_uri: str | None = None

    @classmethod
    def parse(cls, data: Mapping[str, Any], paths: ContractPaths) -> CheckpointConfig:
        local = data.get("LocalPath") or str(paths.default_checkpoint_dir)
        s3 = data.get("S3Uri")
        return cls(local_path=Path(local), s3_uri=str(s3) if s3 else None)


@dataclass(frozen=True)
class JobConfig:
    """Everything SageMaker wrote for a training job, read once from the ``/opt/ml`` tree."""

    paths: ContractPaths
    hyperparameters: Mapping[str, Any]
    channels: Mapping[str, ChannelConfig]
    resources: ResourceConfig
    checkpoint: CheckpointConfig | None

    @classmethod
    def read(cls, paths: ContractPaths) -> JobConfig:
        hyperparameters = _read_object(paths.hyperparameters_file, "hyperparameters.json")
        channels = _read_object(paths.input_data_config_file, "inputdataconfig.json")
        resources = _read_object(paths.resource_config_file, "resourceconfig.json")
        checkpoint = _read_object(paths.checkpoint_config_file, "checkpointconfig.json")
        return cls(
            paths=paths,
            hyperparameters=dict(hyperparameters or {}),
            channels={
                name: ChannelConfig.parse(name, entry) for name, entry in (channels or {}).items()
            },
            resources=ResourceConfig.parse(resources)
            if resources is not None
            else ResourceConfig(),
            checkpoint=None if checkpoint is None else CheckpointConfig.parse(checkpoint, paths),
        )
