"""Several hosts, one model: real ``train`` processes on loopback addresses, joined by
XGBoost's collective, against a single host trained on the same data.

Every feature takes fewer distinct values than ``max_bin``, so each host's quantile sketch
gives the same histogram bins as one host's; the models then differ only in the order of
floating-point sums, and predictions agree within ``TOLERANCE``.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from algoport import PlatformError
from algoport.contract import ContractPaths
from algoport.local.layout import ChannelInput, lay_out_job
from algoport.testing import SageMakerTree, command, find_free_port, run_train
from algoport_xgboost import cluster
from algoport_xgboost.data import Table

TOLERANCE = 1e-5
ROWS = 1200
HYPERPARAMETERS = ["num_round=15", "max_depth=4", "eta=0.3", "nthread=1", "seed=3"]


@pytest.fixture(scope="module")
def grid_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``train/part-{0..3}.csv`` and ``validation.csv``: label first, features on a grid."""
    root = tmp_path_factory.mktemp("grid")
    rng = np.random.default_rng(1)
    features = rng.integers(0, 40, size=(ROWS + 300, 5)) / 4.0
    labels = features[:, 0] - features[:, 1] * features[:, 2] / 10 + rng.normal(size=ROWS + 300)
    table = np.column_stack([labels, features])
    rows = [",".join(repr(float(v)) for v in row) + "\n" for row in table]
    (root / "train").mkdir()
    for part, chunk in enumerate(np.array_split(np.arange(ROWS), 4)):
        (root / "train" / f"part-{part}.csv").write_text("".join(rows[i] for i in chunk))
    (root / "validation.csv").write_text("".join(rows[ROWS:]))
    np.save(root / "features.npy", features)
    return root


