"""Declared hyperparameters, and their coercion from the strings SageMaker sends.

SageMaker writes every value of ``hyperparameters.json`` as a string. A plain ``Estimator``
sends ``str(v)`` (``True``, ``0.1``, ``adam``); framework estimators send ``json.dumps(v)``
(``true``, ``"\\"adam\\""``). Both spellings are accepted for every type.

A file written by hand may hold JSON numbers, booleans, lists and objects; one rule holds for
every algorithm: such a value is read as its JSON text (``5`` as ``"5"``, ``true`` as
``"true"``, ``[1, 2]`` as ``"[1, 2]"``). ``null`` is refused: leave the key out for the default.
"""

from __future__ import annotations

import difflib
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from algoport.errors import AlgorithmError, UserError

RESERVED_PREFIX = "sagemaker_"
TUNING_OBJECTIVE_KEY = "_tuning_objective_metric"
RESERVED_KEYS = frozenset({TUNING_OBJECTIVE_KEY})


class InvalidValue(ValueError):
    """A value does not fit its declaration; carries the 'expected …' phrase.

    Raised by ``convert``; a plugin's own kind of hyperparameter raises it too.
    """


def _unquote(raw: str) -> Any:
    """JSON-decode a value when it is JSON (``"\\"adam\\""``, ``true``, ``[1,2]``)."""
    text = raw.strip()
    try:
        return json.loads(text)
    except ValueError:
        return text


@dataclass(frozen=True, kw_only=True)
class HyperParameter:
    """One declared hyperparameter. Use the typed subclasses: ``Integer``, ``Float``…"""

    name: str
    default: Any = None
    required: bool = False
    description: str = ""
    tunable: bool = False
    # Other keys a job may give this value under (e.g. num_boost_round for num_round);
    # giving two of them is an error.
    aliases: Sequence[str] = ()

    type_name: ClassVar[str] = "FreeText"

    def __post_init__(self) -> None:
        if self.required and self.default is not None:
            raise AlgorithmError(
                f"Hyperparameter {self.name!r} is declared required and with a default; "
                "a required hyperparameter has no default."
            )

    def expected(self) -> str:
        """What a valid value looks like, for error messages."""
        raise NotImplementedError

    def convert(self, value: Any) -> Any:
        """Turn an unquoted value into this type or raise ``InvalidValue``."""
        raise NotImplementedError

    def coerce(self, raw: str) -> Any:
        return self.convert(_unquote(raw))


def _bounds(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    left = "(" if low is None or low_open else "["
    right = ")" if high is None or high_open else "]"
    lo = "-∞" if low is None else _num(low)
    hi = "∞" if high is None else _num(high)
    return f"{left}{lo}, {hi}{right}"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() and abs(value) < 1e15 else repr(value)


@dataclass(frozen=True, kw_only=True)
class _Ranged(HyperParameter):
    min: float | None = None
    max: float | None = None
    min_open: bool = False
    max_open: bool = False

    def _check_range(self, value: float) -> None:
        too_low = self.min is not None and (
            value < self.min or (self.min_open and value == self.min)
        )
        too_high = self.max is not None and (
            value > self.max or (self.max_open and value == self.max)
        )
        if too_low or too_high:
            raise InvalidValue(self.expected())

    def range_text(self) -> str:
        return _bounds(self.min, self.max, self.min_open, self.max_open)


@dataclass(frozen=True, kw_only=True)
class Integer(_Ranged):
    type_name: ClassVar[str] = "Integer"

    def expected(self) -> str:
        return f"an integer in {self.range_text()}"

    def convert(self, value: Any) -> int:
        if isinstance(value, bool):
            raise InvalidValue(self.expected())
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise InvalidValue(self.expected()) from None
        if not isinstance(value, int):
            raise InvalidValue(self.expected())
        self._check_range(value)
        return value


@dataclass(frozen=True, kw_only=True)
class Float(_Ranged):
    type_name: ClassVar[str] = "Continuous"

    def expected(self) -> str:
        return f"a number in {self.range_text()}"

    def convert(self, value: Any) -> float:
        if isinstance(value, bool):
            raise InvalidValue(self.expected())
        if isinstance(value, str):
            try:
                value = float(value.strip())
            except ValueError:
                raise InvalidValue(self.expected()) from None
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise InvalidValue(self.expected())
        self._check_range(float(value))
        return float(value)


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, kw_only=True)
class Boolean(HyperParameter):
    type_name: ClassVar[str] = "Categorical"

    def expected(self) -> str:
        return "true or false"

    def convert(self, value: Any) -> bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise InvalidValue(self.expected())


@dataclass(frozen=True, kw_only=True)
class String(HyperParameter):
    type_name: ClassVar[str] = "FreeText"

    def expected(self) -> str:
        return "a string"

    def convert(self, value: Any) -> str:
        if isinstance(value, list | dict):
            raise InvalidValue(self.expected())
        if isinstance(value, bool):
            return "true" if value else "false"
        return str(value)

    def coerce(self, raw: str) -> str:
        # Only a JSON string is unquoted: '007' must stay '007', not become 7.
        decoded = _unquote(raw)
        return decoded if isinstance(decoded, str) else raw


