"""``kmeans``: scikit-learn's k-means, with SageMaker k-means's names.

SageMaker's k-means runs a streaming pass and then a local Lloyd step. The streaming solver
does the same (``kmeans_streaming``); the exact solver is Lloyd alone on the data in
memory, so the ``local_lloyd_*`` hyperparameters map onto it directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans

from algoport import Channel, ChannelSpec, TrainingJob, UserError, hookimpl, hp
from algoport_sklearn.base import SklearnAlgorithm
from algoport_sklearn.data import Features, check_feature_count, read_unlabelled
from algoport_sklearn.kmeans_streaming import INIT_METHODS, StreamingKMeans
from algoport_sklearn.persistence import TrainedModel, save_model
from algoport_sklearn.scores import CLUSTERING_METRICS, log_clustering
from algoport_sklearn.serving import Columns, cluster_predictions, request_features
from algoport_sklearn.shared_hyperparameters import (
    FEATURE_DIM,
    SOLVER,
    epochs,
    log_no_effect,
    mini_batch_size,
    seed,
)
from algoport_sklearn.streaming import chooses_streaming

# The declared parameter is the default for jobs whose ContentType is plain text/csv.
UNLABELLED_CSV = "text/csv;label_size=0"

CHANNEL_DESCRIPTION: Final = (
    "CSV, no header, every column a feature (text/csv;label_size=0); with an explicit "
    "label_size=1 the first column is ignored. Or recordio-protobuf records (labels ignored)."
)
CONTENT_TYPES: Final = (UNLABELLED_CSV, "application/x-recordio-protobuf")
STREAMING_ONLY: Final = (
    "mini_batch_size",
    "epochs",
    "extra_center_factor",
    "half_life_time_size",
    "local_lloyd_init_method",
)
NO_EFFECT: Final = {
    "force_dense": "recordio-protobuf records are always read as dense arrays",
    "eval_metrics": "msd and ssd are both logged",
}


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
                max=1.0,
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
            SOLVER,
            mini_batch_size(5000),
            epochs(1),
            hp.Integer(
                name="extra_center_factor",
                min=1,
                description=(
                    "Streaming: keep k times this many centers while streaming, reduced to k "
                    "by the local Lloyd run. Unset (auto): 2, or less when mini_batch_size "
                    "is under 2k."
                ),
            ),
            hp.Categorical(
                name="local_lloyd_init_method",
                choices=tuple(INIT_METHODS),
                default="kmeans++",
                description="Streaming: how the local Lloyd run picks its initial centers.",
            ),
            hp.Integer(
                name="half_life_time_size",
                default=0,
                min=0,
                description=(
                    "Records after which a record's weight halves; only 0 (no decay) is supported."
                ),
            ),
            hp.List(
                name="eval_metrics",
                item=hp.Categorical(name="item", choices=("msd", "ssd")),
                default=["msd", "ssd"],
                description="Accepted; msd and ssd are both logged.",
            ),
            hp.Boolean(
                name="force_dense",
                default=True,
                description="Accepted (the SageMaker SDK always sends it); no effect here.",
            ),
        ]

    @hookimpl
    def check_hyperparameters(
        self, values: Mapping[str, Any], channels: Mapping[str, Channel]
    ) -> list[str]:
        half_life = values.get("half_life_time_size")
        if half_life:
            return [
                f"Hyperparameter 'half_life_time_size' is {half_life}; algoport's k-means "
                "weighs every record the same (scikit-learn's mini-batch k-means has no "
                "decay). Set it to 0."
            ]
        return []

    @hookimpl
    def channels(self) -> Sequence[ChannelSpec]:
        return (
            ChannelSpec(
                name="train",
                required=True,
                content_types=CONTENT_TYPES,
                input_modes=("File", "Pipe"),
                description=CHANNEL_DESCRIPTION,
            ),
            ChannelSpec(
                name="validation",
                content_types=CONTENT_TYPES,
                input_modes=("File", "Pipe"),
                description=CHANNEL_DESCRIPTION,
            ),
        )

    def train(self, job: TrainingJob) -> None:
        log_no_effect(job, NO_EFFECT)
        if chooses_streaming(job, STREAMING_ONLY, ()):
            StreamingKMeans(job, self.name).train()
        else:
            self._train_exact(job)

    def _train_exact(self, job: TrainingJob) -> None:
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
