"""Lay out a SageMaker-shaped ``/opt/ml`` for a local training job."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from algoport.contract import ContractPaths
from algoport.errors import UserError


@dataclass(frozen=True)
class ChannelInput:
    """A local file or directory to be given to the job as one channel."""

    name: str
    source: Path
    content_type: str | None = None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"

    @classmethod
    def parse(cls, text: str, content_types: Mapping[str, str]) -> ChannelInput:
        name, eq, path = text.partition("=")
        if not eq or not name or not path:
            raise UserError(
                f"--channel {text!r} is malformed; expected NAME=PATH, e.g. train=data/"
            )
        source = Path(path).expanduser()
        if not source.exists():
            raise UserError(f"Channel {name!r}: {source} does not exist.")
        return cls(name=name, source=source, content_type=content_types.get(name))


def parse_hyperparameters(pairs: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs, kept as strings exactly as SageMaker would pass them."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UserError(f"--hp {pair!r} is malformed; expected KEY=VALUE, e.g. num_round=10.")
        values[key] = value
    return values


def _copy_into(source: Path, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        shutil.copytree(source, directory, dirs_exist_ok=True)
        return
    target = directory / source.name
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def lay_out_job(
    root: Path,
    channels: Sequence[ChannelInput],
    hyperparameters: Mapping[str, str],
    *,
    hosts: Sequence[str] = ("algo-1",),
    current_host: str = "algo-1",
    copy_data: bool = True,
) -> ContractPaths:
    """Write the config files SageMaker writes and place each channel's data."""
    paths = ContractPaths(root)
    for directory in (paths.config_dir, paths.data_dir, paths.model_dir, paths.output_data_dir):
        directory.mkdir(parents=True, exist_ok=True)
    paths.hyperparameters_file.write_text(json.dumps(dict(hyperparameters), indent=2))
    config = {}
    for channel in channels:
        entry = {
            "TrainingInputMode": channel.input_mode,
            "S3DistributionType": channel.distribution,
            "RecordWrapperType": "None",
        }
        if channel.content_type:
            entry["ContentType"] = channel.content_type
        config[channel.name] = entry
        if copy_data:
            _copy_into(channel.source, paths.channel_dir(channel.name))
    paths.input_data_config_file.write_text(json.dumps(config, indent=2))
    resources = {
        "current_host": current_host,
        "hosts": list(hosts),
        "network_interface_name": "lo",
    }
    paths.resource_config_file.write_text(json.dumps(resources, indent=2))
    return paths
