"""`algoport local train --hosts N`: N real `train` processes, one SageMaker tree each."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest

from algoport.errors import UserError
from algoport.local.layout import ChannelInput, loopback_hosts
from algoport.testing import command

pytestmark = pytest.mark.e2e


def local_train(tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "local", "train", "-a", "fixture-linear", "--hp", "epochs=1",
         "--content-type", "text/csv", "--workdir", str(tmp_path / "work"), *map(str, args)],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


@pytest.fixture
def five_files(tmp_path: Path, linear_data: str) -> Path:
    lines = linear_data.splitlines(keepends=True)
    directory = tmp_path / "train"
    (directory / "nested").mkdir(parents=True)
    for number in range(5):
        name = f"nested/part-{number}.csv" if number == 4 else f"part-{number}.csv"
        (directory / name).write_text("".join(lines[number::5]))
    return directory


def job_dir(output: str) -> Path:
    return Path(output.split("job directory: ")[1].splitlines()[0])


def channel_files(tree: Path, channel: str = "train") -> list[str]:
    data = tree / "opt_ml" / "input" / "data" / channel
    return sorted(str(p.relative_to(data)) for p in data.rglob("*") if p.is_file())


def test_each_host_gets_its_own_tree_and_a_share_of_sharded_files(
    tmp_path: Path, five_files: Path, linear_data: str
) -> None:
    validation = tmp_path / "validation.csv"
    validation.write_text(linear_data)

    result = local_train(
        tmp_path, "--hosts", "3", "-c", f"train={five_files}", "-c", f"validation={validation}",
        "--channel-distribution", "train=ShardedByS3Key",
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    hosts = job_dir(result.stdout) / "hosts"
    assert sorted(p.name for p in hosts.iterdir()) == ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
    assert channel_files(hosts / "127.0.0.1") == ["nested/part-4.csv", "part-2.csv"]
    assert channel_files(hosts / "127.0.0.2") == ["part-0.csv", "part-3.csv"]
    assert channel_files(hosts / "127.0.0.3") == ["part-1.csv"]
    for tree in hosts.iterdir():
        assert channel_files(tree, "validation") == ["validation.csv"]
        config = tree / "opt_ml" / "input" / "config"
        assert json.loads((config / "resourceconfig.json").read_text()) == {
            "current_host": tree.name,
            "hosts": ["127.0.0.1", "127.0.0.2", "127.0.0.3"],
            "network_interface_name": "lo",
        }
        channels = json.loads((config / "inputdataconfig.json").read_text())
        assert channels["train"]["S3DistributionType"] == "ShardedByS3Key"
        assert channels["validation"]["S3DistributionType"] == "FullyReplicated"
        assert f"[{tree.name}] " in result.stderr


def test_the_first_hosts_model_is_packed_and_other_hosts_models_are_flagged(
    tmp_path: Path, five_files: Path
) -> None:
    result = local_train(tmp_path, "--hosts", "2", "-c", f"train={five_files}")

    assert result.returncode == 0, result.stdout + result.stderr
    hosts = job_dir(result.stdout) / "hosts"
    with tarfile.open(job_dir(result.stdout) / "output" / "model.tar.gz") as archive:
        packed = json.loads(archive.extractfile("weights.json").read())  # type: ignore[union-attr]
    first = json.loads((hosts / "127.0.0.1" / "opt_ml" / "model" / "weights.json").read_text())
    assert packed == first
    # fixture-linear writes its model on every host, which SageMaker would merge.
    assert "warning: host 127.0.0.2 wrote weights.json into its model directory" in result.stderr


def test_a_failed_host_is_reported_with_its_failure_file(tmp_path: Path, linear_data: str) -> None:
    train = tmp_path / "train"
    train.mkdir()
    for number in range(2):
        (train / f"part-{number}.csv").write_text(linear_data)

    result = local_train(
        tmp_path, "--hosts", "3", "-c", f"train={train}", "--distribution", "ShardedByS3Key"
    )

    assert result.returncode == 2
    failure_file = job_dir(result.stdout) / "hosts/127.0.0.3/opt_ml/output/failure"
    assert f"training failed (exit 2): host 127.0.0.3 exited with 2; {failure_file}:\n" in (
        result.stdout
    )
    assert "  User error: Channel 'train' has no data files under" in result.stdout
    assert "host 127.0.0.1 exited" not in result.stdout


def test_sharded_input_on_several_hosts_is_refused_by_a_one_host_algorithm(
    tmp_path: Path, five_files: Path
) -> None:
    result = subprocess.run(
        [*command("algoport"), "local", "train", "-a", "random-forest", "--hosts", "2",
         "--hp", "predictor_type=regressor", "--content-type", "text/csv",
         "-c", f"train={five_files}", "--distribution", "ShardedByS3Key",
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 2, result.stdout + result.stderr
    assert (
        "User error: Channel 'train' is ShardedByS3Key over 2 hosts, but algorithm "
        "'random-forest' trains on one host"
    ) in result.stdout


def test_one_host_keeps_the_single_tree_layout(tmp_path: Path, linear_data: str) -> None:
    train = tmp_path / "train.csv"
    train.write_text(linear_data)

    result = local_train(tmp_path, "-c", f"train={train}", "--distribution", "ShardedByS3Key")

    assert result.returncode == 0, result.stderr
    assert channel_files(job_dir(result.stdout)) == ["train.csv"]
    assert not (job_dir(result.stdout) / "hosts").exists()


def test_loopback_host_names_sort_as_sagemaker_sorts_them() -> None:
    assert loopback_hosts(11)[:3] == ["127.0.0.1", "127.0.0.10", "127.0.0.11"]
    with pytest.raises(UserError, match="--hosts 0 is out of range"):
        loopback_hosts(0)


def test_an_unknown_distribution_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="expected FullyReplicated or ShardedByS3Key"):
        ChannelInput.parse(f"train={tmp_path}", {}, {"train": "Sharded"})


@pytest.mark.parametrize("hosts", [1, 2])
def test_pipe_mode_feeds_each_host_its_files_epoch_after_epoch(
    tmp_path: Path, five_files: Path, hosts: int
) -> None:
    result = subprocess.run(
        [*command("algoport"), "local", "train", "-a", "fixture-epochs", "--hosts", str(hosts),
         "-c", f"train={five_files}", "--content-type", "text/csv", "--input-mode", "Pipe",
         "--distribution", "ShardedByS3Key", "--hp", "epochs=3",
         "--workdir", str(tmp_path / "work")],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    trees = sorted((job_dir(result.stdout) / "hosts").iterdir()) if hosts > 1 else None
    roots = trees or [job_dir(result.stdout)]
    rows = []
    for index, root in enumerate(roots):
        model = root / "opt_ml" / "model" / "epochs.json"
        seen = json.loads(model.read_text())
        assert [epoch["epoch"] for epoch in seen] == [0, 1, 2]
        assert len({epoch["rows"] for epoch in seen}) == 1  # every epoch is the whole share
        shared = sorted(five_files.rglob("*.csv"))[index::hosts]
        assert seen[0]["rows"] == sum(len(p.read_text().splitlines()) for p in shared)
        rows.append(seen[0]["rows"])
        assert channel_files(root) == []  # nothing copied: the data came through FIFOs
    assert sum(rows) == sum(len(p.read_text().splitlines()) for p in five_files.rglob("*.csv"))
