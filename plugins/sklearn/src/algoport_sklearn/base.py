"""What every algoport-sklearn algorithm shares: its reply types, loading, and training on
the master host only. A subclass declares the rest and says how to ``train``."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

from algoport import Capabilities, ContentTypes, Metric, TrainingJob, hookimpl
from algoport_sklearn.persistence import TrainedModel, load_model
from algoport_sklearn.serving import CONTENT_TYPES

log = logging.getLogger(__name__)


class SklearnAlgorithm:
    """One algorithm: its hooks are methods of one plugin object (see algoport.hookspecs)."""

    name: ClassVar[str]
    declared_metrics: ClassVar[list[Metric]]
    # Types in the saved model beyond skops's defaults (builtins, numpy, scikit-learn estimators).
    trusted_types: ClassVar[Sequence[str]] = ()

    def train(self, job: TrainingJob) -> None:
        """Fit the estimator on the job's data and save the model: the master host's part."""
        raise NotImplementedError

    @hookimpl
    def metrics(self) -> list[Metric]:
        return self.declared_metrics

    @hookimpl
    def content_types(self) -> ContentTypes:
        return CONTENT_TYPES

    @hookimpl
    def capabilities(self) -> Capabilities:
        return Capabilities(independent_rows=True)

    @hookimpl
    def fit(self, job: TrainingJob) -> None:
        if not job.is_master:
            # Every host would fit the same model on the same data; only the master's is kept.
            log.info(
                "host %s is not the master host; it does not train", job.resources.current_host
            )
            return
        self.train(job)

    @hookimpl
    def load(self, model_dir: Path) -> TrainedModel:
        return load_model(model_dir, self.name, self.trusted_types)
