"""Training settings from typed hyperparameters: the cross-field rules, then XGBoost's params.

The core checks each hyperparameter against its declaration. Rules that tie several
together (``num_class`` with ``multi:*``, ``early_stopping_rounds`` with a validation
channel…) are checked here, before any data is read, and reported all at once.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from algoport import UserError
from algoport_xgboost import eval_metrics, objectives
from algoport_xgboost.hyperparameters import CHECKPOINT_INTERVAL, PLUGIN_ONLY

log = logging.getLogger("algoport.xgboost")

TREE_UPDATERS = (
    "grow_colmaker",
    "grow_histmaker",
    "grow_quantile_histmaker",
    "sync",
    "refresh",
    "prune",
)
TREE_GROWERS = ("grow_colmaker", "grow_histmaker", "grow_quantile_histmaker")
LINEAR_UPDATERS = ("shotgun", "coord_descent")
UPDATE_PROCESS_UPDATERS = ("refresh", "prune")
DART_ONLY = ("sample_type", "normalize_type", "rate_drop", "one_drop", "skip_drop")
OBJECTIVE_ONLY = {
    "tweedie_variance_power": "reg:tweedie",
    "huber_slope": "reg:pseudohubererror",
    "quantile_alpha": "reg:quantileerror",
}


@dataclass(frozen=True)
class TrainingSettings:
    """What ``fit`` runs: XGBoost's params plus the plugin's own controls."""

    params: dict[str, Any]
    num_round: int
    objective: str
    num_class: int | None
    native_metrics: tuple[str, ...]
    extra_metrics: tuple[str, ...]
    early_stopping_rounds: int | None
    early_stopping_metric: str | None
    csv_weights: bool
    save_model_on_termination: bool
    checkpoint_interval: int = CHECKPOINT_INTERVAL

    @property
    def maximize_early_stopping(self) -> bool | None:
        if self.early_stopping_metric is None:
            return None
        return eval_metrics.maximize(self.early_stopping_metric)


def available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def training_settings(
    hps: Mapping[str, Any],
    *,
    has_validation: bool,
    train_content_type: str,
    tuning_metric: str | None = None,
) -> TrainingSettings:
    """Check the rules and build the settings; one UserError lists every problem."""
    objective = objectives.canonical(hps["objective"])
    metrics = list(hps.get("eval_metric") or [])
    if tuning_metric and tuning_metric not in metrics:
        metrics.append(tuning_metric)
    problems = _rule_problems(hps, objective, metrics, has_validation, train_content_type)
    if problems:
        more = len(problems) - 1
        tail = f" (and {more} more hyperparameter problem{'s' if more > 1 else ''})" if more else ""
        raise UserError(problems[0] + tail, details=problems)
    native = tuple(m for m in metrics if m not in eval_metrics.EXTRA)
    early = hps.get("early_stopping_rounds")
    return TrainingSettings(
        params=_xgboost_params(hps, objective, native, skip=_ignored(hps, objective)),
        num_round=hps["num_round"],
        objective=objective,
        num_class=hps.get("num_class"),
        native_metrics=native,
        extra_metrics=tuple(m for m in metrics if m in eval_metrics.EXTRA),
        early_stopping_rounds=early,
        early_stopping_metric=(tuning_metric or metrics[-1]) if early and metrics else None,
        csv_weights=bool(hps.get("csv_weights")),
        save_model_on_termination=bool(hps.get("save_model_on_termination")),
        checkpoint_interval=int(hps.get("checkpoint_interval") or CHECKPOINT_INTERVAL),
    )


def _rule_problems(
    hps: Mapping[str, Any],
    objective: str,
    metrics: list[str],
    has_validation: bool,
    train_content_type: str,
) -> list[str]:
    problems = _class_count_problems(objective, hps.get("num_class"))
    problems += eval_metrics.problems(metrics, objective)
    if hps.get("early_stopping_rounds") is not None and not has_validation:
        problems.append(
            f"early_stopping_rounds={hps['early_stopping_rounds']} needs a validation channel, "
            "and this job has none. Add a 'validation' channel or remove early_stopping_rounds."
        )
    if hps.get("csv_weights") and train_content_type != "text/csv":
        problems.append(
            f"csv_weights=true applies to text/csv, but channel 'train' is "
            f"{train_content_type}. libsvm carries weights as label:weight; remove csv_weights."
        )
    problems += _tree_problems(hps)
    problems += _updater_problems(hps)
    problems += [p for p in (_monotone(hps)[1], _interaction(hps)[1]) if p]
    base_score = hps.get("base_score")
    if base_score is not None and objective == "binary:logistic" and not 0 < base_score < 1:
        problems.append(
            f"base_score={base_score} is outside (0, 1), which binary:logistic requires: it is "
            "the initial probability. Use a value such as 0.5, or leave it unset."
        )
    return problems


def _class_count_problems(objective: str, num_class: int | None) -> list[str]:
    if objectives.is_multi_class(objective) and num_class is None:
        return [
            f"num_class is required with objective {objective!r} and is missing. Set num_class "
            "to the number of classes (labels are 0 … num_class-1)."
        ]
    if not objectives.is_multi_class(objective) and num_class is not None:
        return [
            f"num_class={num_class} is set, but objective {objective!r} is not multi-class; "
            "num_class applies to multi:softmax and multi:softprob only. Remove num_class or "
            "choose a multi:* objective."
        ]
    return []


def _tree_problems(hps: Mapping[str, Any]) -> list[str]:
    found = []
    method = hps.get("tree_method")
    if hps.get("grow_policy") == "lossguide" and method == "exact":
        found.append(
            "grow_policy=lossguide does not work with tree_method=exact; use tree_method=hist "
            "or approx, or grow_policy=depthwise."
        )
    if hps.get("max_depth") == 0 and method == "exact":
        found.append(
            "max_depth=0 (no depth limit) does not work with tree_method=exact; set a depth "
            "or use tree_method=hist."
        )
    return found


def _updater_problems(hps: Mapping[str, Any]) -> list[str]:
    updaters: list[str] = list(hps.get("updater") or [])
    if not updaters:
        return []
    if hps.get("booster") == "gblinear":
        if len(updaters) != 1 or updaters[0] not in LINEAR_UPDATERS:
            return [
                f"updater {','.join(updaters)!r} does not fit booster gblinear; it takes one of "
                f"{', '.join(LINEAR_UPDATERS)}."
            ]
        return []
    if hps.get("process_type") == "update":
        allowed: tuple[str, ...] = UPDATE_PROCESS_UPDATERS
    else:
        allowed = TREE_UPDATERS
    unknown = [u for u in updaters if u not in allowed]
    if unknown:
        return [
            f"updater {', '.join(unknown)} is not a tree updater here; choose from "
            f"{', '.join(allowed)}."
        ]
    if sum(u in TREE_GROWERS for u in updaters) > 1:
        return [
            f"updater lists several tree growers ({','.join(updaters)}); choose one of "
            f"{', '.join(TREE_GROWERS)}."
        ]
    return []


def _monotone(hps: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """XGBoost's spelling of monotone_constraints, or a problem."""
    text = hps.get("monotone_constraints")
    if text is None:
        return None, None
    inner = text.strip().strip("()[]")
    try:
        values = [int(v) for v in inner.split(",") if v.strip()]
    except ValueError:
        values = []
    if not values or any(v not in (-1, 0, 1) for v in values):
        return None, (
            f"monotone_constraints {text!r} is not a list of -1, 0 and 1; expected one per "
            "feature in order, e.g. (1,0,-1)."
        )
    return "(" + ",".join(str(v) for v in values) + ")", None


