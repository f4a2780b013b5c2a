"""Formats contributed on the ``formats`` hook: a plugin's own format in training and
serving, clashes stopping start-up, and output no reply format can hold."""

from __future__ import annotations

from pathlib import Path

import pytest

from algoport.testing import SageMakerTree, ServeProcess, run_train

pytestmark = pytest.mark.e2e

CLASH = (
    "Media type 'text/csv' has two formats, from plugin 'algoport.builtin_formats' and from "
    "plugin 'fixture-format-clash'. To replace a built-in format, give the new one "
    "override=True."
)


def test_a_plugins_own_format_is_read_in_training_and_spoken_in_serving(
    sagemaker_tree: SageMakerTree,
) -> None:
    sagemaker_tree.channel(
        "train",
        {"a.txt": "1;0.5;0.5\n3;1;1\n", "b.txt": "2;0;0\n"},
        content_type="text/x-semicolons",
    )
    result = run_train(sagemaker_tree, "fixture-own-format")
    assert result.returncode == 0, result.failure
    with ServeProcess(sagemaker_tree.model_dir, "fixture-own-format") as server:
        reply = server.client.post(
            "/invocations",
            content=b"1;2\n0.5;0\n",
            headers={"Content-Type": "text/x-semicolons", "Accept": "text/x-semicolons"},
        )
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/x-semicolons")
    assert reply.text == "5.0\n2.5\n"


def test_a_format_clash_stops_training_naming_both_plugins(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.channel("train", {"train.csv": linear_data})
    result = run_train(sagemaker_tree, "fixture-format-clash")
    assert result.returncode == 3
    assert result.failure is not None
    assert CLASH in result.failure


def test_a_format_clash_stops_serving_before_any_request(tmp_path: Path) -> None:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    server = ServeProcess(model, "fixture-format-clash")
    code, logs = server.run_until_exit()
    assert code != 0
    assert CLASH in logs


def test_output_no_reply_format_can_hold_is_an_algorithm_error_500(tmp_path: Path) -> None:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    with ServeProcess(model, "fixture-complex-output") as server:
        reply = server.client.post(
            "/invocations", content=b"1,2\n", headers={"Content-Type": "text/csv"}
        )
        logs = server.logs()
    assert reply.status_code == 500
    assert reply.json() == {
        "error": "Algorithm 'fixture-complex-output' returned predictions that "
        "application/json cannot hold: JSON output cannot hold values of dtype complex128."
    }
    assert "Traceback" in logs
