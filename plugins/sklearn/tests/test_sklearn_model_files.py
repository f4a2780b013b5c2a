"""``load`` checks the model directory: a missing or untrusted model file stops ``serve``
with a message naming the file."""

from __future__ import annotations

import fractions
from pathlib import Path

import pytest
import skops.io

from algoport.testing import ServeProcess


def serve_failure(model_dir: Path, algorithm: str) -> str:
    """The log of a ``serve`` that must fail to load its model."""
    with pytest.raises(RuntimeError, match="serve exited") as failed:
        ServeProcess(model_dir, algorithm, startup_timeout=30).start()
    return str(failed.value)


@pytest.mark.parametrize("algorithm", ["random-forest", "linear", "kmeans"])
def test_a_missing_model_file_is_named(tmp_path: Path, algorithm: str) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()

    log = serve_failure(model_dir, algorithm)

    assert f"Model file model.skops is missing from {model_dir}" in log
    assert f"Serve the model.tar.gz of a completed {algorithm!r} training job." in log


def test_a_model_file_holding_untrusted_types_is_refused(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    # A type outside the allow-list stands in for whatever a tampered file might carry.
    skops.io.dump(
        {"format": "algoport-sklearn/1", "estimator": fractions.Fraction(1, 3)},
        model_dir / "model.skops",
    )

    log = serve_failure(model_dir, "linear")

    assert "holds types algoport-sklearn does not load: fractions.Fraction." in log


def test_a_damaged_model_file_is_refused(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "model.skops").write_bytes(b"not a zip archive")

    log = serve_failure(model_dir, "kmeans")

    assert "model.skops cannot be read: " in log
    assert "retrain the model" in log
