"""Lay out a SageMaker-shaped ``/opt/ml`` for a local training job, one tree per host.

Several hosts are emulated with loopback addresses as host names (``127.0.0.1``,
``127.0.0.2``…): all of 127.0.0.0/8 is loopback on Linux, so every host resolves and is
reachable with no /etc/hosts edits. A ``ShardedByS3Key`` channel's files are dealt
round-robin over the hosts in name order (SageMaker gives each host about 1/N of the S3
objects); a ``FullyReplicated`` channel gives every host all of them.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from algoport.contract import ContractPaths
from algoport.errors import UserError

DISTRIBUTIONS = ("FullyReplicated", "ShardedByS3Key")
INPUT_MODES = ("File", "FastFile", "Pipe")
MAX_HOSTS = 254


@dataclass(frozen=True)
class ChannelInput:
    """A local file or directory to be given to the job as one channel."""

    name: str
    source: Path
    content_type: str | None = None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"

    @classmethod
    def parse(
        cls,
        text: str,
        content_types: Mapping[str, str],
        distributions: Mapping[str, str] | None = None,
        input_modes: Mapping[str, str] | None = None,
    ) -> ChannelInput:
        name, eq, path = text.partition("=")
        if not eq or not name or not path:
            raise UserError(
                f"--channel {text!r} is malformed; expected NAME=PATH, e.g. train=data/"
            )
        source = Path(path).expanduser()
        if not source.exists():
            raise UserError(f"Channel {name!r}: {source} does not exist.")
        distribution = (distributions or {}).get(name, "FullyReplicated")
        if distribution not in DISTRIBUTIONS:
            raise UserError(
                f"Channel {name!r} has distribution {distribution!r}; expected "
                f"{' or '.join(DISTRIBUTIONS)}."
            )
        input_mode = (input_modes or {}).get(name, "File")
        if input_mode not in INPUT_MODES:
            raise UserError(
                f"Channel {name!r} has input mode {input_mode!r}; expected "
                f"{', '.join(INPUT_MODES)}."
            )
        return cls(
            name=name,
            source=source,
            content_type=content_types.get(name),
            input_mode=input_mode,
            distribution=distribution,
        )

    def files(self) -> list[Path]:
        """The channel's objects, as paths relative to its source, in name order."""
        if self.source.is_file():
            return [Path(self.source.name)]
        return sorted(p.relative_to(self.source) for p in self.source.rglob("*") if p.is_file())

    @property
    def root(self) -> Path:
        """The directory the channel's relative file paths start from."""
        return self.source if self.source.is_dir() else self.source.parent

    def files_for(self, host_index: int, host_count: int) -> list[Path]:
        """What one host receives: every file, or every ``host_count``-th when sharded."""
        files = self.files()
        if self.distribution != "ShardedByS3Key":
            return files
        return files[host_index::host_count]


def loopback_hosts(count: int) -> list[str]:
    """``count`` host names, each a loopback address, sorted as SageMaker sorts ``hosts``."""
    if not 1 <= count <= MAX_HOSTS:
        raise UserError(f"--hosts {count} is out of range; expected 1 to {MAX_HOSTS}.")
    return sorted(f"127.0.0.{number}" for number in range(1, count + 1))


def parse_hyperparameters(pairs: Sequence[str]) -> dict[str, str]:
    """``key=value`` pairs, kept as strings exactly as SageMaker would pass them."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, eq, value = pair.partition("=")
        if not eq or not key:
            raise UserError(f"--hp {pair!r} is malformed; expected KEY=VALUE, e.g. num_round=10.")
        values[key] = value
    return values


def _place(channel: ChannelInput, files: Sequence[Path], directory: Path) -> None:
    """Hard-link (or copy) the files into the channel's directory; jobs only read them."""
    directory.mkdir(parents=True, exist_ok=True)
    for relative in files:
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(channel.root / relative, target)
        except OSError:
            shutil.copy2(channel.root / relative, target)


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
    host_index = sorted(hosts).index(current_host)
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
        if copy_data and channel.input_mode != "Pipe":  # Pipe channels are fed (runner.py)
            files = channel.files_for(host_index, len(hosts))
            _place(channel, files, paths.channel_dir(channel.name))
    paths.input_data_config_file.write_text(json.dumps(config, indent=2))
    resources = {
        "current_host": current_host,
        "hosts": sorted(hosts),
        "network_interface_name": "lo",
    }
    paths.resource_config_file.write_text(json.dumps(resources, indent=2))
    return paths
