"""Every environment variable algoport reads, parsed once into one frozen :class:`Settings`.

The ``train`` and ``serve`` entry points build the settings from the environment and pass
them down; nothing below them reads ``os.environ``. A bad value is a platform error that
names the variable, the value and what is allowed. Plugins that read variables of their
own declare them with :class:`Variable` and get the same parsing and errors.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from algoport.errors import PlatformError
from algoport.memory import default_model_memory_bytes

T = TypeVar("T")
MB = 1024 * 1024
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")


class _Rejected(ValueError):
    """A raw value does not parse; the variable's ``allowed`` text says what would."""


def _within(value: T, low: float, high: float | None, raw: str) -> T:
    if not low <= value or (high is not None and not value <= high):  # type: ignore[operator]
        raise _Rejected(raw)  # also refuses nan
    return value


def _bounds(low: float, high: float | None) -> str:
    return f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"


@dataclass(frozen=True)
class Variable(Generic[T]):
    """One environment variable: its name, how its text becomes a value, its default.

    An unset or blank variable takes ``default``; anything else must parse, or reading it
    raises :class:`algoport.PlatformError` naming the variable, its value and ``allowed``.
    """

    name: str
    parse: Callable[[str], T]
    default: T
    allowed: str
    help: str = ""
    # How the README shows the default, when its value alone would not say it.
    shown_default: str | None = None

    def is_set(self, environ: Mapping[str, str]) -> bool:
        return bool(environ.get(self.name, "").strip())

    def read(self, environ: Mapping[str, str]) -> T:
        raw = environ.get(self.name, "").strip()
        if not raw:
            return self.default
        try:
            return self.parse(raw)
        except ValueError:
            raise PlatformError(
                f"{self.name} is {raw!r}; expected {self.allowed}. Fix or unset it."
            ) from None

    @staticmethod
    def integer(
        name: str,
        default: int,
        low: int,
        high: int | None = None,
        help: str = "",
        shown_default: str | None = None,
    ) -> Variable[int]:
        """An integer variable within [low, high] (no upper bound when ``high`` is None)."""
        return Variable(
            name,
            lambda raw: _within(int(raw), low, high, raw),
            default,
            f"an integer {_bounds(low, high)}",
            help,
            shown_default,
        )

    @staticmethod
    def number(
        name: str, default: float, low: float, high: float | None = None, help: str = ""
    ) -> Variable[float]:
        """A number variable within [low, high] (no upper bound when ``high`` is None)."""
        return Variable(
            name,
            lambda raw: _within(float(raw), low, high, raw),
            default,
            f"a number {_bounds(low, high)}",
            help,
        )


def _text(raw: str) -> str:
    return raw


def _optional_text(raw: str) -> str | None:
    return raw


def _path(raw: str) -> Path:
    return Path(raw)


def _optional_path(raw: str) -> Path | None:
    return Path(raw)


def _boolean(raw: str) -> bool:
    text = raw.lower()
    if text not in ("true", "false"):
        raise _Rejected(raw)
    return text == "true"


def _batch_strategy(raw: str) -> str:
    text = raw.upper()
    if text not in BATCH_STRATEGIES:
        raise _Rejected(raw)
    return text


def _log_level(raw: str) -> int:
    """SageMaker passes a number (20); some tools pass a name (INFO)."""
    if raw.isdigit():
        return int(raw)
    level = logging.getLevelName(raw.upper())
    if not isinstance(level, int):
        raise _Rejected(raw)
    return level


# The decoded-size limit's default, per MB of payload limit: every built-in dense form
# decodes into at most 8 bytes per body byte (CSV "0,", int32 varints), so 16 leaves room.
DECODED_PER_PAYLOAD = 16
# What SageMaker sends without SAGEMAKER_MAX_PAYLOAD_IN_MB: up to 1 GB to an asynchronous
# endpoint, up to 6 MB to a real-time one (and a batch transform's default MaxPayloadInMB).
ASYNC_PAYLOAD_MB = 1024
REALTIME_PAYLOAD_MB = 6

