"""SIGTERM mid-training, checkpoints, and resuming a restarted job (contract §1.6)."""

from __future__ import annotations

import json
import signal
import subprocess

import pytest

from algoport.testing import SageMakerTree, command, run_train

pytestmark = pytest.mark.e2e


def start_train(tree: SageMakerTree, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        command("train"),
        env=tree.env("fixture-rounds", **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_round(process: subprocess.Popen[str], number: int) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        if line.strip() == f"round {number} done":
            return
    raise AssertionError("training ended before the round")


def test_sigterm_stops_cleanly_and_a_restart_resumes(sagemaker_tree: SageMakerTree) -> None:
    sagemaker_tree.hyperparameters({"rounds": 40, "seconds_per_round": 0.05})
    first = start_train(sagemaker_tree)
    wait_for_round(first, 3)
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=60)

    assert first.returncode == 0, stderr
    assert "SIGTERM received" in stderr
    assert sagemaker_tree.failure is None
    assert not (sagemaker_tree.model_dir / "algoport-manifest.json").exists()
    checkpoints = sorted(p.name for p in (sagemaker_tree.root / "checkpoints").iterdir())
    assert len(checkpoints) <= 3 and all(name.startswith("rounds-") for name in checkpoints)
    stopped_at = int(checkpoints[-1].split("-")[1])
    assert 3 <= stopped_at < 39

    result = run_train(sagemaker_tree, "fixture-rounds")

    assert result.returncode == 0, result.stderr
    state = json.loads((sagemaker_tree.model_dir / "rounds.json").read_text())
    assert state["done"] == list(range(40))
    assert state["resumed_at"] == [stopped_at + 1]
    assert (sagemaker_tree.model_dir / "algoport-manifest.json").exists()


def test_checkpoint_dir_comes_from_checkpointconfig(sagemaker_tree: SageMakerTree) -> None:
    local = sagemaker_tree.root / "my-checkpoints"
    sagemaker_tree.paths.checkpoint_config_file.write_text(
        json.dumps({"LocalPath": str(local), "S3Uri": "s3://bucket/prefix"})
    )
    sagemaker_tree.hyperparameters({"rounds": 2})
    assert run_train(sagemaker_tree, "fixture-rounds").returncode == 0
    assert sorted(p.name for p in local.iterdir()) == ["rounds-000000000", "rounds-000000001"]


def test_algorithm_ignoring_the_stop_leaves_a_reason_before_sigkill(
    sagemaker_tree: SageMakerTree,
) -> None:
    sagemaker_tree.hyperparameters({"rounds": 400, "seconds_per_round": 0.05, "ignore_stop": True})
    process = start_train(sagemaker_tree, ALGOPORT_STOP_GRACE_SECONDS="1")
    wait_for_round(process, 1)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    assert process.returncode == 143
    assert sagemaker_tree.failure is not None
    assert sagemaker_tree.failure.startswith(
        "Platform error: Training was stopped (SIGTERM) and algorithm 'fixture-rounds' did not "
        "finish within 1 s"
    )
