"""Linear Learner's streaming model: a linear map trained by mini-batch gradient steps.

Written in numpy rather than on SGDClassifier/SGDRegressor.partial_fit because those take
one plain-SGD step per record, with one-vs-rest for several classes and none of Linear
Learner's losses beyond squared, Huber and epsilon-insensitive: ``optimizer=adam`` would
not mean Adam and ``softmax_loss`` would not be softmax. Here every name means what it says
in the built-in: one step per mini-batch with ``sgd`` (with momentum), ``adam`` or
``rmsprop``, its losses, L2 (``wd``) in the gradient and L1 as a soft threshold after each
step. The trained weights become a plain scikit-learn estimator (see ``estimator``), so
the model serves and saves exactly like one from the exact solver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.special import expit, log_softmax, softmax
from sklearn.linear_model import LinearRegression, LogisticRegression

from algoport_sklearn.data import Features

EPSILON: Final = 1e-8
RMSPROP_DECAY: Final = 0.9

Gradient = Callable[[Features, Features, "Options"], tuple[Features, Features]]


@dataclass(frozen=True)
class Options:
    """The resolved settings of one training run (``auto`` already decided)."""

    loss: str
    optimizer: str
    learning_rate: float
    momentum: float
    beta_1: float
    beta_2: float
    wd: float
    l1: float
    use_bias: bool
    bias_lr_mult: float
    bias_wd_mult: float
    lr_scheduler: tuple[int, float, float] | None  # step, factor, minimum rate
    quantile: float
    huber_delta: float
    loss_insensitivity: float


def _logistic(scores: Features, labels: Features, o: Options) -> tuple[Features, Features]:
    s = scores[:, 0]
    loss = np.logaddexp(0.0, s) - labels * s
    return loss, (expit(s) - labels)[:, None]


def _softmax(scores: Features, labels: Features, o: Options) -> tuple[Features, Features]:
    rows = np.arange(scores.shape[0])
    classes = labels.astype(np.int64)
    loss = -log_softmax(scores, axis=1)[rows, classes]
    gradient = softmax(scores, axis=1)
    gradient[rows, classes] -= 1.0
    return loss, gradient


def _regression(
    loss_and_slope: Callable[[Features, Options], tuple[Features, Features]],
) -> Gradient:
    def gradient(scores: Features, labels: Features, o: Options) -> tuple[Features, Features]:
        loss, slope = loss_and_slope(scores[:, 0] - labels, o)
        return loss, slope[:, None]

    return gradient


def _huber(r: Features, o: Options) -> tuple[Features, Features]:
    size = np.abs(r)
    delta = o.huber_delta
    loss = np.where(size <= delta, r**2 / 2, delta * (size - delta / 2))
    return loss, np.clip(r, -delta, delta)


def _quantile(r: Features, o: Options) -> tuple[Features, Features]:
    below = (r > 0).astype(np.float64)  # the prediction is above the label
    return np.abs(r) * np.where(r > 0, 1 - o.quantile, o.quantile), below - o.quantile


def _insensitive(r: Features, o: Options) -> Features:
    return np.maximum(np.abs(r) - o.loss_insensitivity, 0.0)


# Loss name → its mean-loss gradient with respect to the scores.
LOSSES: Final[dict[str, Gradient]] = {
    "logistic": _logistic,
    "softmax_loss": _softmax,
    "squared_loss": _regression(lambda r, o: (r**2 / 2, r)),
    "absolute_loss": _regression(lambda r, o: (np.abs(r), np.sign(r))),
    "huber_loss": _regression(_huber),
    "quantile_loss": _regression(_quantile),
    "eps_insensitive_squared_loss": _regression(
        lambda r, o: (_insensitive(r, o) ** 2 / 2, np.sign(r) * _insensitive(r, o))
    ),
    "eps_insensitive_absolute_loss": _regression(
        lambda r, o: (_insensitive(r, o), np.sign(r) * (_insensitive(r, o) > 0))
    ),
}


class LinearModel:
    """Weights (one column per output) with the bias as the last row, and the optimizer's
    moments; ``state()`` and ``from_state`` carry it through a checkpoint."""

    def __init__(self, params: Features, options: Options) -> None:
        self.params = params
        self.options = options
        self.first = np.zeros_like(params)  # momentum, or Adam's first moment
        self.second = np.zeros_like(params)  # Adam's and RMSProp's second moment
        self.steps = 0
        rows = params.shape[0]
        self.rate_mult = np.ones((rows, 1))
        self.rate_mult[-1] = options.bias_lr_mult
        self.decay = np.full((rows, 1), options.wd)
        self.decay[-1] = options.wd * options.bias_wd_mult

    @classmethod
    def initial(
        cls,
        inputs: int,
        outputs: int,
        options: Options,
        init: tuple[str, float, float],
        seed: int,
    ) -> LinearModel:
        """``init``: (``uniform`` or ``normal``, its scale or sigma, the initial bias)."""
        method, spread, bias = init
        rng = np.random.default_rng(seed)
        if method == "uniform":
            weights = rng.uniform(-spread, spread, size=(inputs, outputs))
        else:
            weights = rng.normal(0.0, spread, size=(inputs, outputs))
        bias_row = np.full((1, outputs), bias if options.use_bias else 0.0)
        return cls(np.vstack([weights, bias_row]), options)

    def scores(self, features: Features) -> Features:
        return np.asarray(features @ self.params[:-1] + self.params[-1], dtype=np.float64)

    def step(self, features: Features, labels: Features, weights: Features | None) -> float:
        """One gradient step on a mini-batch; returns its mean loss before the step."""
        o = self.options
        loss, slope = LOSSES[o.loss](self.scores(features), labels, o)
        if weights is not None:
            loss, slope = loss * weights, slope * weights[:, None]
        count = features.shape[0]
        gradient = np.vstack([features.T @ slope, slope.sum(axis=0, keepdims=True)]) / count
        gradient += self.decay * self.params
        self.steps += 1
        rate = self._rate() * self.rate_mult
        if o.optimizer == "sgd":
            self.first = o.momentum * self.first - rate * gradient
            self.params += self.first
        elif o.optimizer == "adam":
            self.first = o.beta_1 * self.first + (1 - o.beta_1) * gradient
            self.second = o.beta_2 * self.second + (1 - o.beta_2) * gradient**2
            first = self.first / (1 - o.beta_1**self.steps)
            second = self.second / (1 - o.beta_2**self.steps)
            self.params -= rate * first / (np.sqrt(second) + EPSILON)
        else:  # rmsprop
            self.second = RMSPROP_DECAY * self.second + (1 - RMSPROP_DECAY) * gradient**2
            self.params -= rate * gradient / (np.sqrt(self.second) + EPSILON)
        if o.l1:
            weights_only = self.params[:-1]
            shrink = rate[:-1] * o.l1
            self.params[:-1] = np.sign(weights_only) * np.maximum(np.abs(weights_only) - shrink, 0)
        if not o.use_bias:
            self.params[-1] = 0.0
        return float(loss.mean())

    def _rate(self) -> float:
        o = self.options
        if o.lr_scheduler is None:
            return o.learning_rate
        step, factor, minimum = o.lr_scheduler
        decayed = o.learning_rate * factor ** ((self.steps - 1) // step)
        return max(decayed, min(minimum, o.learning_rate))

    def state(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "first": self.first,
            "second": self.second,
            "steps": self.steps,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any], options: Options) -> LinearModel:
        model = cls(np.array(state["params"], dtype=np.float64), options)
        model.first = np.array(state["first"], dtype=np.float64)
        model.second = np.array(state["second"], dtype=np.float64)
        model.steps = int(state["steps"])
        return model


@dataclass(frozen=True)
class Scaling:
    """What the model saw: features ``(x - mean) / scale``, labels ``(y - mean) / scale``."""

    mean: Features
    scale: Features
    label_mean: float = 0.0
    label_scale: float = 1.0

    def features(self, features: Features) -> Features:
        return (features - self.mean) / self.scale

    def labels(self, labels: Features) -> Features:
        return (labels - self.label_mean) / self.label_scale


def estimator(model: LinearModel, scaling: Scaling, class_count: int | None) -> Any:
    """The trained map on raw features as a fitted scikit-learn estimator, the scaling folded
    into the weights: LogisticRegression (sigmoid for two classes, softmax for more) or
    LinearRegression, each predicting exactly as the model does."""
    weights = model.params[:-1] / scaling.scale[:, None] * scaling.label_scale
    bias = (model.params[-1] - (scaling.mean / scaling.scale) @ model.params[:-1]) * (
        scaling.label_scale
    ) + scaling.label_mean
    fitted: Any
    if class_count is None:
        fitted = LinearRegression()
        fitted.coef_, fitted.intercept_ = weights[:, 0], float(bias[0])
    else:
        fitted = LogisticRegression()
        fitted.coef_, fitted.intercept_ = weights.T.copy(), bias.copy()
        fitted.classes_ = np.arange(class_count)
        fitted.n_iter_ = np.array([model.steps])
    fitted.n_features_in_ = weights.shape[0]
    return fitted


def predicted(
    model: LinearModel, scaling: Scaling, features: Features, class_count: int | None
) -> npt.NDArray[Any]:
    """Labels (classifiers) or values for raw features, as the estimator would give them."""
    scores = model.scores(scaling.features(features))
    if class_count is None:
        return scores[:, 0] * scaling.label_scale + scaling.label_mean
    if class_count == 2:
        return (scores[:, 0] > 0).astype(np.int64)
    return np.asarray(scores.argmax(axis=1))