VARIABLES: dict[str, Variable[Any]] = {
    "base_dir": Variable(
        "SAGEMAKER_BASE_DIR",
        _path,
        Path("/opt/ml"),
        "a directory",
        "moves `/opt/ml` (local runs and tests)",
    ),
    "algorithm": Variable(
        "ALGOPORT_ALGORITHM",
        _optional_text,
        None,
        "an installed algorithm's name",
        "the algorithm to run; else the model's manifest (serving), else the only one installed",
    ),
    "job_name": Variable(
        "TRAINING_JOB_NAME",
        _text,
        "local-training-job",
        "a name",
        "the training job's name, set by SageMaker; shown in the log",
    ),
    "log_level": Variable(
        "SAGEMAKER_CONTAINER_LOG_LEVEL",
        _log_level,
        logging.INFO,
        "a logging level, as a number (20) or a name (INFO)",
        "log level",
        shown_default="20 (INFO)",
    ),
    "stop_grace_seconds": Variable.number(
        "ALGOPORT_STOP_GRACE_SECONDS",
        110.0,
        0,
        3600,
        "seconds `train` waits after SIGTERM for the algorithm to stop before it writes a "
        "failure reason and exits (SageMaker sends SIGKILL after 120)",
    ),
    "pipe_wait_seconds": Variable.number(
        "ALGOPORT_PIPE_WAIT_SECONDS",
        600.0,
        0,
        86400,
        "seconds to wait for a Pipe-mode FIFO to appear",
    ),
    "bind_host": Variable("ALGOPORT_BIND_HOST", _text, "0.0.0.0", "an address", "serving address"),
    "port": Variable.integer("SAGEMAKER_BIND_TO_PORT", 8080, 0, 65535, "serving port"),
    "workers": Variable.integer(
        "SAGEMAKER_MODEL_SERVER_WORKERS",
        1,  # unset: DERIVED_DEFAULTS
        1,
        512,
        "serving processes",
        shown_default="one per CPU",
    ),
    "timeout_seconds": Variable.integer(
        "SAGEMAKER_MODEL_SERVER_TIMEOUT",
        # An hour, so an asynchronous inference request can finish; a real-time endpoint's
        # front end gives up after 60 s on its own.
        3600,
        1,
        3600,
        "seconds a prediction (of a streamed request: of each chunk) may take before a 504; "
        "a worker whose prediction threads are all still busy a timeout after that exits, "
        "to be replaced",
    ),
    "max_payload_mb": Variable(
        "SAGEMAKER_MAX_PAYLOAD_IN_MB",
        lambda raw: _within(int(raw), 1, 100, raw),
        None,
        "an integer from 1 to 100 (batch transform's MaxPayloadInMB)",
        "request size limit, 413 above it; `/execution-parameters` reports it (unset: "
        f"{REALTIME_PAYLOAD_MB}, batch transform's default)",
        shown_default=f"unset: {ASYNC_PAYLOAD_MB} MB, asynchronous inference's limit",
    ),
    "body_timeout_seconds": Variable.number(
        "ALGOPORT_BODY_TIMEOUT_SECONDS",
        30.0,
        0.1,
        3600,
        "seconds a client may take to send a request body, or each chunk of a streamed "
        "one, before a 408 and a closed connection (a slow sender holds a connection no "
        "longer)",
    ),
    "max_decoded_mb": Variable.integer(
        "ALGOPORT_MAX_DECODED_MB",
        DECODED_PER_PAYLOAD * REALTIME_PAYLOAD_MB,  # unset: DERIVED_DEFAULTS
        1,
        100_000,
        "largest array a request body (of a streamed request: each chunk) may decode into "
        "(declared shapes, sparse records made dense), 413 above it",
        shown_default=f"{DECODED_PER_PAYLOAD} × `SAGEMAKER_MAX_PAYLOAD_IN_MB`, unset: "
        f"{DECODED_PER_PAYLOAD * REALTIME_PAYLOAD_MB}",
    ),
    "stream_chunk_mb": Variable.integer(
        "ALGOPORT_STREAM_CHUNK_MB",
        REALTIME_PAYLOAD_MB,
        0,
        1024,
        "a line-based or RecordIO request larger than this, to an algorithm with "
        "independent rows, is read, predicted and answered this many MB at a time "
        "(0 = never)",
    ),
    "default_accept": Variable(
        "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT",
        _optional_text,
        None,
        "a media type",
        "response type when `Accept` is missing or `*/*`; one the algorithm produces, or "
        "serving stops at start-up",
    ),
    "batch": Variable(
        "SAGEMAKER_BATCH", _boolean, False, "true or false", "set by batch transform"
    ),
    "batch_strategy": Variable(
        "SAGEMAKER_BATCH_STRATEGY",
        _batch_strategy,
        "MULTI_RECORD",
        " or ".join(BATCH_STRATEGIES),
        "batch transform's strategy, reported by `/execution-parameters`",
    ),
    "max_concurrent_transforms": Variable.integer(
        "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS",
        1,  # unset: DERIVED_DEFAULTS
        1,
        256,
        "batch transform's parallel requests, reported by `/execution-parameters`",
        shown_default="the number of workers",
    ),
    "predict_threads": Variable.integer(
        "ALGOPORT_PREDICT_THREADS",
        # One, so CPU-bound requests are served in arrival order instead of sharing the
        # GIL, which doubles tail latency under load; workers give parallelism.
        1,
        1,
        1024,
        "prediction threads per worker (1: CPU-bound requests queue in order; raise it "
        "for predictions that wait on I/O)",
    ),
    "inline_predict_ms": Variable.number(
        "ALGOPORT_INLINE_PREDICT_MS",
        2.0,
        0.0,
        100.0,
        "requests whose decode-predict-encode takes less run on the event loop, skipping "
        "the thread hand-off (0 = never)",
    ),
    "multi_model": Variable(
        "SAGEMAKER_MULTI_MODEL",
        _boolean,
        False,
        "true or false",
        "set by a multi-model endpoint: `serve` starts with no model and answers `/models`",
    ),
    "model_memory_mb": Variable.integer(
        "ALGOPORT_MODEL_MEMORY_MB",
        1024,  # unset: DERIVED_DEFAULTS
        1,
        100_000_000,
        "memory the models of a multi-model endpoint may take, all workers together; past "
        "it the least recently used are unloaded, and a model that cannot fit is a 507",
        shown_default="¾ of the container's memory limit (cgroup), else of the RAM",
    ),
    "model_archives": Variable(
        "ALGOPORT_MODEL_ARCHIVES",
        _optional_path,
        None,
        "a directory",
        "a multi-model endpoint's `*.tar.gz` models (as its S3 prefix holds them), loaded on "
        "the first invoke naming one (set by `algoport local serve --multi-model`)",
    ),
    "native_threads": Variable.integer(
        "ALGOPORT_NATIVE_THREADS",
        1,  # unset: DERIVED_DEFAULTS
        0,
        1024,
        "BLAS and OpenMP threads per serving worker (numpy, scikit-learn, XGBoost…), set "
        "through `OMP_NUM_THREADS`, `OPENBLAS_NUM_THREADS` and `MKL_NUM_THREADS`; 0 leaves "
        "them to the libraries",
        shown_default="CPUs ÷ workers, at least 1",
    ),
    "max_batch_size": Variable.integer(
        "ALGOPORT_MAX_BATCH_SIZE",
        # On: a batch never waits (delay 0), so a lone request pays only the hand-over to
        # the batch (10-30 µs of CPU); under load, requests that wait share one call.
        32,
        1,
        1024,
        "most requests predicted in one call when the algorithm declares independent rows "
        "(adaptive batching; 1 = off)",
    ),
    "max_batch_delay_ms": Variable.number(
        "ALGOPORT_MAX_BATCH_DELAY_MS",
        0.0,
        0.0,
        1000.0,
        "milliseconds a batch waits for more requests before it is predicted (0: only "
        "requests already waiting join it)",
    ),
}


