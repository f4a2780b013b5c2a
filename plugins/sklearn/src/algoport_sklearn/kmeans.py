"""``kmeans``: scikit-learn's k-means (Lloyd), with SageMaker k-means's names.

SageMaker's k-means runs a streaming pass and then a local Lloyd step; scikit-learn's is
Lloyd alone, so the ``local_lloyd_*`` hyperparameters map onto it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans

from algoport import ChannelSpec, TrainingJob, UserError, hookimpl, hp
from algoport_sklearn.base import SklearnAlgorithm
from algoport_sklearn.data import Features, check_feature_count, read_unlabelled
from algoport_sklearn.persistence import TrainedModel, save_model
from algoport_sklearn.scores import CLUSTERING_METRICS, log_clustering
from algoport_sklearn.serving import Columns, cluster_predictions, request_features
from algoport_sklearn.shared_hyperparameters import FEATURE_DIM, seed

# The declared parameter is the default for jobs whose ContentType is plain text/csv.
UNLABELLED_CSV = "text/csv;label_size=0"

INIT_METHODS: Final = {"kmeans++": "k-means++", "random": "random"}

CHANNEL_DESCRIPTION: Final = (
    "CSV, no header, every column a feature (text/csv;label_size=0). With an explicit "
    "label_size=1 the first column is ignored."
)


class KMeans(SklearnAlgorithm):
    """Algorithm ``kmeans``: the hooks, as methods of one plugin object."""

    name = "kmeans"
    declared_metrics = CLUSTERING_METRICS

    @hookimpl
    def hyperparameters(self) -> list[hp.HyperParameter]:
        return [
            hp.Integer(name="k", required=True, min=1, description="Number of clusters."),
            hp.Categorical(
                name="init_method",
                choices=tuple(INIT_METHODS),
                default="kmeans++",
                description=(
                    "How the initial centers are chosen: kmeans++ (spread out, weighted by "
                    "distance) or random records. SageMaker's default is random; "
                    "scikit-learn's, kept here, is kmeans++."
                ),
            ),
            hp.Integer(
                name="local_lloyd_max_iter",
                default=300,
                min=1,
                description="Maximum Lloyd iterations per trial (scikit-learn max_iter).",
            ),
            hp.Float(
                name="local_lloyd_tol",
                default=1e-4,
                min=0.0,
                description=(
                    "Stop when the centers move less than this, relative to the data's "
                    "variance (scikit-learn tol)."
                ),
            ),
            hp.Integer(
                name="local_lloyd_num_trials",
                min=1,
                max=1_000,
                description=(
                    "Runs from different initial centers; the one with the lowest squared "
                    "distance wins (scikit-learn n_init). Unset: 1 with kmeans++, 10 with random."
                ),
            ),
            FEATURE_DIM,
            seed("Seed of the initial centers."),
        ]

    @hookimpl
    def channels(self) -> Sequence[ChannelSpec]:
        return (
            ChannelSpec(
                name="train",
                required=True,
                content_types=(UNLABELLED_CSV,),
                description=CHANNEL_DESCRIPTION,
            ),
            ChannelSpec(
                name="validation", content_types=(UNLABELLED_CSV,), description=CHANNEL_DESCRIPTION
            ),
        )

    def train(self, job: TrainingJob) -> None:
        hps = job.hyperparameters
        features = read_unlabelled(job, "train", allow_missing=False)
        check_feature_count(
            features, hps["feature_dim"], "Channel 'train'", "the feature_dim hyperparameter"
        )
        if hps["k"] > features.shape[0]:
            raise UserError(
                f"Hyperparameter 'k' is {hps['k']}, more than the {features.shape[0]} records "
                "in channel 'train'; expected at most one cluster per record. Lower k or add data."
            )
        trials = hps["local_lloyd_num_trials"]
        estimator = SklearnKMeans(
            n_clusters=hps["k"],
            init=INIT_METHODS[hps["init_method"]],
            n_init="auto" if trials is None else trials,
            max_iter=hps["local_lloyd_max_iter"],
            tol=hps["local_lloyd_tol"],
            random_state=hps["seed"],
        ).fit(features)
        log_clustering(job, "train", _closest_distances(estimator, features))
        if "validation" in job.channels:
            valid = read_unlabelled(job, "validation", allow_missing=False)
            check_feature_count(
                valid, features.shape[1], "Channel 'validation'", "like channel 'train'"
            )
            log_clustering(job, "validation", _closest_distances(estimator, valid))
        save_model(
            TrainedModel(algorithm=self.name, estimator=estimator, feature_count=features.shape[1]),
            job.model_dir,
        )

    @hookimpl
    def predict(self, model: TrainedModel, data: Any) -> Columns:
        features = request_features(data, model.feature_count, allow_missing=False)
        return cluster_predictions(model.estimator, features)


def _closest_distances(estimator: Any, features: Features) -> Features:
    return np.asarray(
        cluster_predictions(estimator, features)["distance_to_cluster"], dtype=np.float64
    )