@dataclass(frozen=True, kw_only=True)
class Categorical(HyperParameter):
    choices: Sequence[str] = ()
    type_name: ClassVar[str] = "Categorical"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.choices:
            raise AlgorithmError(f"Categorical hyperparameter {self.name!r} declares no choices.")

    def expected(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def convert(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value)
        if text not in self.choices:
            raise InvalidValue(self.expected())
        return text

    def coerce(self, raw: str) -> str:
        if raw.strip() in self.choices:
            return raw.strip()
        return self.convert(_unquote(raw))


@dataclass(frozen=True, kw_only=True)
class List(HyperParameter):
    """A list of ``item`` values: JSON (``[1, 2]``) or comma-separated (``1,2``)."""

    item: HyperParameter = field(default_factory=lambda: String(name="item"))
    min_length: int = 0
    type_name: ClassVar[str] = "FreeText"

    def expected(self) -> str:
        return f"a list of {self.item.expected()}, as [a, b] or a,b"

    def convert(self, value: Any) -> list[Any]:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("[") and text.endswith("]"):
                text = text[1:-1]
            value = [part.strip().strip("'\"") for part in text.split(",") if part.strip()]
        if not isinstance(value, list):
            value = [value]
        if len(value) < self.min_length:
            raise InvalidValue(self.expected() + f" with at least {self.min_length} items")
        try:
            return [self.item.convert(v) for v in value]
        except InvalidValue:
            raise InvalidValue(self.expected()) from None


@dataclass(frozen=True)
class Problem:
    key: str
    message: str


Check = Callable[[Mapping[str, Any]], Iterable[str]]


class HyperParameterSchema:
    """A plugin's declarations, ready to coerce ``hyperparameters.json``."""

    def __init__(self, declared: Iterable[HyperParameter], algorithm: str) -> None:
        self.algorithm = algorithm
        self.declared: dict[str, HyperParameter] = {}
        self.keys: dict[str, HyperParameter] = {}
        for spec in declared:
            if not isinstance(spec, HyperParameter):
                raise AlgorithmError(
                    f"Algorithm {algorithm!r} declared hyperparameter {spec!r}; expected an "
                    "algoport.hp.HyperParameter such as hp.Integer(name=...)."
                )
            for key in (spec.name, *spec.aliases):
                held = self.keys.get(key)
                if held is not None and held.name == spec.name:
                    raise AlgorithmError(
                        f"Algorithm {algorithm!r} declares hyperparameter {key!r} twice."
                    )
                if held is not None:
                    raise AlgorithmError(
                        f"Algorithm {algorithm!r} declares hyperparameter key {key!r} twice "
                        f"(for {held.name!r} and {spec.name!r}); each name and alias must be "
                        "unique."
                    )
                self.keys[key] = spec
            self.declared[spec.name] = spec

    def coerce(self, raw: Mapping[str, Any], check: Check | None = None) -> dict[str, Any]:
        """Typed values for every declared name; raises one UserError listing all problems.

        ``check`` sees the values that coerced (given or default) and returns problems
        that span several of them; they are reported with the others.
        """
        values, problems = self._coerce(raw)
        if check is not None:
            problems += [Problem("", message) for message in check(values)]
        if problems:
            raise hyperparameter_error(problems)
        return values

    def given(self, raw: Mapping[str, Any]) -> frozenset[str]:
        """The declared names the job set, under their own name or an alias."""
        return frozenset(self.keys[key].name for key in raw if key in self.keys)

    def _coerce(self, raw: Mapping[str, Any]) -> tuple[dict[str, Any], list[Problem]]:
        problems: list[Problem] = []
        values: dict[str, Any] = {}
        given_as: dict[str, str] = {}
        for key, value in raw.items():
            if key.startswith(RESERVED_PREFIX) or key in RESERVED_KEYS:
                continue
            spec = self.keys.get(key)
            if spec is None:
                problems.append(Problem(key, self._unknown(key)))
                continue
            name = spec.name
            if name in given_as:
                problems.append(
                    Problem(
                        name,
                        f"Hyperparameter {name!r} is given twice, as {given_as[name]!r} and "
                        f"{key!r}; they are the same hyperparameter. Keep one.",
                    )
                )
                values.pop(name, None)
                continue
            given_as[name] = key
            if value is None:
                problems.append(
                    Problem(
                        name,
                        f"Hyperparameter {key!r} is null; expected {spec.expected()}. Give a "
                        "value, or leave it out for its default.",
                    )
                )
                continue
            text = value if isinstance(value, str) else json.dumps(value)
            try:
                values[name] = spec.coerce(text)
            except InvalidValue as invalid:
                shown = text if len(text) <= 80 else text[:77] + "..."
                problems.append(
                    Problem(
                        name, f"Hyperparameter {key!r} has value {shown!r}; expected {invalid}."
                    )
                )
        for name, spec in self.declared.items():
            if name in given_as:
                continue
            if spec.required:
                problems.append(
                    Problem(
                        name,
                        f"Hyperparameter {name!r} is required and missing; expected "
                        f"{spec.expected()}. Set it in the training job's HyperParameters.",
                    )
                )
            else:
                values[name] = spec.default
        return values, problems

    def _unknown(self, key: str) -> str:
        known = sorted(self.declared)
        if not known:
            return (
                f"Hyperparameter {key!r} is not accepted: algorithm {self.algorithm!r} takes "
                "no hyperparameters. Remove it from the training job."
            )
        close = difflib.get_close_matches(key, sorted(self.keys), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (
            f"Hyperparameter {key!r} is not known to algorithm {self.algorithm!r}; "
            f"it accepts {', '.join(known)}.{hint}"
        )


def hyperparameter_error(problems: Sequence[Problem]) -> UserError:
    first = problems[0].message
    if len(problems) > 1:
        first += f" (and {len(problems) - 1} more hyperparameter problem"
        first += "s)" if len(problems) > 2 else ")"
    return UserError(first, details=[p.message for p in problems])