def usable_cpus() -> int:
    """The CPUs this process may run on: fewer than the machine has under ``taskset`` or a
    container's cpuset."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Defaults that depend on the machine or on other settings, filled in this order when the
# variable is unset (README shows them through ``shown_default``).
DERIVED_DEFAULTS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "workers": lambda values: usable_cpus(),
    # Unset, the whole-body limit stays that of a real-time request: a 1 GB body is already
    # in memory, and a streamed request decodes one chunk at a time.
    "max_decoded_mb": lambda values: (
        DECODED_PER_PAYLOAD * (values["max_payload_mb"] or REALTIME_PAYLOAD_MB)
    ),
    "max_concurrent_transforms": lambda values: values["workers"],
    "model_memory_mb": lambda values: default_model_memory_bytes() // MB,
    "native_threads": lambda values: max(1, usable_cpus() // values["workers"]),
}


@dataclass(frozen=True)
class Settings:
    """algoport's settings for one process; :data:`VARIABLES` says where each comes from."""

    base_dir: Path
    algorithm: str | None
    job_name: str
    log_level: int
    stop_grace_seconds: float
    pipe_wait_seconds: float
    bind_host: str
    port: int
    workers: int
    timeout_seconds: int
    max_payload_mb: int | None
    body_timeout_seconds: float
    max_decoded_mb: int
    stream_chunk_mb: int
    default_accept: str | None
    batch: bool
    batch_strategy: str
    max_concurrent_transforms: int
    predict_threads: int
    inline_predict_ms: float
    multi_model: bool
    model_memory_mb: int
    model_archives: Path | None
    native_threads: int
    max_batch_size: int
    max_batch_delay_ms: float
    # Not a variable: SageMaker gives an endpoint 30 s between SIGTERM and SIGKILL.
    graceful_seconds: float = 25.0

    @property
    def payload_limit_mb(self) -> int:
        """``SAGEMAKER_MAX_PAYLOAD_IN_MB`` when set, else what asynchronous inference sends."""
        return self.max_payload_mb or ASYNC_PAYLOAD_MB

    @property
    def max_payload_bytes(self) -> int:
        return self.payload_limit_mb * MB

    @property
    def stream_chunk_bytes(self) -> int:
        return self.stream_chunk_mb * MB

    @property
    def model_memory_bytes(self) -> int:
        return self.model_memory_mb * MB

    @property
    def max_decoded_bytes(self) -> int:
        return self.max_decoded_mb * MB

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Parse every variable; the first bad one raises a PlatformError naming it."""
        env = os.environ if environ is None else environ
        values = {field: variable.read(env) for field, variable in VARIABLES.items()}
        for field, derive in DERIVED_DEFAULTS.items():
            if not VARIABLES[field].is_set(env):
                values[field] = derive(values)
        return cls(**values)


def base_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Only ``SAGEMAKER_BASE_DIR``: where to write a failure when the rest does not parse."""
    value: Path = VARIABLES["base_dir"].read(os.environ if environ is None else environ)
    return value


def variables_markdown() -> str:
    """The README's table of variables, generated from :data:`VARIABLES`."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for variable in VARIABLES.values():
        shown = variable.shown_default
        if shown is None:
            shown = "unset" if variable.default is None else f"`{_shown(variable.default)}`"
        rows.append(f"| `{variable.name}` | {variable.help} | {shown} |")
    return "\n".join(rows) + "\n"


def _shown(value: object) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
