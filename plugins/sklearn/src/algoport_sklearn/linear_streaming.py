"""``linear`` with the streaming solver: epochs of mini-batches, as Linear Learner trains.

The first ``num_point_for_scaler`` records of the first epoch set the feature (and label)
scaling, the class count when ``num_classes`` is unset and the balanced class weights;
they are then trained on like every other record. Train metrics are measured on the last
epoch, each mini-batch scored before the model learns from it; validation metrics on one
pass over the validation channel with the final model. A checkpoint holds the whole
training state after each epoch (with CheckpointConfig) and when the job is stopped.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from algoport import TrainingJob
from algoport_sklearn import sgd
from algoport_sklearn.data import Features
from algoport_sklearn.labels import checked_classes, checked_targets
from algoport_sklearn.persistence import TrainedModel, save_model
from algoport_sklearn.scores import SupervisedScores
from algoport_sklearn.shared_hyperparameters import PredictorType
from algoport_sklearn.streaming import Batch, ChannelStream, load_state, save_state

log = logging.getLogger(__name__)

PREFIX: Final = "linear-checkpoint"
DEFAULT_LOSS: Final[dict[str, str]] = {
    "binary_classifier": "logistic",
    "multiclass_classifier": "softmax_loss",
    "regressor": "squared_loss",
}
# Linear Learner says "auto" for these; algoport's choices.
AUTO_LEARNING_RATE: Final = {"adam": 0.01, "rmsprop": 0.01, "sgd": 0.1}
AUTO_LR_SCHEDULER: Final = (100, 0.99, 1e-5)


def options(hps: Mapping[str, Any], predictor_type: str) -> sgd.Options:
    optimizer = "adam" if hps["optimizer"] == "auto" else hps["optimizer"]
    loss = DEFAULT_LOSS[predictor_type] if hps["loss"] == "auto" else hps["loss"]
    scheduler = None
    if hps["use_lr_scheduler"]:
        scheduler = tuple(
            auto if hps[name] is None else hps[name]
            for name, auto in zip(
                ("lr_scheduler_step", "lr_scheduler_factor", "lr_scheduler_minimum_lr"),
                AUTO_LR_SCHEDULER,
                strict=True,
            )
        )
    return sgd.Options(
        loss=loss,
        optimizer=optimizer,
        learning_rate=hps["learning_rate"] or AUTO_LEARNING_RATE[optimizer],
        momentum=hps["momentum"],
        beta_1=hps["beta_1"],
        beta_2=hps["beta_2"],
        wd=hps["wd"],
        l1=hps["l1"],
        use_bias=hps["use_bias"],
        bias_lr_mult=hps["bias_lr_mult"] or 1.0,
        bias_wd_mult=hps["bias_wd_mult"] or 0.0,
        lr_scheduler=scheduler,  # type: ignore[arg-type]
        quantile=hps["quantile"],
        huber_delta=hps["huber_delta"],
        loss_insensitivity=hps["loss_insensitivity"],
    )


@dataclass
class Run:
    """The training state a checkpoint carries, beside the model."""

    scaling: sgd.Scaling
    class_count: int | None
    class_weights: Features | None
    epochs_done: int = 0
    best_loss: float = np.inf
    epochs_without_gain: int = 0


class StreamingLinear:
    """One streaming training job of ``linear``."""

    def __init__(self, job: TrainingJob, algorithm: str) -> None:
        self.job = job
        self.algorithm = algorithm
        self.hps = job.hyperparameters
        self.predictor_type: PredictorType = self.hps["predictor_type"]
        self.options = options(self.hps, self.predictor_type)
        self.stream = ChannelStream(
            job.channel("train"), self.hps["feature_dim"], "the feature_dim hyperparameter"
        )
        self.periodic = job.paths.checkpoint_config_file.is_file()

    def train(self) -> None:
        hps = self.hps
        epochs, size = hps["epochs"], hps["mini_batch_size"]
        model, run, first = self._start(size)
        scores = SupervisedScores(self.predictor_type, run.class_count)
        while run.epochs_done < epochs:
            batches = first if first is not None else self.stream.next_epoch(size, labelled=True)
            first = None
            scores = SupervisedScores(self.predictor_type, run.class_count)
            losses, records = 0.0, 0
            for batch in batches:
                features, labels = self._checked(batch, run.class_count)
                scores.add(labels, sgd.predicted(model, run.scaling, features, run.class_count))
                weights = (
                    None if run.class_weights is None else run.class_weights[labels.astype(int)]
                )
                scaled = run.scaling.features(features)
                losses += model.step(scaled, run.scaling.labels(labels), weights) * len(batch)
                records += len(batch)
                if self.job.stop_requested.is_set():
                    self._save_state(model, run)
                    log.warning(
                        "stopped during epoch %d of %d; the checkpoint in %s is where a "
                        "restarted job resumes",
                        run.epochs_done + 1,
                        epochs,
                        self.job.checkpoint_dir,
                    )
                    return
            run.epochs_done += 1
            loss = losses / records
            log.info(
                "epoch %d of %d: mean %s %.6g over %d records",
                run.epochs_done,
                epochs,
                self.options.loss,
                loss,
                records,
            )
            stop_early = self._no_gain(run, loss)
            if self.periodic:
                self._save_state(model, run)
            if stop_early:
                log.info(
                    "early stopping: the loss gained less than %g for %d epochs",
                    hps["early_stopping_tolerance"],
                    hps["early_stopping_patience"],
                )
                break
        scores.log(self.job, "train")
        self._validate(model, run)
        save_model(
            TrainedModel(
                algorithm=self.algorithm,
                estimator=sgd.estimator(model, run.scaling, run.class_count),
                feature_count=int(run.scaling.mean.shape[0]),
                predictor_type=self.predictor_type,
                class_count=run.class_count,
            ),
            self.job.model_dir,
        )

    def _start(self, size: int) -> tuple[sgd.LinearModel, Run, Iterator[Batch] | None]:
        """The model and state to train from: a checkpoint's, or new ones set from a sample
        of the first epoch (returned with the rest of that epoch)."""
        state = load_state(self.job, PREFIX, self.algorithm, self.hps["feature_dim"])
        if state is not None:
            run = Run(
                scaling=sgd.Scaling(
                    np.asarray(state["mean"]),
                    np.asarray(state["scale"]),
                    float(state["label_mean"]),
                    float(state["label_scale"]),
                ),
                class_count=state["class_count"],
                class_weights=state["class_weights"],
                epochs_done=int(state["epochs_done"]),
                best_loss=float(state["best_loss"]),
                epochs_without_gain=int(state["epochs_without_gain"]),
            )
            self.stream.feature_count = int(state["feature_count"])
            return sgd.LinearModel.from_state(state["model"], self.options), run, None
        batches = self.stream.next_epoch(size, labelled=True)
        sample: list[Batch] = []
        for batch in batches:
            sample.append(batch)
            if sum(len(b) for b in sample) >= self.hps["num_point_for_scaler"]:
                break
        run = self._first_run(sample)
        outputs = run.class_count if run.class_count and run.class_count > 2 else 1
        method = self.hps["init_method"]
        spread = self.hps["init_sigma"] if method == "normal" else self.hps["init_scale"]
        model = sgd.LinearModel.initial(
            run.scaling.mean.shape[0],
            outputs,
            self.options,
            (method, spread, self.hps["init_bias"]),
            self.hps["seed"],
        )
        return model, run, itertools.chain(sample, batches)

    def _first_run(self, sample: list[Batch]) -> Run:
        features = np.concatenate([b.features for b in sample])
        labels = np.concatenate([b.labels for b in sample if b.labels is not None])
        hps = self.hps
        class_count = None
        if self.predictor_type == "binary_classifier":
            class_count = 2
        elif self.predictor_type == "multiclass_classifier":
            class_count = hps["num_classes"] or int(np.nanmax(labels)) + 1
        self._checked(Batch(features, labels, 1), class_count)
        normalize = hps["normalize_data"]
        center = normalize if hps["unbias_data"] is None else hps["unbias_data"]
        mean = features.mean(axis=0) if center else np.zeros(features.shape[1])
        scale = _spread(features.std(axis=0)) if normalize else np.ones(features.shape[1])
        label_mean, label_scale = 0.0, 1.0
        if class_count is None:
            normalize_label = hps["normalize_label"] in (None, True)
            center_label = normalize_label if hps["unbias_label"] is None else hps["unbias_label"]
            label_mean = float(labels.mean()) if center_label else 0.0
            label_scale = float(_spread(labels.std())) if normalize_label else 1.0
        return Run(
            scaling=sgd.Scaling(mean, scale, label_mean, label_scale),
            class_count=class_count,
            class_weights=self._class_weights(labels, class_count),
        )

    def _class_weights(self, labels: Features, class_count: int | None) -> Features | None:
        if class_count is None:
            return None
        counts = np.bincount(labels.astype(np.int64), minlength=class_count).astype(np.float64)
        if class_count == 2:
            mult = self.hps["positive_example_weight_mult"]
            if mult == "auto":
                return None
            if mult == "balanced":
                mult = counts[0] / counts[1] if counts[1] else 1.0
            return np.array([1.0, float(mult)])
        if not self.hps["balance_multiclass_weights"]:
            return None
        present = counts > 0
        weights = np.ones(class_count)
        weights[present] = counts.sum() / (present.sum() * counts[present])
        return weights

    def _checked(
        self, batch: Batch, class_count: int | None, channel: str = "train", source: str = ""
    ) -> tuple[Features, Features]:
        """The batch's features and its labels checked (classes 0..class_count-1)."""
        assert batch.labels is not None  # the stream is read with labels
        if class_count is None:
            return batch.features, checked_targets(batch.labels, channel, batch.first_record)
        if not source:
            given = self.hps["num_classes"]
            source = (
                f"num_classes is {given}"
                if given
                else "the largest label in the first records + 1; set num_classes for more"
            )
        labels = checked_classes(
            batch.labels, self.predictor_type, channel, class_count, source, batch.first_record
        )
        return batch.features, labels.astype(np.float64)

    def _no_gain(self, run: Run, loss: float) -> bool:
        tolerance = self.hps["early_stopping_tolerance"]
        if not np.isfinite(run.best_loss) or loss < run.best_loss - tolerance * abs(run.best_loss):
            run.best_loss, run.epochs_without_gain = loss, 0
            return False
        run.epochs_without_gain += 1
        patience: int = self.hps["early_stopping_patience"]
        return run.epochs_without_gain >= patience

    def _validate(self, model: sgd.LinearModel, run: Run) -> None:
        channel = self.job.channels.get("validation")
        if channel is None:
            return
        stream = ChannelStream(
            channel, run.scaling.mean.shape[0], f"like channel {self.stream.channel.name!r}"
        )
        scores = SupervisedScores(self.predictor_type, run.class_count)
        for batch in stream.next_epoch(self.hps["mini_batch_size"], labelled=True):
            features, labels = self._checked(
                batch, run.class_count, channel.name, "the classes the model learned"
            )
            scores.add(labels, sgd.predicted(model, run.scaling, features, run.class_count))
        scores.log(self.job, "validation")

    def _save_state(self, model: sgd.LinearModel, run: Run) -> None:
        save_state(
            self.job,
            PREFIX,
            {
                "algorithm": self.algorithm,
                "epochs_done": run.epochs_done,
                "feature_count": int(run.scaling.mean.shape[0]),
                "model": model.state(),
                "mean": run.scaling.mean,
                "scale": run.scaling.scale,
                "label_mean": run.scaling.label_mean,
                "label_scale": run.scaling.label_scale,
                "class_count": run.class_count,
                "class_weights": run.class_weights,
                "best_loss": run.best_loss,
                "epochs_without_gain": run.epochs_without_gain,
            },
        )


def _spread(std: Any) -> Any:
    """A feature's standard deviation as its scale; 1 for a constant feature."""
    return np.where(std > 0, std, 1.0)
