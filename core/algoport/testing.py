"""Helpers and pytest fixtures for testing an algoport plugin through its public doors.

Installed as a pytest plugin (entry point ``pytest11``), so a plugin's own tests get the
fixtures ``sagemaker_tree`` and ``free_port`` with no conftest. Everything runs the real
thing: ``train`` and ``serve`` as processes on a SageMaker-shaped directory, HTTP over a
real socket.

    def test_trains_and_serves(sagemaker_tree):
        sagemaker_tree.hyperparameters({"num_round": 10})
        sagemaker_tree.channel("train", {"data.csv": "1,0.5\\n0,0.1\\n"})
        result = run_train(sagemaker_tree, "my-algorithm")
        assert result.returncode == 0, result.failure
        with ServeProcess(sagemaker_tree.model_dir, "my-algorithm") as server:
            reply = server.client.post("/invocations", content=b"0.3\\n",
                                       headers={"Content-Type": "text/csv"})
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from algoport.contract import ContractPaths
from algoport.local.processes import ServeProcess, command, find_free_port

__all__ = [
    "SageMakerTree",
    "ServeProcess",
    "TrainResult",
    "command",
    "find_free_port",
    "run_train",
    "sagemaker_string",
]


def sagemaker_string(value: Any, *, json_encoded: bool = False) -> str:
    """A hyperparameter value as SageMaker writes it: ``str(v)``, or ``json.dumps(v)``."""
    if isinstance(value, str) and not json_encoded:
        return value
    return json.dumps(value) if json_encoded else str(value)


class SageMakerTree:
    """A temporary ``/opt/ml`` laid out the way SageMaker lays it out."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths = ContractPaths(root)
        for directory in (self.paths.config_dir, self.paths.data_dir, self.paths.model_dir):
            directory.mkdir(parents=True, exist_ok=True)
        self._channels: dict[str, dict[str, str]] = {}
        self.paths.input_data_config_file.write_text("{}")

    @property
    def model_dir(self) -> Path:
        return self.paths.model_dir

    @property
    def failure(self) -> str | None:
        try:
            return self.paths.failure_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None

    def hyperparameters(self, values: Mapping[str, Any], *, json_encoded: bool = False) -> None:
        """Write ``hyperparameters.json``; every value becomes a string as SageMaker's do."""
        strings = {k: sagemaker_string(v, json_encoded=json_encoded) for k, v in values.items()}
        self.paths.hyperparameters_file.write_text(json.dumps(strings))

    def raw_hyperparameters(self, values: Mapping[str, str]) -> None:
        """Write ``hyperparameters.json`` exactly as given."""
        self.paths.hyperparameters_file.write_text(json.dumps(dict(values)))

    def channel(
        self,
        name: str,
        files: Mapping[str, bytes | str],
        *,
        content_type: str | None = None,
        input_mode: str = "File",
        distribution: str = "FullyReplicated",
    ) -> Path:
        """Add a File-mode channel with the given files and its inputdataconfig entry."""
        directory = self.paths.channel_dir(name)
        directory.mkdir(parents=True, exist_ok=True)
        for filename, content in files.items():
            path = directory / filename
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            path.write_bytes(data)
        entry = {
            "TrainingInputMode": input_mode,
            "S3DistributionType": distribution,
            "RecordWrapperType": "None",
        }
        if content_type:
            entry["ContentType"] = content_type
        self._channels[name] = entry
        self.paths.input_data_config_file.write_text(json.dumps(self._channels))
        return directory

    def resources(self, current_host: str = "algo-1", hosts: tuple[str, ...] = ("algo-1",)) -> None:
        config = {
            "current_host": current_host,
            "hosts": list(hosts),
            "network_interface_name": "lo",
        }
        self.paths.resource_config_file.write_text(json.dumps(config))

    def env(self, algorithm: str | None = None, **extra: str) -> dict[str, str]:
        """The environment of a process that runs against this tree."""
        env = dict(os.environ)
        env["SAGEMAKER_BASE_DIR"] = str(self.root)
        env.pop("ALGOPORT_ALGORITHM", None)
        if algorithm:
            env["ALGOPORT_ALGORITHM"] = algorithm
        env.update(extra)
        return env


@dataclass(frozen=True)
class TrainResult:
    returncode: int
    stdout: str
    stderr: str
    failure: str | None


def run_train(
    tree: SageMakerTree, algorithm: str | None = None, *, timeout: float = 600, **env: str
) -> TrainResult:
    """Run the real ``train`` console script on ``tree`` and wait for it."""
    completed = subprocess.run(
        command("train"),
        env=tree.env(algorithm, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return TrainResult(completed.returncode, completed.stdout, completed.stderr, tree.failure)


@pytest.fixture
def sagemaker_tree(tmp_path: Path) -> SageMakerTree:
    """A fresh SageMaker-shaped ``/opt/ml`` under the test's temporary directory."""
    return SageMakerTree(tmp_path / "opt_ml")


@pytest.fixture
def free_port() -> int:
    return find_free_port()


@pytest.fixture
def serve_process() -> Iterator[type[ServeProcess]]:
    """``ServeProcess``, with every server the test started stopped afterwards."""
    started: list[ServeProcess] = []

    class Tracked(ServeProcess):
        def start(self) -> None:
            started.append(self)
            super().start()

    yield Tracked
    for server in started:
        server.stop()
