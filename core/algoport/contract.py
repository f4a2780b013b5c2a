"""The ``/opt/ml`` tree and the config files SageMaker writes into it, typed.

The root is ``/opt/ml`` unless ``SAGEMAKER_BASE_DIR`` moves it (local runs and tests).
Absent optional files and keys take the values the SageMaker toolkits assume.
"""

from __future__ import annotations

import json
import os
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

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ContractPaths:
        env = os.environ if environ is None else environ
        return cls(Path(env.get("SAGEMAKER_BASE_DIR") or DEFAULT_ROOT))

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


def read_json(path: Path, *, required: bool, what: str) -> Any:
    """Read a config file; a missing required one or bad JSON is the platform's fault."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if required:
            raise PlatformError(
                f"{what} not found at {path}. SageMaker writes it before `train` starts; "
                "for a local run, set SAGEMAKER_BASE_DIR to a tree that has it "
                "(`algoport local train` lays one out)."
            ) from None
        return None
    try:
        return json.loads(text)
    except ValueError as exc:
        raise PlatformError(f"{what} at {path} is not valid JSON: {exc}.") from None


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


def read_input_data_config(paths: ContractPaths) -> dict[str, ChannelConfig]:
    data = read_json(paths.input_data_config_file, required=False, what="inputdataconfig.json")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise PlatformError("inputdataconfig.json must hold an object of channel name → config.")
    return {name: ChannelConfig.parse(name, entry) for name, entry in data.items()}


def read_raw_hyperparameters(paths: ContractPaths) -> dict[str, Any]:
    data = read_json(paths.hyperparameters_file, required=False, what="hyperparameters.json")
    if data is None:
        return {}
    if not isinstance(data, Mapping):
        raise PlatformError("hyperparameters.json must hold a flat object of name → string.")
    return dict(data)


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


def read_resource_config(paths: ContractPaths) -> ResourceConfig:
    data = read_json(paths.resource_config_file, required=False, what="resourceconfig.json")
    if data is None:
        return ResourceConfig()
    if not isinstance(data, Mapping):
        raise PlatformError("resourceconfig.json must hold an object.")
    return ResourceConfig.parse(data)


@dataclass(frozen=True)
class CheckpointConfig:
    local_path: Path
    s3_uri: str | None = None


def read_checkpoint_config(paths: ContractPaths) -> CheckpointConfig | None:
    data = read_json(paths.checkpoint_config_file, required=False, what="checkpointconfig.json")
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise PlatformError("checkpointconfig.json must hold an object.")
    local = data.get("LocalPath") or str(paths.default_checkpoint_dir)
    s3 = data.get("S3Uri")
    return CheckpointConfig(local_path=Path(local), s3_uri=str(s3) if s3 else None)
