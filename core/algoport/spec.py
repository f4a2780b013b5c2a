"""``algoport spec``: the CreateAlgorithm request built from an algorithm's declarations.

Hyperparameters, channels, metrics and content types come from the plugin's hooks, through
the :class:`~algoport.plugins.Algorithm` facade; images, instance types and validation
inputs from the seller. The request is checked against botocore's service model before it
is printed, so a limit it breaks is named here rather than by the API.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from algoport.channels import ChannelSpec
from algoport.errors import UserError
from algoport.hyperparameters import (
    Boolean,
    Categorical,
    Float,
    HyperParameter,
    Integer,
)
from algoport.metrics import Metric
from algoport.plugins import Algorithm
from algoport.service_model import check_request

OPERATION = "CreateAlgorithm"
DESCRIPTION_LIMIT = 1024
DEFAULT_INSTANCE_TYPE = "ml.m5.xlarge"
PROFILE_NAME = "validation"
VALIDATION_MAX_RUNTIME_SECONDS = 3600


@dataclass(frozen=True)
class ValidationInputs:
    """What the one validation profile runs on: a training job, then a batch transform."""

    role: str
    train: str
    transform_input: str
    output: str
    hyperparameters: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SpecOptions:
    """The seller's side of the request: what no plugin can declare."""

    training_image: str
    name: str | None = None
    inference_image: str | None = None
    training_image_digest: str | None = None
    inference_image_digest: str | None = None
    training_instance_types: Sequence[str] = (DEFAULT_INSTANCE_TYPE,)
    inference_instance_types: Sequence[str] = (DEFAULT_INSTANCE_TYPE,)
    transform_instance_types: Sequence[str] = (DEFAULT_INSTANCE_TYPE,)
    validation: ValidationInputs | None = None


def validation_inputs(
    role: str | None,
    train: str | None,
    transform_input: str | None,
    output: str | None,
    hyperparameters: Mapping[str, str],
) -> ValidationInputs | None:
    """The validation profile's inputs: all four, or none (and no hyperparameters)."""
    flags = {
        "--validation-role": role,
        "--validation-train": train,
        "--validation-transform-input": transform_input,
        "--validation-output": output,
    }
    if not any(flags.values()) and not hyperparameters:
        return None
    missing = [flag for flag, value in flags.items() if not value]
    if missing or role is None or train is None or transform_input is None or output is None:
        raise UserError(
            f"The validation profile lacks {', '.join(missing)}; give all four validation "
            "options, or none for a request without ValidationSpecification."
        )
    return ValidationInputs(role, train, transform_input, output, dict(hyperparameters))


def create_algorithm_request(algorithm: Algorithm, options: SpecOptions) -> dict[str, Any]:
    """The CreateAlgorithm parameters, checked against botocore's service model."""
    formats = algorithm.formats()
    channels = algorithm.channels
    if not channels:
        raise UserError(
            f"Algorithm {algorithm.name!r} declares no training channels; CreateAlgorithm "
            "needs 1 to 8. Implement its channels hook (see algoport.hookspecs)."
        )
    training: dict[str, Any] = {"TrainingImage": options.training_image}
    if options.training_image_digest:
        training["TrainingImageDigest"] = options.training_image_digest
    training |= {
        "SupportedHyperParameters": [
            hyperparameter_specification(spec)
            for spec in algorithm.hyperparameters.declared.values()
        ],
        "SupportedTrainingInstanceTypes": list(options.training_instance_types),
        "SupportsDistributedTraining": algorithm.capabilities.distributed_training,
        "MetricDefinitions": [
            {"Name": metric.name, "Regex": metric.regex} for metric in algorithm.metrics
        ],
        "TrainingChannels": [channel_specification(spec) for spec in channels],
        "SupportedTuningJobObjectiveMetrics": objectives(algorithm.metrics),
    }
    container = {"Image": options.inference_image or options.training_image}
    if options.inference_image_digest:
        container["ImageDigest"] = options.inference_image_digest
    params: dict[str, Any] = {
        "AlgorithmName": options.name or valid_name(algorithm.name),
        "TrainingSpecification": training,
        "InferenceSpecification": {
            "Containers": [container],
            "SupportedTransformInstanceTypes": list(options.transform_instance_types),
            "SupportedRealtimeInferenceInstanceTypes": list(options.inference_instance_types),
            "SupportedContentTypes": list(formats.accepts),
            "SupportedResponseMIMETypes": list(formats.produces),
        },
    }
    if options.validation is not None:
        algorithm.hyperparameters.coerce(options.validation.hyperparameters)
        content_type = formats.accepts[0] if formats.accepts else None
        transform_format = formats.get(content_type) if content_type else None
        params["ValidationSpecification"] = validation_specification(
            options,
            options.validation,
            channels,
            content_type,
            split_lines=transform_format is not None and transform_format.line_based,
        )
    check_request(OPERATION, params)
    check_defaults_not_required(params)
    return params


