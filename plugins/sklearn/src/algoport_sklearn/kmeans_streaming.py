"""``kmeans`` with the streaming solver, as SageMaker's k-means trains.

Mini-batch k-means (scikit-learn's MiniBatchKMeans.partial_fit, one call per mini-batch)
keeps ``k * extra_center_factor`` centers over the epochs, started from the first
mini-batch with ``init_method``; then a local Lloyd run (scikit-learn's KMeans, the
``local_lloyd_*`` settings) reduces them to ``k``, each center weighted by the records it
took. Validation metrics come from one pass over the validation channel; the train
channel is not read again to score it. A checkpoint holds the mini-batch model after each
epoch (with CheckpointConfig) and when the job is stopped.
"""

from __future__ import annotations

import logging
from typing import Any, Final

import numpy as np
from sklearn.cluster import KMeans as SklearnKMeans
from sklearn.cluster import MiniBatchKMeans

from algoport import TrainingJob, UserError
from algoport_sklearn.persistence import TrainedModel, save_model
from algoport_sklearn.scores import ClusteringScores
from algoport_sklearn.serving import cluster_predictions
from algoport_sklearn.streaming import ChannelStream, load_state, save_state

log = logging.getLogger(__name__)

PREFIX: Final = "kmeans-checkpoint"
INIT_METHODS: Final = {"kmeans++": "k-means++", "random": "random"}
# SageMaker says "auto"; algoport's choice: twice k, as the mini-batch allows.
AUTO_EXTRA_CENTER_FACTOR: Final = 2


class StreamingKMeans:
    """One streaming training job of ``kmeans``."""

    def __init__(self, job: TrainingJob, algorithm: str) -> None:
        self.job = job
        self.algorithm = algorithm
        self.hps = job.hyperparameters
        self.stream = ChannelStream(
            job.channel("train"), self.hps["feature_dim"], "the feature_dim hyperparameter"
        )
        self.periodic = job.paths.checkpoint_config_file.is_file()

    def center_count(self) -> int:
        k, size, factor = (
            self.hps["k"],
            self.hps["mini_batch_size"],
            self.hps["extra_center_factor"],
        )
        if factor is None:
            factor = max(1, min(AUTO_EXTRA_CENTER_FACTOR, size // k))
        if k * factor > size:
            raise UserError(
                f"Hyperparameter 'mini_batch_size' is {size}, fewer than the k * "
                f"extra_center_factor = {k * factor} centers the first mini-batch starts; "
                "raise mini_batch_size or lower extra_center_factor."
            )
        return int(k * factor)

    def train(self) -> None:
        hps = self.hps
        epochs, size = hps["epochs"], hps["mini_batch_size"]
        state = load_state(self.job, PREFIX, self.algorithm, hps["feature_dim"])
        if state is None:
            centers = self.center_count()
            model = MiniBatchKMeans(
                n_clusters=centers,
                init=INIT_METHODS[hps["init_method"]],
                n_init=1,
                batch_size=size,
                random_state=hps["seed"],
                compute_labels=False,
            )
            done = 0
        else:
            model, done = state["estimator"], int(state["epochs_done"])
            self.stream.feature_count = int(state["feature_count"])
        while done < epochs:
            records = 0
            for batch in self.stream.next_epoch(size, labelled=False):
                if not hasattr(model, "cluster_centers_") and len(batch) < model.n_clusters:
                    raise UserError(
                        f"Channel 'train' has {len(batch)} records, fewer than the "
                        f"{model.n_clusters} centers (k * extra_center_factor) streaming "
                        "k-means starts from; lower k or extra_center_factor, or add data."
                    )
                model.partial_fit(batch.features)
                records += len(batch)
                if self.job.stop_requested.is_set():
                    self._save_state(model, done)
                    log.warning(
                        "stopped during epoch %d of %d; the checkpoint in %s is where a "
                        "restarted job resumes",
                        done + 1,
                        epochs,
                        self.job.checkpoint_dir,
                    )
                    return
            done += 1
            log.info("epoch %d of %d: %d records streamed", done, epochs, records)
            if self.periodic:
                self._save_state(model, done)
        final = self._local_lloyd(model)
        self._validate(final)
        save_model(
            TrainedModel(
                algorithm=self.algorithm,
                estimator=final,
                feature_count=int(final.cluster_centers_.shape[1]),
            ),
            self.job.model_dir,
        )

    def _local_lloyd(self, model: Any) -> SklearnKMeans:
        """``k`` centers from the mini-batch centers, each weighted by its records."""
        hps = self.hps
        trials = hps["local_lloyd_num_trials"]
        # MiniBatchKMeans keeps each center's record count only in this attribute.
        weights = np.asarray(model._counts, dtype=np.float64)
        return SklearnKMeans(
            n_clusters=hps["k"],
            init=INIT_METHODS[hps["local_lloyd_init_method"]],
            n_init="auto" if trials is None else trials,
            max_iter=hps["local_lloyd_max_iter"],
            tol=hps["local_lloyd_tol"],
            random_state=hps["seed"],
        ).fit(model.cluster_centers_, sample_weight=weights)

    def _validate(self, final: SklearnKMeans) -> None:
        channel = self.job.channels.get("validation")
        if channel is None:
            return
        stream = ChannelStream(channel, final.cluster_centers_.shape[1], "like channel 'train'")
        scores = ClusteringScores()
        for batch in stream.next_epoch(self.hps["mini_batch_size"], labelled=False):
            distances = cluster_predictions(final, batch.features)["distance_to_cluster"]
            scores.add(np.asarray(distances, dtype=np.float64))
        scores.log(self.job, "validation")

    def _save_state(self, model: Any, done: int) -> None:
        if not hasattr(model, "cluster_centers_"):
            return  # stopped before the first mini-batch: nothing learned yet
        state = {
            "algorithm": self.algorithm,
            "epochs_done": done,
            "feature_count": int(model.cluster_centers_.shape[1]),
            "estimator": model,
        }
        save_state(self.job, PREFIX, state)
