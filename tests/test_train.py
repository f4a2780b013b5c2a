"""`train` run as a real process on a SageMaker-shaped tree (contract §1.2, §1.3, §1.6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from algoport.testing import SageMakerTree, run_train

pytestmark = pytest.mark.e2e

GOOD = {"epochs": 5}


def test_good_run_writes_model_and_manifest(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.hyperparameters({"epochs": 3, "l2": 0.0, "solver": "normal"})
    sagemaker_tree.channel("train", {"part-0.csv": linear_data}, content_type="text/csv")
    sagemaker_tree.channel("validation", {"v.csv": linear_data})

    result = run_train(sagemaker_tree, "fixture-linear")

    assert result.returncode == 0, result.stderr
    assert result.failure is None
    weights = json.loads((sagemaker_tree.model_dir / "weights.json").read_text())["weights"]
    assert weights == pytest.approx([3.0, 2.0, -1.0], abs=1e-6)
    manifest = json.loads((sagemaker_tree.model_dir / "algoport-manifest.json").read_text())
    assert manifest["algorithm"] == "fixture-linear"
    assert manifest["distribution"] == "algoport-fixtures"
    assert manifest["version"] == "1.2.3"
    assert manifest["hyperparameters"]["epochs"] == 3
    assert manifest["hyperparameters"]["fit_intercept"] is True
    assert "#metric validation:mse=" in result.stdout


def test_start_line_names_algorithm_channels_and_typed_hyperparameters(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.hyperparameters({"epochs": 2})
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    result = run_train(sagemaker_tree, "fixture-linear")
    start = next(line for line in result.stderr.splitlines() if "training" in line)
    assert "'fixture-linear' (algoport-fixtures 1.2.3" in start
    assert "train (text/csv, File)" in start
    assert "hyperparameters: {'epochs': 2} (others at their defaults)" in start


@pytest.mark.parametrize("json_encoded", [False, True], ids=["str", "json.dumps"])
def test_plain_and_json_quoted_values_coerce_alike(
    sagemaker_tree: SageMakerTree, linear_data: str, json_encoded: bool
) -> None:
    values = {
        "epochs": 7,
        "l2": 0.5,
        "fit_intercept": False,
        "solver": "normal",
        "tag": "007",
        "feature_weights": [1, 2.5],
        "sagemaker_program": "train.py",
        "sagemaker_region": "us-east-1",
        "_tuning_objective_metric": "validation:mse",
    }
    sagemaker_tree.hyperparameters(values, json_encoded=json_encoded)
    sagemaker_tree.channel("train", {"a.csv": linear_data})

    result = run_train(sagemaker_tree, "fixture-linear")

    assert result.returncode == 0, result.failure
    typed = json.loads((sagemaker_tree.model_dir / "algoport-manifest.json").read_text())
    assert typed["hyperparameters"] == {
        "epochs": 7,
        "l2": 0.5,
        "fit_intercept": False,
        "solver": "normal",
        "tag": "007",
        "feature_weights": [1.0, 2.5],
        "sleep_seconds": 0.0,
    }


BAD_VALUES = [
    ("epochs", "abc", "Hyperparameter 'epochs' has value 'abc'; expected an integer in [1, 1000]."),
    ("epochs", "0", "Hyperparameter 'epochs' has value '0'; expected an integer in [1, 1000]."),
    ("epochs", "2.5", "Hyperparameter 'epochs' has value '2.5'; expected an integer in [1, 1000]."),
    ("l2", "-1", "Hyperparameter 'l2' has value '-1'; expected a number in [0, ∞)."),
    ("l2", "nan", "Hyperparameter 'l2' has value 'nan'; expected a number in [0, ∞)."),
    (
        "fit_intercept",
        "maybe",
        "Hyperparameter 'fit_intercept' has value 'maybe'; expected true or false.",
    ),
    (
        "solver",
        "sgd",
        "Hyperparameter 'solver' has value 'sgd'; expected one of 'lstsq', 'normal'.",
    ),
    (
        "feature_weights",
        "[1, -2]",
        "Hyperparameter 'feature_weights' has value '[1, -2]'; expected a list",
    ),
    ("epoch", "3", "Hyperparameter 'epoch' is not known to algorithm 'fixture-linear'; it accepts"),
]


@pytest.mark.parametrize(("key", "value", "message"), BAD_VALUES)
def test_bad_hyperparameter_is_a_user_error_first_in_the_failure_file(
    sagemaker_tree: SageMakerTree, linear_data: str, key: str, value: str, message: str
) -> None:
    raw = {"epochs": "3", key: value}
    sagemaker_tree.raw_hyperparameters(raw)
    sagemaker_tree.channel("train", {"a.csv": linear_data})

    result = run_train(sagemaker_tree, "fixture-linear")

    assert result.returncode == 2
    assert result.failure is not None
    first_line = result.failure.splitlines()[0]
    assert first_line.startswith("User error: " + message), first_line
    assert len(first_line) < 1024
    assert "Traceback" not in result.failure


def test_unknown_key_suggests_the_close_name(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.raw_hyperparameters({"epochs": "3", "soIver": "normal"})
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.failure is not None
    assert "Did you mean 'solver'?" in result.failure.splitlines()[0]


def test_every_problem_is_reported_at_once(sagemaker_tree: SageMakerTree, linear_data: str) -> None:
    sagemaker_tree.raw_hyperparameters({"l2": "x", "solver": "sgd", "bogus": "1"})
    sagemaker_tree.channel("train", {"a.csv": linear_data})

    result = run_train(sagemaker_tree, "fixture-linear")

    assert result.returncode == 2 and result.failure is not None
    lines = result.failure.splitlines()
    assert "(and 3 more hyperparameter problems)" in lines[0]
    details = "\n".join(lines[1:])
    for name in ("'l2'", "'solver'", "'bogus'", "'epochs' is required and missing"):
        assert name in details


def test_missing_required_channel(sagemaker_tree: SageMakerTree, linear_data: str) -> None:
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("validation", {"v.csv": linear_data})

    result = run_train(sagemaker_tree, "fixture-linear")

    assert result.returncode == 2
    assert result.failure is not None
    assert result.failure.startswith(
        "User error: Channel 'train' is required by algorithm 'fixture-linear' and missing"
    )


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"content_type": "application/x-parquet"}, "has ContentType 'application/x-parquet'"),
        ({"input_mode": "Pipe"}, "has TrainingInputMode 'Pipe'"),
    ],
)
def test_unsupported_channel_content_type_or_mode(
    sagemaker_tree: SageMakerTree, linear_data: str, kwargs: dict[str, str], expected: str
) -> None:
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("train", {"a.csv": linear_data}, **kwargs)
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.returncode == 2
    assert result.failure is not None and expected in result.failure.splitlines()[0]


def test_bad_csv_names_file_row_and_column(sagemaker_tree: SageMakerTree) -> None:
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("train", {"a.csv": "1,2,3\n4,oops,6\n"})
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.returncode == 2
    assert result.failure is not None
    first = result.failure.splitlines()[0]
    assert first.startswith("User error: Channel 'train', file a.csv: CSV row 2, column 2")


def test_plugin_exception_is_an_algorithm_error_with_traceback_in_the_log(
    sagemaker_tree: SageMakerTree,
) -> None:
    result = run_train(sagemaker_tree, "fixture-raises")

    assert result.returncode == 1
    assert result.failure == (
        "Algorithm error: Algorithm 'fixture-raises' failed: ValueError: the matrix is singular\n"
    )
    assert "Traceback (most recent call last)" in result.stderr
    assert 'raise ValueError("the matrix is singular")' in result.stderr


def test_user_error_raised_by_plugin_is_reported_as_is(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "fixture-user-error")
    assert result.returncode == 2
    assert result.failure == "User error: Column 3 is constant; drop it or add noise.\n"


def test_failure_file_written_by_the_plugin_is_kept(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "fixture-own-failure")
    assert result.returncode == 1
    assert result.failure == "custom reason from the algorithm\n"
    assert "failed after writing its own reason" in result.stderr


def test_stale_failure_file_from_an_earlier_run_is_removed(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.paths.failure_file.parent.mkdir(parents=True)
    sagemaker_tree.paths.failure_file.write_text("old failure\n")
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    assert run_train(sagemaker_tree, "fixture-linear").returncode == 0
    assert sagemaker_tree.failure is None


def test_several_algorithms_and_none_selected_lists_them(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree)
    assert result.returncode == 3
    assert result.failure is not None
    first = result.failure.splitlines()[0]
    assert first.startswith(
        "Platform error: Several algorithms are installed and none is selected:"
    )
    assert "fixture-linear" in first and "fixture-raises" in first
    assert "Set ALGOPORT_ALGORITHM" in first


def test_unknown_algorithm_lists_installed(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "no-such-algorithm")
    assert result.returncode == 3
    assert result.failure is not None
    assert result.failure.startswith(
        "Platform error: Algorithm 'no-such-algorithm' (ALGOPORT_ALGORITHM) is not installed; "
        "installed: "
    )
    assert "fixture-linear" in result.failure


def test_broken_plugin_import_names_plugin_and_distribution(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "fixture-broken-import")
    assert result.returncode == 3
    assert result.failure is not None
    first = result.failure.splitlines()[0]
    assert "'fixture-broken-import' (algoport-fixtures 1.2.3" in first
    assert "failed to import: ModuleNotFoundError" in first


def test_a_broken_plugin_does_not_stop_another(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    # fixture-broken-import is installed beside it; only the selected entry point is imported.
    assert run_train(sagemaker_tree, "fixture-linear").returncode == 0


def test_hook_with_wrong_arguments_names_the_plugin(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "fixture-bad-hook")
    assert result.returncode == 3
    assert result.failure is not None
    first = result.failure.splitlines()[0]
    assert "'fixture-bad-hook' (algoport-fixtures 1.2.3" in first
    assert "implements a hook wrongly" in first and "gpu_count" in first


def test_serve_only_algorithm_cannot_train(sagemaker_tree: SageMakerTree) -> None:
    result = run_train(sagemaker_tree, "fixture-serve-only")
    assert result.returncode == 2
    assert result.failure is not None
    assert "cannot be trained: its plugin implements no fit hook" in result.failure


def test_resource_and_checkpoint_config_reach_the_job(
    sagemaker_tree: SageMakerTree, linear_data: str
) -> None:
    sagemaker_tree.resources("algo-2", ("algo-2", "algo-1"))
    sagemaker_tree.hyperparameters(GOOD)
    sagemaker_tree.channel("train", {"a.csv": linear_data})
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.returncode == 0
    # Not hosts[0] of the sorted list: this host trains but does not write the manifest.
    assert "on host algo-2 of 2" in result.stderr
    assert not (sagemaker_tree.model_dir / "algoport-manifest.json").exists()


def test_absent_inputdataconfig_means_no_channels(tmp_path: Path) -> None:
    tree = SageMakerTree(tmp_path / "ml")
    tree.paths.input_data_config_file.unlink()
    tree.hyperparameters(GOOD)
    result = run_train(tree, "fixture-linear")
    assert result.returncode == 2
    assert result.failure is not None
    assert "Channel 'train' is required" in result.failure
