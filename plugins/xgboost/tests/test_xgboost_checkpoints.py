"""SIGTERM mid-training, checkpoints, and a restarted job resuming, through the real ``train``."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost as xgb

from algoport.testing import SageMakerTree, command, run_train

pytestmark = pytest.mark.e2e

CHECKPOINT = re.compile(r"xgboost-checkpoint-(\d{9})")
# Deterministic boosting (no row or column sampling), so a resumed run can match exactly.
HYPERPARAMETERS = {
    "num_round": 100,
    "max_depth": 4,
    "eta": 0.1,
    "seed": 7,
    "nthread": 1,
    "eval_metric": "rmse,mae",
}


@pytest.fixture(scope="module")
def regression(formats: Any) -> dict[str, str]:
    rng = np.random.default_rng(11)
    features = rng.normal(size=(1500, 8))
    labels = features[:, 0] * 3 - features[:, 1] * features[:, 2] + rng.normal(size=1500) * 0.2
    return {
        "train": formats.csv(features[:1200], labels[:1200]),
        "validation": formats.csv(features[1200:], labels[1200:]),
    }


def start_train(tree: SageMakerTree, stderr: Path, processes: Any) -> subprocess.Popen[bytes]:
    """``train`` with a small stdout pipe, so a stop lands well before the last round."""
    with stderr.open("wb") as log:
        process = subprocess.Popen(
            command("train"), env=tree.env("xgboost"), stdout=subprocess.PIPE, stderr=log
        )
    processes.shrink_stdout_pipe(process)
    return process


def stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=60)
    return process.returncode


def checkpoints(directory: Path) -> list[int]:
    names = [p.name for p in directory.iterdir()] if directory.is_dir() else []
    return sorted(int(match.group(1)) for name in names if (match := CHECKPOINT.fullmatch(name)))


def booster_rounds(path: Path) -> int:
    return int(xgb.Booster(model_file=bytearray(path.read_bytes())).num_boosted_rounds())


def logged_steps(stdout: str, metric: str = "validation:rmse") -> list[int]:
    return [int(s) for s in re.findall(rf"#metric {re.escape(metric)}=[^;]+; step=(\d+)", stdout)]


def predictions(model_dir: Path, features: np.ndarray) -> np.ndarray:
    booster = xgb.Booster(model_file=str(model_dir / "xgboost-model.ubj"))
    return np.asarray(booster.predict(xgb.DMatrix(features)))


def test_sigterm_checkpoints_and_a_restart_finishes_the_uninterrupted_model(
    training_jobs: Any, regression: dict[str, str], tmp_path: Path, processes: Any
) -> None:
    tree = training_jobs.lay_out(HYPERPARAMETERS, regression)
    process = start_train(tree, tmp_path / "first.log", processes)
    processes.read_until_step(process, 5)

    code = stop(process)

    assert code == 0, (tmp_path / "first.log").read_text()
    assert tree.failure is None
    assert not any(tree.model_dir.iterdir()), "a stopped job saves no model"
    directory = tree.root / "checkpoints"
    written = checkpoints(directory)
    stopped_after = written[-1]
    assert 6 <= stopped_after < 100
    assert len(written) == 1, "without CheckpointConfig only the stop is checkpointed"
    assert booster_rounds(directory / f"xgboost-checkpoint-{stopped_after:09d}") == stopped_after

    resumed = run_train(tree, "xgboost")

    assert resumed.returncode == 0, resumed.failure or resumed.stderr
    assert logged_steps(resumed.stdout) == list(range(stopped_after, 100))
    assert "resuming from checkpoint" in resumed.stderr
    assert (tree.model_dir / "algoport-manifest.json").is_file()
    assert booster_rounds(tree.model_dir / "xgboost-model.ubj") == 100
    uninterrupted, result = training_jobs.train("xgboost", HYPERPARAMETERS, regression)
    assert result.returncode == 0, result.failure
    features = np.random.default_rng(5).normal(size=(200, 8))
    np.testing.assert_allclose(
        predictions(tree.model_dir, features),
        predictions(uninterrupted.model_dir, features),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize("save", [True, False])
def test_save_model_on_termination_also_keeps_the_model(
    training_jobs: Any,
    regression: dict[str, str],
    tmp_path: Path,
    processes: Any,
    save: bool,
) -> None:
    tree = training_jobs.lay_out(
        {**HYPERPARAMETERS, "num_round": 100_000, "save_model_on_termination": save}, regression
    )
    process = start_train(tree, tmp_path / "train.log", processes)
    processes.read_until_step(process, 3)

    assert stop(process) == 0, (tmp_path / "train.log").read_text()

    stopped_after = checkpoints(tree.root / "checkpoints")[-1]
    model_file = tree.model_dir / "xgboost-model.ubj"
    if save:
        assert booster_rounds(model_file) == stopped_after
    else:
        assert not model_file.exists()
    assert not (tree.model_dir / "algoport-manifest.json").exists()


def test_checkpointconfig_checkpoints_every_interval_and_keeps_three(
    training_jobs: Any, regression: dict[str, str], tmp_path: Path
) -> None:
    local = tmp_path / "synced-checkpoints"
    tree = training_jobs.lay_out(
        {**HYPERPARAMETERS, "num_round": 20, "checkpoint_interval": 4}, regression
    )
    tree.paths.checkpoint_config_file.write_text(
        json.dumps({"LocalPath": str(local), "S3Uri": "s3://bucket/checkpoints"})
    )

    result = run_train(tree, "xgboost")

    assert result.returncode == 0, result.failure
    assert checkpoints(local) == [12, 16, 20]
    assert not (tree.root / "checkpoints").exists()
    assert booster_rounds(local / "xgboost-checkpoint-000000016") == 16


def test_a_checkpoint_past_num_round_gives_the_first_num_round_rounds(
    training_jobs: Any, regression: dict[str, str]
) -> None:
    tree, result = training_jobs.train("xgboost", {**HYPERPARAMETERS, "num_round": 8}, regression)
    assert result.returncode == 0, result.failure
    tree.paths.checkpoint_config_file.write_text(json.dumps({}))
    eight_rounds = tree.root / "checkpoints" / "xgboost-checkpoint-000000008"
    eight_rounds.parent.mkdir()
    (tree.model_dir / "xgboost-model.ubj").rename(eight_rounds)
    tree.hyperparameters({**HYPERPARAMETERS, "num_round": 5})

    resumed = run_train(tree, "xgboost")

    assert resumed.returncode == 0, resumed.failure
    assert booster_rounds(tree.model_dir / "xgboost-model.ubj") == 5
    assert logged_steps(resumed.stdout) == []


def test_early_stopping_carries_on_across_a_restart(training_jobs: Any, formats: Any) -> None:
    rng = np.random.default_rng(3)
    features = rng.normal(size=(600, 6))
    labels = (features[:, 0] + rng.normal(size=600) > 0).astype(float)
    data = {
        "train": formats.csv(features[:300], labels[:300]),
        "validation": formats.csv(features[300:], labels[300:]),
    }
    settings = {
        "num_round": 200,
        "eta": 0.5,
        "max_depth": 5,
        "objective": "binary:logistic",
        "eval_metric": "logloss",
        "early_stopping_rounds": 4,
        "nthread": 1,
    }
    uninterrupted, result = training_jobs.train("xgboost", settings, data)
    assert result.returncode == 0, result.failure
    best = json.loads((uninterrupted.model_dir / "xgboost-metadata.json").read_text())
    stopped_at = max(logged_steps(result.stdout, "validation:logloss")) + 1
    assert best["best_iteration"] + 4 < stopped_at < 200
    # A first run cut short two rounds after the best one leaves its checkpoint behind.
    cut_short = {**settings, "num_round": best["best_iteration"] + 3, "checkpoint_interval": 1}
    restarted = training_jobs.lay_out(cut_short, data)
    restarted.paths.checkpoint_config_file.write_text(json.dumps({}))
    assert run_train(restarted, "xgboost").returncode == 0
    restarted.hyperparameters(settings)

    resumed = run_train(restarted, "xgboost")

    assert resumed.returncode == 0, resumed.failure
    assert logged_steps(resumed.stdout, "validation:logloss") == list(
        range(best["best_iteration"] + 3, stopped_at)
    )
    facts = json.loads((restarted.model_dir / "xgboost-metadata.json").read_text())
    assert facts["best_iteration"] == best["best_iteration"]
    np.testing.assert_allclose(
        predictions(restarted.model_dir, features), predictions(uninterrupted.model_dir, features)
    )


def test_an_unreadable_checkpoint_is_a_clear_error(
    training_jobs: Any, regression: dict[str, str]
) -> None:
    tree = training_jobs.lay_out(HYPERPARAMETERS, regression)
    broken = tree.root / "checkpoints" / "xgboost-checkpoint-000000040"
    broken.parent.mkdir()
    broken.write_bytes(b"not a model")

    result = run_train(tree, "xgboost")

    assert result.returncode == 2
    assert result.failure is not None
    assert result.failure.startswith(f"User error: Checkpoint {broken} is not a model XGBoost")
