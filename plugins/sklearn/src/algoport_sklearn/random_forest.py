"""``random-forest``: scikit-learn's random forest classifier or regressor.

There is no SageMaker built-in random forest; names follow its neighbours: ``num_trees``
(Random Cut Forest), ``max_depth`` with 0 for no limit and ``seed`` (XGBoost).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from typing import Any, Final

import numpy as np
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

from algoport import TrainingJob, hp
from algoport_sklearn.data import Features
from algoport_sklearn.labels import ClassLabels, Targets
from algoport_sklearn.shared_hyperparameters import PredictorType, seed
from algoport_sklearn.supervised import SupervisedAlgorithm, warn_ignored

log = logging.getLogger(__name__)

# Trees grown between two looks at job.stop_requested.
TREES_PER_STEP: Final = 10

MAX_FEATURES: Final[dict[str, dict[str, Any]]] = {
    # "auto" is scikit-learn's own default for each kind of forest.
    "auto": {"classifier": "sqrt", "regressor": 1.0},
    "sqrt": {"classifier": "sqrt", "regressor": "sqrt"},
    "log2": {"classifier": "log2", "regressor": "log2"},
    "all": {"classifier": 1.0, "regressor": 1.0},
}


class RandomForest(SupervisedAlgorithm):
    name = "random-forest"
    trusted_types = ("sklearn.tree._tree.Tree",)
    # scikit-learn's trees learn where missing values go (scikit-learn >= 1.4).
    allows_missing_values = True
    # scikit-learn's trees compare features as float32.
    largest_value = float(np.finfo(np.float32).max)

    def own_hyperparameters(self) -> list[hp.HyperParameter]:
        return [
            hp.Integer(
                name="num_trees",
                default=100,
                min=1,
                max=10_000,
                tunable=True,
                description="Number of trees in the forest (scikit-learn n_estimators).",
            ),
            hp.Integer(
                name="max_depth",
                default=0,
                min=0,
                max=1_000,
                tunable=True,
                description="Maximum depth of a tree; 0 means no limit (as in XGBoost).",
            ),
            hp.Integer(
                name="min_samples_leaf",
                default=1,
                min=1,
                tunable=True,
                description="Minimum number of training records in a leaf.",
            ),
            hp.Categorical(
                name="max_features",
                choices=tuple(MAX_FEATURES),
                default="auto",
                tunable=True,
                description=(
                    "Features considered at each split: sqrt or log2 of the feature count, "
                    "all of them, or auto (sqrt for classifiers, all for the regressor)."
                ),
            ),
            hp.Boolean(
                name="bootstrap",
                default=True,
                description="Grow each tree on a bootstrap sample of the records.",
            ),
            hp.Categorical(
                name="class_weight",
                choices=("none", "balanced", "balanced_subsample"),
                default="none",
                description=(
                    "Classifiers only: weight classes inversely to their frequency in the "
                    "training data (balanced) or in each tree's bootstrap sample."
                ),
            ),
            seed("Seed of the random bootstrap samples and feature choices."),
        ]

    def build_estimator(
        self, predictor_type: PredictorType, hyperparameters: Mapping[str, Any], record_count: int
    ) -> RandomForestClassifier | RandomForestRegressor:
        kind = "regressor" if predictor_type == "regressor" else "classifier"
        options: dict[str, Any] = {
            "n_estimators": hyperparameters["num_trees"],
            "max_depth": hyperparameters["max_depth"] or None,
            "min_samples_leaf": hyperparameters["min_samples_leaf"],
            "max_features": MAX_FEATURES[hyperparameters["max_features"]][kind],
            "bootstrap": hyperparameters["bootstrap"],
            "random_state": hyperparameters["seed"],
        }
        class_weight = hyperparameters["class_weight"]
        if kind == "regressor":
            if class_weight != "none":
                warn_ignored("class_weight", class_weight, predictor_type)
            return RandomForestRegressor(**options)
        return RandomForestClassifier(
            class_weight=None if class_weight == "none" else class_weight, **options
        )

    def fit_estimator(
        self, estimator: Any, features: Features, labels: Targets | ClassLabels, job: TrainingJob
    ) -> None:
        """Grow the forest a few trees at a time, so a stop request ends training early.

        With warm_start, scikit-learn draws each new tree's seed as a single fit would, so
        the forest equals one grown in a single call with the same seed.
        """
        total = estimator.n_estimators
        estimator.set_params(warm_start=True, n_jobs=-1)
        grown = 0
        with warnings.catch_warnings():
            # The warning is for refitting on different data; every step here uses the same.
            warnings.filterwarnings("ignore", message="class_weight presets", category=UserWarning)
            while grown < total:
                grown = min(total, grown + TREES_PER_STEP)
                estimator.set_params(n_estimators=grown).fit(features, labels)
                if job.stop_requested.is_set() and grown < total:
                    log.warning(
                        "stop requested: keeping the forest with %d of %d trees", grown, total
                    )
                    break
        # Serving predicts many small requests at once: one thread each is enough.
        estimator.set_params(warm_start=False, n_jobs=None)
