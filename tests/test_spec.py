"""`algoport spec`: the CreateAlgorithm request, through the real command and botocore's model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from botocore.validate import ParamValidator

from algoport import ChannelSpec, hp
from algoport.errors import UserError
from algoport.metrics import format_metric
from algoport.plugins import selected_algorithm
from algoport.service_model import input_shape, limit_problems, matches
from algoport.spec import (
    channel_specification,
    check_defaults_not_required,
    hyperparameter_specification,
)
from algoport.testing import command

REFERENCE_ALGORITHMS = ("xgboost", "random-forest", "linear", "kmeans")
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/algo:1.0"
DIGEST = "sha256:" + "ab" * 32
VALIDATION = (
    "--validation-role",
    "arn:aws:iam::123456789012:role/SageMakerValidation",
    "--validation-train",
    "s3://bucket/validation/train/",
    "--validation-transform-input",
    "s3://bucket/validation/transform/",
    "--validation-output",
    "s3://bucket/validation/output/",
)
# The hyperparameters each reference algorithm requires, for its validation profile.
REQUIRED = {
    "xgboost": ["num_round=10"],
    "random-forest": ["predictor_type=binary_classifier"],
    "linear": ["predictor_type=regressor"],
    "kmeans": ["k=3"],
}


def spec(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "spec", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def service_model_problems(params: dict[str, Any]) -> str:
    shape = input_shape("CreateAlgorithm")
    report = ParamValidator().validate(params, shape).generate_report()
    return "\n".join([report, *limit_problems(params, shape, "")]).strip()


@pytest.mark.parametrize("name", REFERENCE_ALGORITHMS)
def test_reference_algorithm_request_validates_and_round_trips(name: str) -> None:
    hps = [arg for pair in REQUIRED[name] for arg in ("--hp", pair)]
    result = spec("-a", name, "--training-image", IMAGE, "--training-image-digest", DIGEST,
                  *VALIDATION, *hps)  # fmt: skip
    assert result.returncode == 0, result.stderr
    params = json.loads(result.stdout)
    assert service_model_problems(params) == ""
    assert json.loads(json.dumps(params)) == params

    training = params["TrainingSpecification"]
    assert params["AlgorithmName"] == name
    assert training["TrainingImageDigest"] == DIGEST
    assert params["InferenceSpecification"]["Containers"] == [{"Image": IMAGE}]
    algorithm = selected_algorithm(name)
    declared = algorithm.hyperparameters.declared
    assert [h["Name"] for h in training["SupportedHyperParameters"]] == list(declared)
    for entry in training["SupportedHyperParameters"]:
        if "DefaultValue" in entry:
            # SageMaker passes the default as this string; the core reads back the default.
            spec_ = declared[entry["Name"]]
            assert spec_.coerce(entry["DefaultValue"]) == spec_.default
    assert [c["Name"] for c in training["TrainingChannels"]] == [
        c.name for c in algorithm.channels or ()
    ]
    assert training["MetricDefinitions"] == [
        {"Name": m.name, "Regex": m.regex} for m in algorithm.metrics
    ]
    # Only XGBoost builds one model from several hosts' data (see its capabilities hook).
    assert training["SupportsDistributedTraining"] is (name == "xgboost")
    formats = algorithm.formats()
    inference = params["InferenceSpecification"]
    assert inference["SupportedContentTypes"] == list(formats.accepts)
    assert inference["SupportedResponseMIMETypes"] == list(formats.produces)
    profile = params["ValidationSpecification"]["ValidationProfiles"][0]
    assert profile["TrainingJobDefinition"]["HyperParameters"] == dict(
        pair.split("=") for pair in REQUIRED[name]
    )


def test_metric_regex_in_the_request_reads_the_core_s_own_metric_lines() -> None:
    params = json.loads(spec("-a", "xgboost", "--training-image", IMAGE).stdout)
    definition = params["TrainingSpecification"]["MetricDefinitions"][0]
    line = format_metric(definition["Name"], 0.125, step=3)
    found = re.search(definition["Regex"], line)
    assert found is not None and float(found.group(1)) == 0.125


def test_python_format_is_a_boto3_call_with_the_same_params(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    as_json = json.loads(spec("-a", "kmeans", "--training-image", IMAGE).stdout)
    result = spec("-a", "kmeans", "--training-image", IMAGE, "--format", "python")
    assert result.returncode == 0, result.stderr
    calls: list[dict[str, Any]] = []

    class FakeClient:
        def create_algorithm(self, **kw: Any) -> dict[str, str]:
            calls.append(kw)
            return {"AlgorithmArn": "arn:aws:sagemaker:us-east-1:123456789012:algorithm/x"}

    def client(service: str) -> FakeClient:
        assert service == "sagemaker"
        return FakeClient()

    fake_boto3 = types.ModuleType("boto3")
    fake_boto3.client = client  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "boto3", fake_boto3)
    exec(compile(result.stdout, "spec.py", "exec"), {})
    assert calls == [as_json]
    assert service_model_problems(calls[0]) == ""


def test_broken_limits_are_each_named_with_exit_2() -> None:
    result = spec("-a", "fixture-over-limits", "--training-image", IMAGE)
    assert result.returncode == 2
    assert result.stdout == ""
    assert (
        "TrainingSpecification.SupportedHyperParameters: 101 entries; the service model "
        "allows at most 100." in result.stderr
    )
    assert (
        "SupportedHyperParameters['mode'].Range.CategoricalParameterRangeSpecification.Values: "
        "31 entries; the service model allows at most 30." in result.stderr
    )
    assert "TrainingChannels['train data'].Name: 'train data' does not match" in result.stderr


def test_seller_inputs_are_checked_against_patterns_and_enums() -> None:
    result = spec(
        "-a", "fixture-linear", "--training-image", IMAGE, "--name=-bad",
        "--training-instance-type", "ml.nonexistent.xlarge", "--inference-image-digest", "md5:1",
    )  # fmt: skip
    assert result.returncode == 2
    assert "AlgorithmName: '-bad' does not match the pattern" in result.stderr
    assert "SupportedTrainingInstanceTypes[0]: 'ml.nonexistent.xlarge' is not a" in result.stderr
    assert "Containers[0].ImageDigest: 'md5:1' does not match" in result.stderr


def test_validation_inputs_are_all_or_none_and_hyperparameters_are_coerced() -> None:
    partial = spec("-a", "kmeans", "--training-image", IMAGE, "--validation-role", "arn:x")
    assert partial.returncode == 2
    assert "lacks --validation-train, --validation-transform-input, --validation-output" in (
        partial.stderr
    )
    wrong = spec("-a", "kmeans", "--training-image", IMAGE, *VALIDATION, "--hp", "k=zero")
    assert wrong.returncode == 2
    assert "Hyperparameter 'k' has value 'zero'" in wrong.stderr


def test_without_botocore_the_command_says_how_to_install_it(tmp_path: Path) -> None:
    hidden = tmp_path / "botocore"
    hidden.mkdir()
    (hidden / "__init__.py").write_text("raise ImportError('botocore hidden by the test')\n")
    result = subprocess.run(
        [sys.executable, "-c", "import sys; from algoport.cli import main; sys.exit(main())",
         "spec", "-a", "kmeans", "--training-image", IMAGE],
        capture_output=True, text=True, check=False, env={"PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert result.returncode == 3
    assert result.stderr.strip().endswith("pip install 'algoport[spec]'")


@pytest.mark.parametrize(
    ("declared", "expected"),
    [
        (
            hp.Integer(name="n", default=5, min=1, max=10, tunable=True),
            {"Name": "n", "Type": "Integer", "IsTunable": True, "IsRequired": False,
             "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1", "MaxValue": "10"}},
             "DefaultValue": "5"},
        ),
        (
            hp.Integer(name="n", min=0, max=10, min_open=True, max_open=True, required=True),
            {"Name": "n", "Type": "Integer", "IsTunable": False, "IsRequired": True,
             "Range": {"IntegerParameterRangeSpecification": {"MinValue": "1", "MaxValue": "9"}}},
        ),
        (
            hp.Integer(name="n", min=1),
            {"Name": "n", "Type": "Integer", "IsTunable": False, "IsRequired": False},
        ),
        (
            hp.Float(name="eta", default=0.3, min=0, max=1, description="step size"),
            {"Name": "eta", "Type": "Continuous", "Description": "step size", "IsTunable": False,
             "IsRequired": False, "DefaultValue": "0.3",
             "Range": {"ContinuousParameterRangeSpecification": {
                 "MinValue": "0", "MaxValue": "1"}}},
        ),
        (
            hp.Boolean(name="flag", default=True),
            {"Name": "flag", "Type": "Categorical", "IsTunable": False, "IsRequired": False,
             "Range": {"CategoricalParameterRangeSpecification": {"Values": ["true", "false"]}},
             "DefaultValue": "true"},
        ),
        (
            hp.Categorical(name="c", choices=("a", "b"), default="b"),
            {"Name": "c", "Type": "Categorical", "IsTunable": False, "IsRequired": False,
             "Range": {"CategoricalParameterRangeSpecification": {"Values": ["a", "b"]}},
             "DefaultValue": "b"},
        ),
        (
            hp.String(name="s", default="x", aliases=("alias",)),
            {"Name": "s", "Type": "FreeText", "IsTunable": False, "IsRequired": False,
             "DefaultValue": "x"},
        ),
        (
            hp.List(name="q", item=hp.Float(name="q"), default=[0.5, 0.9]),
            {"Name": "q", "Type": "FreeText", "IsTunable": False, "IsRequired": False,
             "DefaultValue": "0.5,0.9"},
        ),
    ],
)  # fmt: skip
def test_hyperparameter_types_map_to_sagemaker_types(
    declared: hp.HyperParameter, expected: dict[str, Any]
) -> None:
    assert hyperparameter_specification(declared) == expected


def test_long_description_is_cut_to_the_api_limit() -> None:
    entry = hyperparameter_specification(hp.String(name="s", description="d" * 2000))
    assert len(entry["Description"]) == 1024
    assert entry["Description"].endswith("d…")


def test_channel_offers_fast_file_with_file_and_gzip_with_pipe_only() -> None:
    file_only = channel_specification(
        ChannelSpec(name="train", content_types=("text/csv;label_size=0",))
    )
    assert file_only["SupportedInputModes"] == ["File", "FastFile"]
    assert file_only["SupportedCompressionTypes"] == ["None"]
    assert file_only["SupportedContentTypes"] == ["text/csv", "text/csv;label_size=0"]
    piped = channel_specification(ChannelSpec(name="train", input_modes=("Pipe",)))
    assert piped["SupportedInputModes"] == ["Pipe"]
    assert piped["SupportedCompressionTypes"] == ["None", "Gzip"]


def test_a_required_parameter_with_a_default_is_refused() -> None:
    entry = {"Name": "n", "Type": "Integer", "IsRequired": True, "DefaultValue": "1"}
    with pytest.raises(UserError, match=r"\['n'\]: required and with a DefaultValue"):
        check_defaults_not_required(
            {"TrainingSpecification": {"SupportedHyperParameters": [entry]}}
        )


def test_unicode_category_patterns_are_checked_like_java() -> None:
    description = r"[\p{L}\p{M}\p{Z}\p{S}\p{N}\p{P}]*"
    assert matches(description, "Größe der Bäume, 0…9 + ½")
    assert not matches(description, "line one\nline two")
    assert not matches(description, "bell \x07")


def test_objective_metrics_become_tuning_objectives() -> None:
    params = json.loads(spec("-a", "xgboost", "--training-image", IMAGE).stdout)
    objectives = params["TrainingSpecification"]["SupportedTuningJobObjectiveMetrics"]
    assert {"Type": "Maximize", "MetricName": "validation:auc"} in objectives
    assert all(o["MetricName"].startswith("validation:") for o in objectives)
