"""``algoport batch``: the same bytes as ``algoport local transform``, aligned per input file.

Every test runs the real command twice over: in-process in this environment, and on a
2-CPU local Ray in the Ray environment .ci/run makes (ALGOPORT_RAY_PYTHON names its
Python; without it the Ray runs are skipped and say why). Ray is kept out of the main
environment because it replaces algoport's ``serve`` (see tests/test_entrypoints.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from algoport.batch.onray import ray_available
from algoport.local.artifacts import extract_model, pack_model
from algoport.local.transform import TransformSettings, run_transform
from algoport.testing import ServeProcess, TrainingJobs, csv_text

RAY_PYTHON = os.environ.get("ALGOPORT_RAY_PYTHON")
ENGINES = [
    pytest.param([sys.executable, "-m", "algoport", "batch", "--in-process"], id="in-process"),
    pytest.param(
        [str(RAY_PYTHON), "-m", "algoport", "batch", "--concurrency", "2"],
        id="ray",
        marks=pytest.mark.skipif(
            not RAY_PYTHON, reason="ALGOPORT_RAY_PYTHON names no Python with algoport[ray]"
        ),
    ),
]
TRAINED = {
    "xgboost": {"num_round": 5, "max_depth": 3, "objective": "binary:logistic"},
    "random-forest": {"predictor_type": "binary_classifier", "num_trees": 5},
}


def features(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(rows, 4)).round(6)


@pytest.fixture(scope="module", params=list(TRAINED))
def model(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A model.tar.gz trained by the real ``train``."""
    algorithm = request.param
    x = features(300, seed=1)
    labels = (x[:, 0] + x[:, 1] > 0).astype(float)
    root = tmp_path_factory.mktemp(algorithm)
    tree, result = TrainingJobs(root).train(
        algorithm, TRAINED[algorithm], {"train": csv_text(x, labels)}
    )
    assert result.returncode == 0, result.failure or result.stderr
    return pack_model(tree.model_dir, root / "model.tar.gz")


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three CSV files of different lengths: one line, several batches, a few lines."""
    directory = tmp_path_factory.mktemp("inputs")
    files = []
    for name, rows, seed in (("one.csv", 1, 2), ("many.csv", 2500, 3), ("few.csv", 7, 4)):
        path = directory / name
        path.write_text(csv_text(features(rows, seed)))
        files.append(path)
    return files


@pytest.fixture(scope="module")
def transformed(model: Path, inputs: list[Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``algoport local transform`` writes for the inputs, CSV answers, small requests."""
    output = tmp_path_factory.mktemp("transformed")
    model_dir = tmp_path_factory.mktemp("served") / "model"
    extract_model(model, model_dir)
    with ServeProcess(model_dir, None) as server:
        results = run_transform(
            server.url, inputs, output, TransformSettings(accept="text/csv", max_payload_mb=1)
        )
    assert not [r.error for r in results if r.error]
    return output


def batch(engine: list[str], *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*engine, *(str(a) for a in args)], capture_output=True, text=True, timeout=600
    )


@pytest.mark.e2e
@pytest.mark.parametrize("engine", ENGINES)
def test_outputs_equal_local_transform_byte_for_byte(
    engine: list[str], model: Path, inputs: list[Path], transformed: Path, tmp_path: Path
) -> None:
    glob = str(inputs[0].parent / "*.csv")

    done = batch(
        engine,
        "--model",
        model,
        "--input",
        glob,
        "--output",
        tmp_path,
        "--format",
        "text/csv",
        "--batch-size",
        "1000",
    )

    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "few.csv.out",
        "many.csv.out",
        "one.csv.out",
    ]
    for source in inputs:
        out = (tmp_path / f"{source.name}.out").read_bytes()
        assert out == (transformed / f"{source.name}.out").read_bytes()
        assert out.count(b"\n") == source.read_bytes().count(b"\n")
    assert "records/s" in done.stderr


@pytest.mark.e2e
@pytest.mark.parametrize("engine", ENGINES)
def test_a_rejected_record_fails_the_run_naming_its_file_and_line(
    engine: list[str], model: Path, inputs: list[Path], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    lines = csv_text(features(40, seed=5)).splitlines(keepends=True)
    lines[22] = "0.5,abc,1,2\n"
    bad.write_text("".join(lines))

    done = batch(
        engine,
        "--model",
        model,
        "--input",
        inputs[0],
        "--input",
        bad,
        "--output",
        tmp_path / "out",
        "--batch-size",
        "16",
    )

    assert done.returncode == 2, done.stderr
    assert f"{bad} line 23 is rejected: " in done.stderr
    assert "'abc'" in done.stderr
    assert not (tmp_path / "out" / "bad.csv.out").exists()


@pytest.mark.e2e
def test_without_ray_it_runs_in_process_and_says_how_to_get_ray(
    model: Path, inputs: list[Path], tmp_path: Path
) -> None:
    if ray_available():
        pytest.skip("Ray is installed in this environment")
    engine = [sys.executable, "-m", "algoport", "batch"]

    done = batch(engine, "--model", model, "--input", inputs[2], "--output", tmp_path)

    assert done.returncode == 0, done.stderr
    assert "pip install 'algoport[ray]'" in done.stderr
    assert (tmp_path / "few.csv.out").read_text().count("\n") == 7
