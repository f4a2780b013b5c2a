"""Helpers and pytest fixtures for testing an algoport plugin through its public doors.

Installed as a pytest plugin (entry point ``pytest11``), so a plugin's own tests get the
fixtures ``sagemaker_tree``, ``training_jobs``, ``module_training_jobs``, ``serve_process``
and ``free_port`` with no conftest. Everything runs the real thing: ``train`` and ``serve``
as processes on a SageMaker-shaped directory, HTTP over a real socket.

A plugin's tests need two packages beyond the plugin: pytest, and httpx for
``ServeProcess.client``. ``pip install "algoport[test]"`` installs both.

    from algoport.testing import ServeProcess, prediction_records

    def test_trains_and_serves(training_jobs):
        tree, result = training_jobs.train(
            "my-algorithm", {"num_round": 10}, {"train": "1,0.5\n0,0.1\n"}
        )
        assert result.returncode == 0, result.failure
        with ServeProcess(tree.model_dir, "my-algorithm") as server:
            reply = server.client.post("/invocations", content=b"0.3\n",
                                       headers={"Content-Type": "text/csv"})
        assert len(prediction_records(reply.content)) == 1

``SageMakerTree`` lays out a job by hand when one file per channel is not enough.
``check_algorithm`` runs every check of ``algoport check`` and returns a ``CheckResult``::

    def test_conforms(tmp_path):
        result = check_algorithm("my-algorithm", {"train": "tests/data/train.csv"})
        assert not result.failed, result.report()
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from algoport.contract import ContractPaths
from algoport.local.pipe_feeder import PipeFeeder
from algoport.local.processes import ServeProcess, command, find_free_port
from algoport.metrics import PREFIX as METRIC_PREFIX

if TYPE_CHECKING:
    from algoport.local.check import check_algorithm
    from algoport.local.check_result import Check, CheckResult

__all__ = [
    "Check",
    "CheckResult",
    "PipeFeeder",
    "SageMakerTree",
    "ServeProcess",
    "TrainResult",
    "TrainingJobs",
    "check_algorithm",
    "command",
    "csv_text",
    "find_free_port",
    "logged_metric",
    "prediction_records",
    "run_train",
    "sagemaker_string",
]


# The check imports the serving stack; as this module is loaded into every pytest session
# (a pytest11 plugin), only a test that uses the check pays for it.
_CHECK_NAMES = {
    "check_algorithm": "algoport.local.check",
    "Check": "algoport.local.check_result",
    "CheckResult": "algoport.local.check_result",
}


def __getattr__(name: str) -> Any:
    home = _CHECK_NAMES.get(name)
    if home is None:
        raise AttributeError(f"module 'algoport.testing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


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


class TrainingJobs:
    """Training jobs, each laid out in a fresh ``SageMakerTree`` under ``root``.

    ``channels`` maps a channel name to the content of its one file; every channel is
    declared with ``content_type`` (``None`` declares none: the algorithm's default).
    Hyperparameter values are written as SageMaker writes them, ``str(v)``, or
    ``json.dumps(v)`` with ``json_encoded=True``.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.count = 0

    def lay_out(
        self,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, bytes | str],
        *,
        content_type: str | None = "text/csv",
        json_encoded: bool = False,
    ) -> SageMakerTree:
        """A new tree holding the job, for a test that starts ``train`` itself."""
        self.count += 1
        tree = SageMakerTree(self.root / f"job{self.count}" / "opt_ml")
        tree.hyperparameters(hyperparameters, json_encoded=json_encoded)
        # The file is named for its type (train.csv, train.libsvm), as messages name it.
        suffix = "." + content_type.split(";")[0].rpartition("/")[2] if content_type else ""
        for name, content in channels.items():
            tree.channel(name, {name + suffix: content}, content_type=content_type)
        return tree

    def train(
        self,
        algorithm: str,
        hyperparameters: Mapping[str, Any],
        channels: Mapping[str, bytes | str],
        *,
        content_type: str | None = "text/csv",
        json_encoded: bool = False,
        timeout: float = 600,
    ) -> tuple[SageMakerTree, TrainResult]:
        """Lay out a job and run the real ``train`` on it; the tree holds the model."""
        tree = self.lay_out(
            hyperparameters, channels, content_type=content_type, json_encoded=json_encoded
        )
        return tree, run_train(tree, algorithm, timeout=timeout)


def csv_text(features: np.ndarray, labels: np.ndarray | None = None) -> str:
    """Rows as SageMaker's text/csv: no header, the label first when given, exact floats."""
    rows = features if labels is None else np.column_stack([labels, features])
    return "".join(",".join(repr(float(v)) for v in row) + "\n" for row in rows)


def prediction_records(body: bytes) -> list[dict[str, Any]]:
    """The records of a JSON reply, ``{"predictions": [{...}, ...]}``."""
    records: list[dict[str, Any]] = json.loads(body)["predictions"]
    return records


def logged_metric(stdout: str, name: str) -> float:
    """The value of the first ``#metric name=value;`` line ``job.log_metric`` printed."""
    for line in stdout.splitlines():
        if line.startswith(f"{METRIC_PREFIX} {name}="):
            return float(line.split("=", 1)[1].split(";", 1)[0])
    raise AssertionError(f"metric {name} not logged in:\n{stdout}")


@pytest.fixture
def sagemaker_tree(tmp_path: Path) -> SageMakerTree:
    """A fresh SageMaker-shaped ``/opt/ml`` under the test's temporary directory."""
    return SageMakerTree(tmp_path / "opt_ml")


@pytest.fixture
def training_jobs(tmp_path: Path) -> TrainingJobs:
    """Training jobs under the test's temporary directory."""
    return TrainingJobs(tmp_path)


@pytest.fixture(scope="module")
def module_training_jobs(tmp_path_factory: pytest.TempPathFactory) -> TrainingJobs:
    """Training jobs shared by one test module, e.g. one model trained once and served."""
    return TrainingJobs(tmp_path_factory.mktemp("training_jobs"))


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