def valid_name(name: str) -> str:
    """An AlgorithmName from the algorithm's: letters and digits joined by hyphens, ≤63."""
    return re.sub(r"[^A-Za-z0-9]+", "-", name).strip("-")[:63].rstrip("-")


def sagemaker_string(value: Any) -> str:
    """A value as SageMaker passes hyperparameters, and as the core reads them back."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)
    if isinstance(value, list | tuple):
        return ",".join(sagemaker_string(item) for item in value)
    return str(value)


def hyperparameter_specification(spec: HyperParameter) -> dict[str, Any]:
    """One SupportedHyperParameters entry. Aliases are left out: tuning uses the names."""
    entry: dict[str, Any] = {"Name": spec.name, "Type": _parameter_type(spec)}
    if spec.description:
        entry["Description"] = _description(spec.description)
    value_range = _parameter_range(spec)
    if value_range is not None:
        entry["Range"] = value_range
    entry["IsTunable"] = spec.tunable
    entry["IsRequired"] = spec.required
    if spec.default is not None:
        entry["DefaultValue"] = sagemaker_string(spec.default)
    return entry


def _parameter_type(spec: HyperParameter) -> str:
    if isinstance(spec, Integer):
        return "Integer"
    if isinstance(spec, Float):
        return "Continuous"
    if isinstance(spec, Categorical | Boolean):
        return "Categorical"
    return "FreeText"  # String, List and any other free-form value


def _parameter_range(spec: HyperParameter) -> dict[str, Any] | None:
    """The range SageMaker checks values and tuning ranges against; None when unbounded.

    The API needs both bounds, so a side without one leaves the range out. An open integer
    bound becomes the next integer in; an open float bound stays as declared (the core
    still refuses the bound itself).
    """
    if isinstance(spec, Categorical):
        return {"CategoricalParameterRangeSpecification": {"Values": list(spec.choices)}}
    if isinstance(spec, Boolean):
        return {"CategoricalParameterRangeSpecification": {"Values": ["true", "false"]}}
    if not isinstance(spec, Integer | Float) or spec.min is None or spec.max is None:
        return None
    if isinstance(spec, Integer):
        low = math.floor(spec.min) + 1 if spec.min_open else math.ceil(spec.min)
        high = math.ceil(spec.max) - 1 if spec.max_open else math.floor(spec.max)
        bounds = {"MinValue": str(low), "MaxValue": str(high)}
        return {"IntegerParameterRangeSpecification": bounds}
    bounds = {
        "MinValue": sagemaker_string(float(spec.min)),
        "MaxValue": sagemaker_string(float(spec.max)),
    }
    return {"ContinuousParameterRangeSpecification": bounds}


def channel_specification(spec: ChannelSpec) -> dict[str, Any]:
    """One TrainingChannels entry.

    FastFile is offered wherever File is (the container sees the same files). Gzip is
    offered for Pipe mode only: SageMaker inflates nothing in File mode and the core
    inflates gzip in the pipe.
    """
    modes = list(spec.input_modes)
    if "File" in modes and "FastFile" not in modes:
        modes.append("FastFile")
    entry: dict[str, Any] = {"Name": spec.name}
    if spec.description:
        entry["Description"] = _description(spec.description)
    return entry | {
        "IsRequired": spec.required,
        "SupportedContentTypes": channel_content_types(spec),
        "SupportedCompressionTypes": ["None", "Gzip"] if "Pipe" in modes else ["None"],
        "SupportedInputModes": modes,
    }


def channel_content_types(spec: ChannelSpec) -> list[str]:
    """Each declared type bare (what a job names) and, when it has parameters, as declared."""
    listed: list[str] = []
    for declared in spec.content_types:
        for text in (declared.split(";")[0].strip(), declared):
            if text not in listed:
                listed.append(text)
    return listed


def objectives(metrics: Sequence[Metric]) -> list[dict[str, str]]:
    return [
        {"Type": metric.objective, "MetricName": metric.name}
        for metric in metrics
        if metric.objective is not None
    ]


def validation_specification(
    options: SpecOptions,
    inputs: ValidationInputs,
    channels: Sequence[ChannelSpec],
    content_type: str | None,
    *,
    split_lines: bool,
) -> dict[str, Any]:
    """One profile: a training job on the first required (else first) channel, then a
    batch transform of the model it trains, as Marketplace validation runs them."""
    channel = next((spec for spec in channels if spec.required), channels[0])
    mode = "File" if channel.supports_mode("File") else channel.input_modes[0]
    output = inputs.output.rstrip("/")
    training_job = {
        "TrainingInputMode": mode,
        "HyperParameters": dict(inputs.hyperparameters),
        "InputDataConfig": [
            {
                "ChannelName": channel.name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": inputs.train,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": channel.content_types[0],
                "InputMode": mode,
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"{output}/training"},
        "ResourceConfig": {
            "InstanceType": options.training_instance_types[0],
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": VALIDATION_MAX_RUNTIME_SECONDS},
    }
    transform_input: dict[str, Any] = {
        "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": inputs.transform_input}},
        "SplitType": "Line" if split_lines else "None",
    }
    if content_type is not None:
        transform_input["ContentType"] = content_type
    transform_job = {
        "TransformInput": transform_input,
        "TransformOutput": {"S3OutputPath": f"{output}/transform"},
        "TransformResources": {
            "InstanceType": options.transform_instance_types[0],
            "InstanceCount": 1,
        },
        "BatchStrategy": "MultiRecord",
    }
    return {
        "ValidationRole": inputs.role,
        "ValidationProfiles": [
            {
                "ProfileName": PROFILE_NAME,
                "TrainingJobDefinition": training_job,
                "TransformJobDefinition": transform_job,
            }
        ],
    }


def _description(text: str) -> str:
    if len(text) <= DESCRIPTION_LIMIT:
        return text
    return text[: DESCRIPTION_LIMIT - 1] + "…"


def check_defaults_not_required(params: Mapping[str, Any]) -> None:
    """The API's documented rule the service model cannot state."""
    for entry in params["TrainingSpecification"]["SupportedHyperParameters"]:
        if entry["IsRequired"] and "DefaultValue" in entry:
            raise UserError(
                f"TrainingSpecification.SupportedHyperParameters[{entry['Name']!r}]: required "
                "and with a DefaultValue; the API allows a default only on a parameter that "
                "is not required."
            )


def render(params: Mapping[str, Any], output_format: str) -> str:
    """The request as JSON, or as a ready-to-run boto3 call."""
    if output_format == "json":
        return json.dumps(params, indent=2, ensure_ascii=False)
    return (
        "import boto3\n\n"
        'response = boto3.client("sagemaker").create_algorithm(\n'
        f"    **{python_literal(params, 1)}\n"
        ")\n"
        'print(response["AlgorithmArn"])\n'
    )


def python_literal(value: Any, depth: int) -> str:
    """A JSON-like value as indented Python source."""
    inner = "    " * (depth + 1)
    if isinstance(value, Mapping) and value:
        items = [f"{inner}{k!r}: {python_literal(v, depth + 1)}," for k, v in value.items()]
        return "{\n" + "\n".join(items) + "\n" + "    " * depth + "}"
    if isinstance(value, list) and value:
        items = [f"{inner}{python_literal(v, depth + 1)}," for v in value]
        return "[\n" + "\n".join(items) + "\n" + "    " * depth + "]"
    return repr(value)
