"""``algoport check`` passes a conforming algorithm and names the rule each broken one breaks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from algoport.testing import check_algorithm, command


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory: pytest.TempPathFactory, linear_data: str) -> Path:
    """200 labelled records: more than a request sample, fewer than a batch holds."""
    path = tmp_path_factory.mktemp("check") / "train.csv"
    path.write_text(linear_data)
    return path


def run_check(algorithm: str, train_csv: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "check", algorithm, "-c", f"train={train_csv}", "--hp", "epochs=1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_conforming_algorithm_passes_every_check_and_exits_0(train_csv: Path) -> None:
    completed = run_check("fixture-linear", train_csv)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    table = completed.stdout.splitlines()
    assert table[-1] == "algorithm 'fixture-linear' passes every check"
    rows = [line.split()[:2] for line in table[1:-1]]
    for row in (
        ["hyperparameters:", "SageMaker's"],
        ["train:", "exits"],
        ["serve:", "/ping"],
        ["request", "application/x-recordio-protobuf"],
        ["response", "application/jsonlines"],
        ["batch:", "one"],
    ):
        assert row in rows, completed.stdout
    assert all(" failed " not in line for line in table), completed.stdout


def test_a_failed_check_is_a_row_with_its_reason_and_exit_1(train_csv: Path) -> None:
    completed = run_check("fixture-wrong-row-count", train_csv)
    assert completed.returncode == 1, completed.stdout + completed.stderr
    row = next(
        line for line in completed.stdout.splitlines() if line.startswith("request text/csv")
    )
    assert " failed " in row
    assert "predict returned 4 predictions for 5 records" in row


@pytest.mark.parametrize(
    ("algorithm", "check", "reason"),
    [
        ("fixture-wrong-row-count", "request text/csv", "4 predictions for 5 records"),
        ("fixture-csv-only", "request application/x-npy", "answered 500"),
        ("fixture-ignores-stop", "train: SIGTERM stops the job", "ignored the stop request"),
        ("fixture-fails-on-bad-input", "bad input: one feature too many", "answered 500"),
        ("fixture-model-in-output", "train: writes the model into /opt/ml/model", "nothing"),
        (
            "fixture-drops-batch-records",
            "batch: one output per input record",
            "100 output records for 200 input records",
        ),
    ],
)
def test_each_broken_rule_is_caught_and_named(
    algorithm: str, check: str, reason: str, train_csv: Path
) -> None:
    # fixture-ignores-stop trains for 3 s; its stop grace period here is 1 s.
    result = check_algorithm(
        algorithm,
        {"train": train_csv},
        {"epochs": 1, **({"train_seconds": 3} if algorithm == "fixture-ignores-stop" else {})},
        stop_seconds=1,
    )
    failed = {c.name: c.reason for c in result.failed}
    assert check in failed, result.report()
    assert reason in failed[check], result.report()


def test_a_bad_hyperparameter_given_fails_its_spelling_check_and_training(train_csv: Path) -> None:
    result = check_algorithm("fixture-linear", {"train": train_csv}, {"epochs": "many"})
    failed = {c.name: c.reason for c in result.failed}
    assert "'epochs' has value 'many'" in failed["hyperparameters: SageMaker's spellings"]
    assert "exit 2" in failed["train: exits 0"]