@pytest.fixture
def cluster_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A free tracker port and short, bounded waits for every process the test starts."""
    env = {
        cluster.TRACKER_PORT.name: str(find_free_port()),
        cluster.TIMEOUT.name: "60",
        cluster.HOST_WAIT.name: "10",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def local_train(
    data: Path, workdir: Path, *args: str, hyperparameters: list[str] = HYPERPARAMETERS
) -> subprocess.CompletedProcess[str]:
    hps = [item for pair in hyperparameters for item in ("--hp", pair)]
    return subprocess.run(
        [*command("algoport"), "local", "train", "-a", "xgboost", "--content-type", "text/csv",
         "-c", f"train={data / 'train'}", *hps, "--workdir", str(workdir), *args],
        capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def packed_predictions(job_output: str, features: np.ndarray) -> np.ndarray:
    tarball = job_output.split("model: ")[1].splitlines()[0]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile("xgboost-model.ubj")
        assert member is not None
        booster = xgb.Booster(model_file=bytearray(member.read()))
    return np.asarray(booster.predict(xgb.DMatrix(features)))


def host_trees(output: str) -> dict[str, ContractPaths]:
    job_dir = Path(output.split("job directory: ")[1].splitlines()[0])
    return {p.name: ContractPaths(p / "opt_ml") for p in sorted((job_dir / "hosts").iterdir())}


@pytest.fixture(scope="module")
def one_host(grid_data: Path, tmp_path_factory: pytest.TempPathFactory) -> np.ndarray:
    """The predictions of the model one host trains on all the data."""
    result = local_train(grid_data, tmp_path_factory.mktemp("one-host"))
    assert result.returncode == 0, result.stdout + result.stderr
    return packed_predictions(result.stdout, np.load(grid_data / "features.npy"))


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("hosts", "distribution"),
    [("2", "ShardedByS3Key"), ("3", "FullyReplicated"), ("3", "ShardedByS3Key")],
)
def test_hosts_train_the_model_one_host_trains(
    grid_data: Path,
    one_host: np.ndarray,
    tmp_path: Path,
    cluster_env: dict[str, str],
    hosts: str,
    distribution: str,
) -> None:
    result = local_train(grid_data, tmp_path, "--hosts", hosts, "--distribution", distribution)

    assert result.returncode == 0, result.stdout + result.stderr
    predictions = packed_predictions(result.stdout, np.load(grid_data / "features.npy"))
    np.testing.assert_allclose(predictions, one_host, atol=TOLERANCE, rtol=0)
    trees = host_trees(result.stdout)
    assert list(trees) == [f"127.0.0.{n}" for n in range(1, int(hosts) + 1)]
    for name, paths in list(trees.items())[1:]:
        assert not any(paths.model_dir.iterdir()), f"host {name} wrote a model"
        assert f"[{name}] #metric" not in result.stdout
    assert "[127.0.0.1] #metric train:rmse=" in result.stdout


@pytest.mark.e2e
def test_a_host_without_files_takes_part_with_none(
    grid_data: Path, one_host: np.ndarray, tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    two_files = tmp_path / "two-files"
    (two_files / "train").mkdir(parents=True)
    for part in (0, 1):
        (two_files / "train" / f"part-{part}.csv").write_text(
            (grid_data / "train" / f"part-{2 * part}.csv").read_text()
            + (grid_data / "train" / f"part-{2 * part + 1}.csv").read_text()
        )

    result = local_train(
        two_files, tmp_path / "work", "--hosts", "3", "--distribution", "ShardedByS3Key"
    )

    assert result.returncode == 0, result.stdout + result.stderr
    assert "this host has no records of channel 'train'" in result.stderr
    predictions = packed_predictions(result.stdout, np.load(grid_data / "features.npy"))
    np.testing.assert_allclose(predictions, one_host, atol=TOLERANCE, rtol=0)


@pytest.mark.e2e
def test_hosts_agree_how_libsvm_indices_count(
    tmp_path: Path, cluster_env: dict[str, str], formats: Any
) -> None:
    rng = np.random.default_rng(2)
    features = rng.integers(1, 30, size=(800, 4)) / 3.0
    features[400:, 0] = 0  # index 0 appears in the first host's file only
    labels = features[:, 0] - features[:, 1] + rng.normal(size=800)
    (tmp_path / "train").mkdir()
    for part, rows in enumerate((slice(0, 400), slice(400, 800))):
        text = formats.libsvm(features[rows], labels[rows], base=0)
        (tmp_path / "train" / f"part-{part}.libsvm").write_text(text)
    libsvm = ["--content-type", "text/libsvm"]

    one = local_train(tmp_path, tmp_path / "one", *libsvm)
    two = local_train(
        tmp_path, tmp_path / "two", *libsvm, "--hosts", "2", "--distribution", "ShardedByS3Key"
    )

    assert one.returncode == 0 and two.returncode == 0, two.stdout + two.stderr
    np.testing.assert_allclose(
        packed_predictions(two.stdout, features),
        packed_predictions(one.stdout, features),
        atol=TOLERANCE,
        rtol=0,
    )


@pytest.mark.e2e
def test_validation_metrics_cover_every_hosts_rows(
    grid_data: Path, tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    validation = ["-c", f"validation={grid_data / 'validation.csv'}"]

    one = local_train(grid_data, tmp_path / "one", *validation)
    three = local_train(grid_data, tmp_path / "three", *validation, "--hosts", "3")

    assert one.returncode == 0 and three.returncode == 0, three.stdout + three.stderr

    def last_rmse(output: str) -> float:
        lines = [line for line in output.splitlines() if "#metric validation:rmse=" in line]
        return float(lines[-1].split("=")[1].split(";")[0])

    assert last_rmse(three.stdout) == pytest.approx(last_rmse(one.stdout), rel=1e-4)


@pytest.mark.e2e
def test_a_failing_host_is_named_with_its_failure(
    grid_data: Path, tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    data = tmp_path / "data"
    (data / "train").mkdir(parents=True)
    (data / "train" / "part-0.csv").write_text("1,0.5\n0,0.25\n")
    (data / "train" / "part-1.csv").write_text("1,0.5\n3,0.25\n")

    result = local_train(
        data,
        tmp_path / "work",
        "--hosts", "2", "--distribution", "ShardedByS3Key",
        hyperparameters=["num_round=3", "objective=binary:logistic"],
    )  # fmt: skip

    assert result.returncode == 2, result.stdout + result.stderr
    report = result.stdout.split("training failed (exit 2): ")[1]
    failure_file = host_trees(result.stdout)["127.0.0.2"].failure_file
    assert report.startswith(f"host 127.0.0.2 exited with 2; {failure_file}:\n")
    assert "User error: Channel 'train', record 2 has label 3;" in report
    assert "host 127.0.0.1" not in report or "lost contact" in report


@pytest.mark.e2e
def test_sharded_gblinear_is_refused_and_replicated_gblinear_trains_on_the_first_host(
    grid_data: Path, tmp_path: Path, cluster_env: dict[str, str]
) -> None:
    gblinear = ["num_round=3", "booster=gblinear"]

    sharded = local_train(
        grid_data, tmp_path / "s", "--hosts", "2", "--distribution", "ShardedByS3Key",
        hyperparameters=gblinear,
    )  # fmt: skip
    replicated = local_train(grid_data, tmp_path / "r", "--hosts", "2", hyperparameters=gblinear)

    assert sharded.returncode == 2
    assert "XGBoost cannot train with booster=gblinear across hosts" in sharded.stdout
    assert replicated.returncode == 0, replicated.stdout + replicated.stderr
    assert "training on 127.0.0.1 only; the other 1 idle" in replicated.stderr


@pytest.mark.e2e
def test_an_unresolvable_host_is_a_platform_error_naming_it(
    sagemaker_tree: SageMakerTree, cluster_env: dict[str, str]
) -> None:
    sagemaker_tree.channel("train", {"train.csv": "1,0.5\n0,0.25\n"}, content_type="text/csv")
    sagemaker_tree.hyperparameters({"num_round": 2})
    sagemaker_tree.resources("127.0.0.1", ("127.0.0.1", "algo-unresolvable.invalid"))

    result = run_train(sagemaker_tree, "xgboost", timeout=60, **{cluster.HOST_WAIT.name: "1"})

    assert result.returncode == 3
    assert result.failure is not None
    assert result.failure.startswith(
        "Platform error: Host 'algo-unresolvable.invalid' did not resolve to an address "
        "within 1 s (getaddrinfo: "
    )
    assert cluster.HOST_WAIT.name in result.failure


class TwoHosts:
    """Two ``train`` processes on trees laid out as ``algoport local train --hosts 2`` does."""

    hosts = ("127.0.0.1", "127.0.0.2")

    def __init__(self, root: Path, data: Path, hyperparameters: dict[str, str]) -> None:
        self.logs = root / "logs"
        self.logs.mkdir()
        self.trees = {
            host: lay_out_job(
                root / host / "opt_ml",
                [ChannelInput("train", data / "train", "text/csv", distribution="ShardedByS3Key")],
                hyperparameters,
                hosts=self.hosts,
                current_host=host,
            )
            for host in self.hosts
        }

    def start(self, run: str) -> dict[str, subprocess.Popen[bytes]]:
        started = {}
        # A restarted SageMaker job runs on fresh instances: a fresh port, as XGBoost's
        # tracker cannot bind the last one while its connections linger in TIME_WAIT.
        port = str(find_free_port())
        for host, paths in self.trees.items():
            env = {**os.environ, "SAGEMAKER_BASE_DIR": str(paths.root)}
            env["ALGOPORT_ALGORITHM"] = "xgboost"
            env[cluster.TRACKER_PORT.name] = port
            with (self.logs / f"{run}-{host}.log").open("wb") as log:
                started[host] = subprocess.Popen(
                    command("train"), env=env, stdout=subprocess.PIPE, stderr=log
                )
        return started

    def wait(self, started: dict[str, subprocess.Popen[bytes]]) -> dict[str, tuple[int, str]]:
        results = {}
        for host, process in started.items():
            out, _ = process.communicate(timeout=120)
            results[host] = (process.returncode, out.decode())
        return results


@pytest.fixture
def stopped_processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.e2e
def test_sigterm_to_one_host_stops_both_after_the_same_round_and_both_resume(
    grid_data: Path,
    tmp_path: Path,
    cluster_env: dict[str, str],
    stopped_processes: list[subprocess.Popen[bytes]],
    processes: Any,
) -> None:
    # Three metric lines a round: the first host's 4 KiB pipe fills within about 35 rounds.
    hps = [*HYPERPARAMETERS[1:], "num_round=60", "eval_metric=rmse,mae,mphe"]
    reference = local_train(grid_data, tmp_path / "reference", hyperparameters=hps)
    assert reference.returncode == 0, reference.stdout + reference.stderr
    job = TwoHosts(tmp_path, grid_data, dict(pair.split("=") for pair in hps))
    first_run = job.start("first")
    stopped_processes += first_run.values()
    # Only the first host logs metrics; while it is blocked, the other waits on it.
    processes.shrink_stdout_pipe(first_run["127.0.0.1"])
    processes.read_until_step(first_run["127.0.0.1"], 2)

    first_run["127.0.0.2"].send_signal(signal.SIGTERM)
    first = job.wait(first_run)

    assert {host: code for host, (code, _) in first.items()} == dict.fromkeys(job.hosts, 0)
    master, worker = (job.trees[h] for h in job.hosts)
    (checkpoint,) = sorted((master.root / "checkpoints").iterdir())
    stopped_after = int(checkpoint.name.rsplit("-", 1)[1])
    assert 3 <= stopped_after < 60
    assert not (worker.root / "checkpoints").exists()
    for host in job.hosts:
        log = (job.logs / f"first-{host}.log").read_text()
        assert f"stopped after {stopped_after} of 60 rounds" in log
        assert "no manifest was written" in log
    assert not any(master.model_dir.iterdir())

    second_run = job.start("second")
    stopped_processes += second_run.values()
    second = job.wait(second_run)

    assert {host: code for host, (code, _) in second.items()} == dict.fromkeys(job.hosts, 0)
    steps = [line for line in second["127.0.0.1"][1].splitlines() if "train:rmse" in line]
    assert [int(line.rsplit("=", 1)[1]) for line in steps] == list(range(stopped_after, 60))
    model = bytearray((master.model_dir / "xgboost-model.ubj").read_bytes())
    features = np.load(grid_data / "features.npy")
    np.testing.assert_allclose(
        xgb.Booster(model_file=model).predict(xgb.DMatrix(features)),
        packed_predictions(reference.stdout, features),
        atol=TOLERANCE,
        rtol=0,
    )


def test_a_fully_replicated_table_is_cut_into_parts_without_splitting_query_groups() -> None:
    qid = np.array([1, 1, 1, 2, 2, 3, 4, 4, 4, 4])
    table = Table(
        "train", np.arange(20.0).reshape(10, 2), np.arange(10.0), qid=qid.astype(np.int64)
    )

    parts = [table.part(index, 3) for index in range(3)]

    assert [p.qid.tolist() for p in parts if p.qid is not None] == [[1, 1, 1], [2, 2, 3], [4] * 4]
    assert np.concatenate([p.labels for p in parts]).tolist() == list(range(10))
    assert parts[2].where(0) == "Channel 'train', record 7"


def test_host_names_are_retried_until_they_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[Any] = [socket.gaierror(-2, "Name or service not known")] * 3
    real = socket.getaddrinfo

    def flaky(host: str, *args: Any, **kwargs: Any) -> Any:
        if host == "algo-2" and answers:
            raise answers.pop()
        return real("127.0.0.2" if host == "algo-2" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", flaky)
    slept: list[float] = []

    addresses = cluster.resolve_hosts(("127.0.0.1", "algo-2"), 60, sleep=slept.append)

    assert addresses == {"127.0.0.1": "127.0.0.1", "algo-2": "127.0.0.2"}
    assert len(slept) == 3


def test_cluster_settings_from_the_environment_are_checked() -> None:
    settings = cluster.ClusterSettings.from_environ({cluster.TRACKER_PORT.name: "9100"})
    assert (settings.tracker_port, settings.timeout) == (9100, cluster.TIMEOUT.default)

    expected = "ALGOPORT_XGBOOST_TRACKER_PORT is '99999'; expected an integer from 1 to 65535"
    with pytest.raises(PlatformError, match=re.escape(expected)):
        cluster.ClusterSettings.from_environ({cluster.TRACKER_PORT.name: "99999"})
