"""Per-round XGBoost callbacks: metric lines for SageMaker, and stopping on SIGTERM."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import xgboost as xgb

MetricSink = Callable[[str, float, int], None]


class LogMetrics(xgb.callback.TrainingCallback):
    """Logs ``<data set>:<metric>`` (``validation:auc``) after every round, step = round."""

    def __init__(self, sink: MetricSink) -> None:
        super().__init__()
        self.sink = sink

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        for data_name, metrics in evals_log.items():
            for metric_name, history in metrics.items():
                latest = history[-1]
                # With cross-validation XGBoost logs (mean, std); the mean is the metric.
                value = latest[0] if isinstance(latest, tuple) else latest
                self.sink(f"{data_name}:{metric_name}", float(value), epoch)
        return False


class StopWhenRequested(xgb.callback.TrainingCallback):
    """Ends boosting after the current round once SageMaker asks the job to stop."""

    def __init__(self, stop_requested: threading.Event) -> None:
        super().__init__()
        self.stop_requested = stop_requested
        self.rounds_done = 0

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        self.rounds_done = epoch + 1
        return self.stop_requested.is_set()
