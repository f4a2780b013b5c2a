"""``GET /metrics``: what each model costs, in Prometheus text, summed over the workers.

With several workers, each a process, the metrics go through prometheus-client's
multi-process mode: every worker writes its values to files in one directory, which
``serve`` creates empty and names in ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts
(the library reads it when imported, hence the imports inside functions here), and any
worker sums them on a scrape. A lone worker keeps them in memory, where an observation
costs a third as much. SageMaker's CloudWatch metrics have no per-model split; these do.

Single-model endpoints label their model ``""``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MULTIPROCESS_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
PHASES = ("decode", "predict", "encode")
# Seconds: from a tiny linear prediction (~50 µs) to the 60 s invocation limit.
LATENCY_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                   0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)  # fmt: skip
LOAD_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 360.0)


def share_between_workers(directory: Path) -> None:
    """Have this process and the workers it starts keep their metrics in ``directory``."""
    os.environ[MULTIPROCESS_VARIABLE] = str(directory)


def worker_exited(pid: int) -> None:
    """Drop a dead worker's share of the live gauges (models loaded, memory in use)."""
    if os.environ.get(MULTIPROCESS_VARIABLE):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


class ServingMetrics:
    """One worker's metrics; :meth:`exposition` answers a scrape for all workers."""

    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

        self.registry = CollectorRegistry()
        shared = bool(os.environ.get(MULTIPROCESS_VARIABLE))
        if shared:
            multiprocess.MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        into = None if shared else self.registry
        self.requests = Counter(
            "algoport_requests",
            "Invocations answered, by model, algorithm and status class (2xx, 4xx, 5xx).",
            ["model", "algorithm", "status"],
            registry=into,
        )
        self.phases = Histogram(
            "algoport_request_phase_seconds",
            "Time an invocation spent decoding the body, predicting, and encoding the answer.",
            ["model", "algorithm", "phase"],
            buckets=LATENCY_BUCKETS,
            registry=into,
        )
        self.loads = Histogram(
            "algoport_model_load_seconds",
            "Time a worker took to load a model.",
            ["algorithm"],
            buckets=LOAD_BUCKETS,
            registry=into,
        )
        self.unloads = Histogram(
            "algoport_model_unload_seconds",
            "Time a worker took to unload a model (deleted, or least recently used).",
            ["algorithm"],
            buckets=LOAD_BUCKETS,
            registry=into,
        )
        self.loaded = Gauge(
            "algoport_loaded_models",
            "Models held in memory, counted once per worker holding one.",
            multiprocess_mode="livesum",
            registry=into,
        )
        self.memory = Gauge(
            "algoport_model_memory_bytes",
            "Memory the models held take, summed over the workers.",
            multiprocess_mode="livesum",
            registry=into,
        )
        self.budget = Gauge(
            "algoport_model_memory_budget_bytes",
            "Memory the models may take (ALGOPORT_MODEL_MEMORY_MB), summed over the workers.",
            multiprocess_mode="livesum",
            registry=into,
        )

    def model(self, name: str, algorithm: str) -> ModelMetrics:
        return ModelMetrics(self, name, algorithm)

    def exposition(self) -> tuple[bytes, str]:
        """The body and content type of a scrape."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class ModelMetrics:
    """One model's series, bound once so a request only observes."""

    def __init__(self, metrics: ServingMetrics, model: str, algorithm: str) -> None:
        self._phases: dict[str, Any] = {
            phase: metrics.phases.labels(model, algorithm, phase) for phase in PHASES
        }
        self._labels = (model, algorithm)
        self._counter = metrics.requests
        self._requests: dict[int, Any] = {}

    def observe(self, phase: str, seconds: float) -> None:
        self._phases[phase].observe(seconds)

    def count(self, status: int) -> None:
        status_class = status // 100
        child = self._requests.get(status_class)
        if child is None:  # bound once per class: labels() takes a lock and builds a key
            child = self._counter.labels(*self._labels, f"{status_class}xx")
            self._requests[status_class] = child
        child.inc()
