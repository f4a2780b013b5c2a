"""Per-round XGBoost callbacks: metric lines, early stopping that survives a restart, and
stopping on SIGTERM with a checkpoint.

``xgboost.train`` numbers the rounds of a resumed job from 0 again; each callback here is
given the rounds already done, so steps and checkpoints count from the first round ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import xgboost as xgb

from algoport_xgboost.checkpoints import Checkpointer
from algoport_xgboost.peers import Peers

MetricSink = Callable[[str, float, int], None]


class LogMetrics(xgb.callback.TrainingCallback):
    """Logs ``<data set>:<metric>`` (``validation:auc``) after every round, step = round."""

    def __init__(self, sink: MetricSink, rounds_before: int = 0) -> None:
        super().__init__()
        self.sink = sink
        self.rounds_before = rounds_before

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        for data_name, metrics in evals_log.items():
            for metric_name, history in metrics.items():
                latest = history[-1]
                # With cross-validation XGBoost logs (mean, std); the mean is the metric.
                value = latest[0] if isinstance(latest, tuple) else latest
                self.sink(f"{data_name}:{metric_name}", float(value), self.rounds_before + epoch)
        return False


class ResumableEarlyStopping(xgb.callback.EarlyStopping):
    """XGBoost's early stopping, which also picks up where a checkpointed booster left off.

    The booster carries ``best_iteration`` and ``best_score``; with them the rounds since
    the best one are counted as if training had never stopped.
    """

    def __init__(self, *, rounds_before: int = 0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rounds_before = rounds_before
        self.best_before: tuple[int, float] | None = None

    def before_training(self, model: Any) -> Any:
        model = super().before_training(model)
        best_iteration, best_score = model.attr("best_iteration"), model.attr("best_score")
        if self.rounds_before and best_iteration is not None and best_score is not None:
            self.best_before = (int(best_iteration), float(best_score))
        return model

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        if self.best_before is not None and not self.stopping_history:
            data_name = self.data or list(evals_log)[-1]
            metric_name = self.metric_name or list(evals_log[data_name])[-1]
            best_iteration, best_score = self.best_before
            self.stopping_history = {data_name: {metric_name: [best_score]}}
            self.best_scores = {data_name: {metric_name: [best_score]}}
            self.current_rounds = self.rounds_before - 1 - best_iteration
        stop: bool = super().after_iteration(model, epoch, evals_log)
        return stop


class StopAndCheckpoint(xgb.callback.TrainingCallback):
    """Checkpoints as due, and ends boosting after the round in which a stop was requested.

    With several hosts the stop is agreed each round, so all hosts end after the same round
    even when SIGTERM reaches them at different times. Placed after early stopping, so the
    checkpoint holds that round's best-iteration record.
    """

    def __init__(
        self,
        stop_requested: threading.Event,
        peers: Peers,
        checkpointer: Checkpointer,
        rounds_before: int = 0,
    ) -> None:
        super().__init__()
        self.stop_requested = stop_requested
        self.peers = peers
        self.checkpointer = checkpointer
        self.rounds_before = rounds_before
        self.rounds_done = rounds_before
        self.stopped = False

    def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, Any]) -> bool:
        self.rounds_done = self.rounds_before + epoch + 1
        self.stopped = self.peers.any(self.stop_requested.is_set())
        if self.stopped:
            # A host the signal missed stops as well, and the core must know it stopped.
            self.stop_requested.set()
        self.checkpointer.after_round(model, self.rounds_done, stopping=self.stopped)
        return self.stopped
