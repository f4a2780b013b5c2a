"""One settings object: every variable parsed once, a bad value a platform error naming it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from algoport.errors import PlatformError
from algoport.local.processes import command
from algoport.settings import VARIABLES, Settings, variables_markdown
from algoport.testing import SageMakerTree, run_train

README = Path(__file__).resolve().parents[1] / "README.md"


def test_defaults_follow_the_platform() -> None:
    settings = Settings.from_environ({})
    assert settings.base_dir == Path("/opt/ml")
    assert settings.port == 8080
    assert settings.timeout_seconds == 3600  # an asynchronous request's hour
    assert settings.max_payload_mb is None
    assert settings.max_payload_bytes == 1024 * 1024 * 1024  # asynchronous inference's 1 GB
    assert settings.max_decoded_mb == 16 * 6  # a whole body decodes as a real-time one
    assert settings.workers >= 1
    assert settings.max_concurrent_transforms == settings.workers
    assert settings.algorithm is None
    assert settings.log_level == 20


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_workers_and_native_threads_count_the_cpus_the_process_may_use() -> None:
    # As under `taskset -c 0` or a container's cpuset: one CPU of however many there are.
    script = (
        "import os; os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}); "
        "from algoport.settings import Settings; s = Settings.from_environ({}); "
        "print(s.workers, s.native_threads)"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1", "1"]


def test_values_are_parsed_to_their_types() -> None:
    settings = Settings.from_environ(
        {
            "SAGEMAKER_MODEL_SERVER_WORKERS": "3",
            "SAGEMAKER_BATCH": "True",
            "SAGEMAKER_BATCH_STRATEGY": "single_record",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "debug",
            "ALGOPORT_INLINE_PREDICT_MS": "0",
            "ALGOPORT_ALGORITHM": "xgboost",
        }
    )
    assert settings.workers == 3
    assert settings.max_concurrent_transforms == 3
    assert settings.batch is True
    assert settings.batch_strategy == "SINGLE_RECORD"
    assert settings.log_level == 10
    assert settings.inline_predict_ms == 0.0
    assert settings.algorithm == "xgboost"


@pytest.mark.parametrize(
    ("variable", "value", "allowed"),
    [
        ("ALGOPORT_STOP_GRACE_SECONDS", "abc", "a number from 0 to 3600"),
        ("ALGOPORT_PIPE_WAIT_SECONDS", "nan", "a number from 0 to 86400"),
        ("SAGEMAKER_MODEL_SERVER_WORKERS", "0", "an integer from 1 to 512"),
        ("SAGEMAKER_BIND_TO_PORT", "80.5", "an integer from 0 to 65535"),
        ("SAGEMAKER_MAX_PAYLOAD_IN_MB", "101", "an integer from 1 to 100"),
        ("SAGEMAKER_BATCH", "yes", "true or false"),
        ("SAGEMAKER_BATCH_STRATEGY", "ALL", "MULTI_RECORD or SINGLE_RECORD"),
        ("SAGEMAKER_CONTAINER_LOG_LEVEL", "LOUD", "a logging level"),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(
    variable: str, value: str, allowed: str
) -> None:
    with pytest.raises(PlatformError) as raised:
        Settings.from_environ({variable: value})
    assert str(raised.value).startswith(f"{variable} is {value!r}; expected {allowed}")


def test_blank_means_unset() -> None:
    assert Settings.from_environ({"SAGEMAKER_BIND_TO_PORT": " "}).port == 8080


def test_the_readme_table_is_generated_from_the_settings() -> None:
    text = README.read_text(encoding="utf-8")
    found = re.search(r"<!-- settings -->\n(.*?)<!-- /settings -->", text, re.S)
    assert found, "README.md lacks the <!-- settings --> … <!-- /settings --> table"
    assert found.group(1) == variables_markdown(), (
        "README.md's variable table is out of date; replace it with:\n" + variables_markdown()
    )


def test_every_settings_field_but_the_fixed_ones_has_a_variable() -> None:
    fixed = {"graceful_seconds"}
    assert set(Settings.__dataclass_fields__) - fixed == set(VARIABLES)


@pytest.mark.e2e
def test_train_with_a_bad_variable_fails_as_a_platform_error(
    sagemaker_tree: SageMakerTree,
) -> None:
    result = run_train(sagemaker_tree, "fixture-linear", ALGOPORT_STOP_GRACE_SECONDS="abc")
    assert result.returncode == 3, result.stderr
    assert result.failure == (
        "Platform error: ALGOPORT_STOP_GRACE_SECONDS is 'abc'; expected a number from 0 to "
        "3600. Fix or unset it.\n"
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("content", "problem"),
    [(b"\xff\xfe{", "is not UTF-8 text"), (b"[" * 100_000, "nested too deeply")],
)
def test_unreadable_config_is_a_platform_error(
    sagemaker_tree: SageMakerTree, content: bytes, problem: str
) -> None:
    sagemaker_tree.paths.hyperparameters_file.write_bytes(content)
    result = run_train(sagemaker_tree, "fixture-linear")
    assert result.returncode == 3, result.stderr
    assert result.failure is not None
    assert result.failure.startswith("Platform error: hyperparameters.json at ")
    assert problem in result.failure


@pytest.mark.e2e
def test_serve_with_a_bad_variable_exits_naming_it(sagemaker_tree: SageMakerTree) -> None:
    completed = subprocess.run(
        command("serve"),
        env=sagemaker_tree.env("fixture-linear", SAGEMAKER_MODEL_SERVER_TIMEOUT="soon"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 3
    assert "SAGEMAKER_MODEL_SERVER_TIMEOUT is 'soon'; expected an integer" in completed.stderr