def _interaction(hps: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """XGBoost's spelling of interaction_constraints, or a problem."""
    text = hps.get("interaction_constraints")
    if text is None:
        return None, None
    try:
        groups = json.loads(text)
    except ValueError:
        groups = None
    valid = (
        isinstance(groups, list)
        and bool(groups)
        and all(
            isinstance(g, list)
            and g
            and all(isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in g)
            for g in groups
        )
    )
    if not valid:
        return None, (
            f"interaction_constraints {text!r} is not a list of feature index lists; expected "
            "e.g. [[0,1],[2,3,4]] (0-based feature indices)."
        )
    return json.dumps(groups), None


def _ignored(hps: Mapping[str, Any], objective: str) -> set[str]:
    """Set hyperparameters that do nothing here; they are logged and not passed on."""
    ignored: dict[str, str] = {}
    if hps.get("booster") != "dart":
        ignored.update({name: "booster=dart" for name in DART_ONLY})
    ignored.update(
        {
            name: f"objective {needed}"
            for name, needed in OBJECTIVE_ONLY.items()
            if objective != needed
        }
    )
    if not objectives.is_binary(objective):
        ignored["scale_pos_weight"] = "binary:* objectives"
    found = {name for name in ignored if hps.get(name) is not None}
    for name in sorted(found):
        log.warning("%s applies to %s only; it is ignored", name, ignored[name])
    return found


def _xgboost_params(
    hps: Mapping[str, Any], objective: str, native_metrics: tuple[str, ...], skip: set[str]
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for name, value in hps.items():
        if value is None or name in PLUGIN_ONLY or name in skip:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif name == "updater":
            value = ",".join(value)
        params[name] = value
    params["objective"] = objective
    # Rewritten in the spelling XGBoost parses (validated by _rule_problems).
    params["monotone_constraints"], _ = _monotone(hps)
    params["interaction_constraints"], _ = _interaction(hps)
    if native_metrics:
        params["eval_metric"] = list(native_metrics)
    params.setdefault("nthread", available_cpus())
    return {key: value for key, value in params.items() if value is not None}
