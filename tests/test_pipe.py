"""Pipe mode through real FIFOs fed by the emulator in its own process (contract §1.4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algoport.local.pipe_feeder import PipeFeeder
from algoport.testing import SageMakerTree, run_train

pytestmark = pytest.mark.e2e


def csv_files(directory: Path, files: int = 3, rows: int = 400) -> list[Path]:
    """Label i % 7 on row i of each file; a payload line holds the magic number's bytes."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(files):
        path = directory / f"part-{number}.csv"
        path.write_text("".join(f"{i % 7},{i}.5,{number}\n" for i in range(rows)))
        paths.append(path)
    return paths


def expected_label_sum(files: int = 3, rows: int = 400) -> float:
    return float(files * sum(i % 7 for i in range(rows)))


def run_pipe_job(
    tree: SageMakerTree,
    files: list[Path],
    hyperparameters: dict[str, object],
    *,
    record_wrapper: str = "None",
    compression: str = "None",
) -> list[dict[str, float]]:
    tree.hyperparameters(hyperparameters)
    tree.channel("train", {}, content_type="text/csv", input_mode="Pipe")
    config = json.loads(tree.paths.input_data_config_file.read_text())
    config["train"].update(RecordWrapperType=record_wrapper, CompressionType=compression)
    tree.paths.input_data_config_file.write_text(json.dumps(config))
    prefix = tree.paths.data_dir / "train"
    prefix.rmdir()  # Pipe mode has FIFOs train_0, train_1… and no directory
    with PipeFeeder(prefix, files, record_wrapper=record_wrapper, compression=compression):
        result = run_train(tree, "fixture-epochs", timeout=120)
    assert result.returncode == 0, result.stderr
    seen: list[dict[str, float]] = json.loads((tree.model_dir / "epochs.json").read_text())
    return seen


def test_several_epochs_each_read_to_eof(sagemaker_tree: SageMakerTree, tmp_path: Path) -> None:
    seen = run_pipe_job(sagemaker_tree, csv_files(tmp_path / "data"), {"epochs": 3})
    assert [e["epoch"] for e in seen] == [0, 1, 2]
    assert all(e["rows"] == 1200 for e in seen)
    assert all(e["label_sum"] == expected_label_sum() for e in seen)


def test_small_chunks_stream_the_same_records(
    sagemaker_tree: SageMakerTree, tmp_path: Path
) -> None:
    seen = run_pipe_job(
        sagemaker_tree, csv_files(tmp_path / "data"), {"epochs": 2, "chunk_bytes": 1000}
    )
    assert all(e["rows"] == 1200 and e["chunks"] > 10 for e in seen)
    assert all(e["label_sum"] == expected_label_sum() for e in seen)


def test_closing_an_epoch_early_moves_on_to_the_next(
    sagemaker_tree: SageMakerTree, tmp_path: Path
) -> None:
    seen = run_pipe_job(
        sagemaker_tree,
        csv_files(tmp_path / "data", files=20, rows=5000),
        {"epochs": 3, "close_early": True, "chunk_bytes": 4096},
    )
    assert [e["epoch"] for e in seen] == [0, 1, 2]
    assert all(0 < e["rows"] < 100_000 for e in seen)


def test_gzip_is_inflated(sagemaker_tree: SageMakerTree, tmp_path: Path) -> None:
    seen = run_pipe_job(
        sagemaker_tree, csv_files(tmp_path / "data"), {"epochs": 2}, compression="Gzip"
    )
    assert [e["rows"] for e in seen] == [1200, 1200]


@pytest.mark.parametrize("compression", ["None", "Gzip"])
def test_recordio_wrapped_objects_are_unwrapped(
    sagemaker_tree: SageMakerTree, tmp_path: Path, compression: str
) -> None:
    seen = run_pipe_job(
        sagemaker_tree,
        csv_files(tmp_path / "data"),
        {"epochs": 2},
        record_wrapper="RecordIO",
        compression=compression,
    )
    assert [e["rows"] for e in seen] == [1200, 1200]
    assert all(e["label_sum"] == expected_label_sum() for e in seen)


def test_file_mode_epochs_reread_the_files(sagemaker_tree: SageMakerTree, tmp_path: Path) -> None:
    files = csv_files(tmp_path / "data")
    sagemaker_tree.hyperparameters({"epochs": 2})
    sagemaker_tree.channel("train", {f.name: f.read_bytes() for f in files})
    result = run_train(sagemaker_tree, "fixture-epochs")
    assert result.returncode == 0, result.stderr
    seen = json.loads((sagemaker_tree.model_dir / "epochs.json").read_text())
    assert [e["rows"] for e in seen] == [1200, 1200]


def test_missing_pipe_fails_after_the_wait(sagemaker_tree: SageMakerTree) -> None:
    sagemaker_tree.hyperparameters({"epochs": 1})
    sagemaker_tree.channel("train", {}, input_mode="Pipe")
    result = run_train(sagemaker_tree, "fixture-epochs", ALGOPORT_PIPE_WAIT_SECONDS="0.5")
    assert result.returncode == 3
    assert result.failure is not None
    assert result.failure.startswith("Platform error: Pipe ")
    assert "train_0 did not appear within 0.5 s" in result.failure
