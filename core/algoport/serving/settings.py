"""Serving settings, read once from the environment SageMaker (or the seller) sets."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from algoport.errors import PlatformError

MB = 1024 * 1024
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")


def _number(
    env: Mapping[str, str], name: str, default: float, low: float, high: float, kind: type = float
) -> Any:
    """``env[name]`` as ``kind`` within [low, high], the default when unset, else an error."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = low - 1
    if not low <= value <= high:
        noun = "an integer" if kind is int else "a number"
        raise PlatformError(
            f"{name} is {raw!r}; expected {noun} from {low:g} to {high:g}. Fix or unset it."
        )
    return value


def _integer(env: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    value: int = _number(env, name, default, low, high, kind=int)
    return value


@dataclass(frozen=True)
class ServingSettings:
    host: str = "0.0.0.0"
    port: int = 8080
    workers: int = 1
    timeout_seconds: int = 60
    max_payload_mb: int = 6
    default_accept: str | None = None
    batch: bool = False
    batch_strategy: str = "MULTI_RECORD"
    max_concurrent_transforms: int = 1
    # One, so CPU-bound requests are served in arrival order instead of sharing the GIL,
    # which doubles tail latency under load; workers give parallelism.
    predict_threads: int = 1
    inline_predict_ms: float = 0.5
    graceful_seconds: float = 25.0

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * MB

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> ServingSettings:
        env = os.environ if environ is None else environ
        cpus = os.cpu_count() or 1
        workers = _integer(env, "SAGEMAKER_MODEL_SERVER_WORKERS", cpus, 1, 512)
        strategy = env.get("SAGEMAKER_BATCH_STRATEGY", "MULTI_RECORD").strip().upper()
        if strategy not in BATCH_STRATEGIES:
            raise PlatformError(
                f"SAGEMAKER_BATCH_STRATEGY is {strategy!r}; expected MULTI_RECORD or SINGLE_RECORD."
            )
        return cls(
            host=env.get("ALGOPORT_BIND_HOST", "0.0.0.0"),
            port=_integer(env, "SAGEMAKER_BIND_TO_PORT", 8080, 0, 65535),
            workers=workers,
            timeout_seconds=_integer(env, "SAGEMAKER_MODEL_SERVER_TIMEOUT", 60, 1, 3600),
            max_payload_mb=_integer(env, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6, 1, 100),
            default_accept=env.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT") or None,
            batch=env.get("SAGEMAKER_BATCH", "").strip().lower() == "true",
            batch_strategy=strategy,
            max_concurrent_transforms=_integer(
                env, "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS", workers, 1, 256
            ),
            predict_threads=_integer(env, "ALGOPORT_PREDICT_THREADS", 1, 1, 1024),
            inline_predict_ms=_number(env, "ALGOPORT_INLINE_PREDICT_MS", 0.5, 0.0, 100.0),
        )
