"""`algoport local`: the SageMaker workflow on one machine, each stage a real process."""

from __future__ import annotations

import json
import signal
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest

from algoport.local.artifacts import extract_model
from algoport.testing import ServeProcess, command

pytestmark = pytest.mark.e2e


def algoport(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def write_inputs(
    tmp_path: Path, linear_data: str, rows: int = 30000
) -> tuple[Path, Path, np.ndarray]:
    train = tmp_path / "train.csv"
    train.write_text(linear_data)
    rows = np.random.default_rng(3).normal(size=(rows, 2))
    batch = tmp_path / "inputs" / "batch.csv"
    batch.parent.mkdir()
    batch.write_text("".join(f"{float(a)!r},{float(b)!r}\n" for a, b in rows))
    return train, batch.parent, rows


def test_run_trains_packs_serves_and_transforms(tmp_path: Path, linear_data: str) -> None:
    train, inputs, rows = write_inputs(tmp_path, linear_data)

    result = algoport(
        "local", "run", "--algorithm", "fixture-linear",
        "--channel", f"train={train}", "--content-type", "text/csv",
        "--hp", "epochs=2", "--hp", "solver=normal",
        "--transform-input", inputs, "--accept", "text/csv", "--max-payload-mb", "1",
        "--workdir", tmp_path / "work", "--output", tmp_path / "out",
        cwd=tmp_path,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    job_dir = next((tmp_path / "work").glob("training-*"))
    config = job_dir / "opt_ml" / "input" / "config"
    assert json.loads((config / "hyperparameters.json").read_text()) == {
        "epochs": "2",
        "solver": "normal",
    }
    assert json.loads((config / "inputdataconfig.json").read_text())["train"]["ContentType"] == (
        "text/csv"
    )
    with tarfile.open(job_dir / "output" / "model.tar.gz") as archive:
        assert sorted(archive.getnames()) == ["algoport-manifest.json", "weights.json"]
    output = (tmp_path / "out" / "batch.csv.out").read_text().splitlines()
    assert len(output) == len(rows)
    assert [float(v) for v in output] == pytest.approx((3 + 2 * rows[:, 0] - rows[:, 1]).tolist())
    assert "(30000 records, 2 requests)" in result.stdout


def test_stages_run_alone(tmp_path: Path, linear_data: str) -> None:
    train, inputs, rows = write_inputs(tmp_path, linear_data, rows=500)
    trained = algoport(
        "local", "train", "-a", "fixture-linear", "-c", f"train={train}", "--hp", "epochs=1",
        "--workdir", tmp_path / "work", cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stderr
    tarball = Path(trained.stdout.split("model: ")[1].splitlines()[0])

    model_dir = tmp_path / "serving" / "model"
    extract_model(tarball, model_dir)
    with ServeProcess(model_dir) as server:
        transformed = algoport(
            "local", "transform", "--endpoint", server.url, "--input", inputs / "batch.csv",
            "--output", tmp_path / "out", "--strategy", "SingleRecord", "--max-concurrent", "4",
            cwd=tmp_path,
        )  # fmt: skip
    assert transformed.returncode == 0, transformed.stdout + transformed.stderr
    assert "(500 records, 500 requests)" in transformed.stdout
    assert len((tmp_path / "out" / "batch.csv.out").read_text().splitlines()) == len(rows)


def test_serve_stops_promptly_on_sigterm(tmp_path: Path, linear_data: str, free_port: int) -> None:
    train, _, _ = write_inputs(tmp_path, linear_data, rows=1)
    trained = algoport(
        "local", "train", "-a", "fixture-linear", "-c", f"train={train}", "--hp", "epochs=1",
        "--workdir", tmp_path / "work", cwd=tmp_path,
    )  # fmt: skip
    tarball = Path(trained.stdout.split("model: ")[1].splitlines()[0])
    port = free_port
    serve = subprocess.Popen(
        [*command("algoport"), "local", "serve", "--model", str(tarball), "--port", str(port),
         "--workdir", str(tmp_path / "work")],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        assert serve.stdout.readline().startswith(f"endpoint: http://127.0.0.1:{port}")
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=20)
    finally:
        serve.kill()
    assert serve.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_failed_training_prints_the_reason(tmp_path: Path, linear_data: str) -> None:
    train, _, _ = write_inputs(tmp_path, linear_data, rows=1)
    result = algoport(
        "local", "train", "-a", "fixture-linear", "-c", f"train={train}", "--hp", "epochs=zero",
        "--workdir", tmp_path / "work", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2
    assert "training failed (exit 2): User error: Hyperparameter 'epochs' has value 'zero'" in (
        result.stdout
    )


def test_a_bad_batch_leaves_no_output_for_that_input_only(tmp_path: Path, linear_data: str) -> None:
    train, inputs, _ = write_inputs(tmp_path, linear_data, rows=10)
    (inputs / "bad.csv").write_text("1,2\n3,oops\n")
    result = algoport(
        "local", "run", "-a", "fixture-linear", "-c", f"train={train}", "--hp", "epochs=1",
        "--transform-input", inputs, "--workdir", tmp_path / "work", "--output", tmp_path / "out",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 1
    assert "bad.csv: batch 1 of bad.csv failed with 400: CSV row 2, column 2" in result.stdout
    assert not (tmp_path / "out" / "bad.csv.out").exists()
    assert (tmp_path / "out" / "batch.csv.out").exists()
