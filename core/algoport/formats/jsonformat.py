"""``application/json`` and ``application/jsonlines``: SageMaker's instance forms.

Accepted request forms (each instance becomes one row of a 2-D float64 array)::

    {"instances": [[1, 2], [3, 4]]}
    {"instances": [{"features": [1, 2]}, ...]}
    {"instances": [{"data": {"features": {"values": [1, 2]}}}, ...]}
    {"features": [1, 2]}                 # one row
    [[1, 2], [3, 4]]
    [1, 2]                               # one row

``null`` is read as NaN (a missing value); booleans and strings are refused. JSON Lines
takes one instance per line in any of the instance forms.

Responses are ``{"predictions": [{column: value, ...}, ...]}`` (JSON) or one such object
per line (JSON Lines). NaN and infinities, which JSON cannot hold, are written as ``null``.
The encoders take prediction columns as ``algoport.media.prediction_columns`` checked them
(shape ``(n,)`` or ``(n, k)``, one ``n``).
"""

from __future__ import annotations

import itertools
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from algoport.errors import DataError
from algoport.formats.csv import python_floats

__all__ = ["decode_json", "decode_jsonlines", "encode_json", "encode_jsonlines"]

_FORMS: Final = (
    'a list of numbers, {"features": [...]} or {"data": {"features": {"values": [...]}}}'
)


def decode_json(body: bytes | bytearray | memoryview | str) -> npt.NDArray[np.float64]:
    """Parse a JSON request body into a 2-D float64 array, one row per instance."""
    document = _load(body, "JSON body")
    strict = _may_hold_booleans(body)
    if isinstance(document, dict):
        if "instances" in document:
            instances = document["instances"]
            if not isinstance(instances, list):
                raise DataError(
                    f'JSON "instances" is {_kind(instances)}; expected a list of instances.'
                )
            return _rows(instances, "instances[{}]".format, strict)
        if "features" in document:
            return _rows([document], lambda _: "instance", strict)
        raise DataError(
            f'JSON object has keys {_keys(document)}; expected "instances" or "features".'
        )
    if isinstance(document, list):
        if document and not isinstance(document[0], list | dict):
            return _rows([document], lambda _: "list", strict)  # a flat list: one row
        return _rows(document, "[{}]".format, strict)
    raise DataError(
        f'JSON body is {_kind(document)}; expected {{"instances": [...]}}, '
        '{"features": [...]} or a list.'
    )


def decode_jsonlines(body: bytes | bytearray | memoryview | str) -> npt.NDArray[np.float64]:
    """Parse JSON Lines, one instance per line; blank lines are allowed only at the end."""
    if isinstance(body, str):
        text = body
    else:
        try:
            text = bytes(body).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise DataError(
                f"JSON Lines body is not UTF-8: bad byte at offset {error.start}."
            ) from None
    lines = text.rstrip().split("\n")
    if not lines[0].strip() and len(lines) == 1:
        raise DataError("JSON Lines body is empty; expected one JSON instance per line.")
    instances = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            raise DataError(
                f"JSON Lines line {number} is blank; blank lines are allowed only after the "
                "last instance, so that output lines stay aligned with input lines."
            )
        instances.append(_load(line, f"JSON Lines line {number}"))
    return _rows(instances, "line {}".format, _may_hold_booleans(text), first=1)


def encode_json(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """``{"predictions": [{column: value, ...}, ...]}``, one object per record.

    A column of shape (n, k) gives each record a list of k values. Integers stay integers,
    float32 values keep their shortest form (0.1f is ``0.1``), NaN and infinities are null.
    The text is what ``json.dumps`` writes with compact separators.
    """
    return ('{"predictions":[' + _joined_records(columns, ",") + "]}").encode()


def encode_jsonlines(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """One JSON object per record per line, each line ending with ``\\n``."""
    records = _joined_records(columns, "\n")
    return (records + "\n").encode() if records else b""


# --------------------------------------------------------------------------- decoding


def _load(body: bytes | bytearray | memoryview | str, what: str) -> Any:
    try:
        return json.loads(bytes(body) if isinstance(body, memoryview) else body)
    except UnicodeDecodeError as error:
        raise DataError(f"{what} is not UTF-8: bad byte at offset {error.start}.") from None
    except json.JSONDecodeError as error:
        raise DataError(
            f"{what} is not valid JSON: {error.msg} at line {error.lineno} column {error.colno}."
        ) from None
    except RecursionError:
        raise DataError(
            f"{what} is nested too deeply for the JSON reader; expected instances that are "
            "lists of numbers."
        ) from None
    except ValueError:  # the only other one: an integer too long to convert
        raise DataError(
            f"{what} holds an integer of more than {sys.get_int_max_str_digits()} digits; "
            "expected numbers a float64 can hold."
        ) from None


def _may_hold_booleans(body: bytes | bytearray | memoryview | str) -> bool:
    # numpy would read true as 1, so bodies that may hold a boolean get checked per value.
    if isinstance(body, str):
        return "true" in body or "false" in body
    raw = bytes(body)
    return b"true" in raw or b"false" in raw


def _rows(
    instances: list[Any], name: Callable[[int], str], strict: bool, *, first: int = 0
) -> npt.NDArray[np.float64]:
    """Stack instances into rows; ``name(index)`` says where an instance is, for errors."""
    if not instances:
        raise DataError("JSON holds no instances; expected at least one.")
    rows = [_instance_values(instance, name(i + first)) for i, instance in enumerate(instances)]
    width = len(rows[0])
    for i, row in enumerate(rows):
        if len(row) != width:
            raise DataError(
                f"JSON {name(i + first)} has {len(row)} values; "
                f"expected {width} like {name(first)}."
            )
    array = None
    if not strict:
        try:
            array = np.array(rows)
        except (ValueError, TypeError, OverflowError):
            array = None
    if array is None or array.dtype.kind not in "iuf" or array.ndim != 2:
        # Slow path: null → NaN, or an error naming the first value that is not a number.
        array = np.array([_checked(row, name(i + first)) for i, row in enumerate(rows)])
    return array.astype(np.float64, copy=False).reshape(len(rows), width)


def _instance_values(instance: Any, where: str) -> list[Any]:
    if isinstance(instance, list):
        return instance
    if isinstance(instance, dict):
        if "features" in instance:
            features = instance["features"]
            if isinstance(features, list):
                return features
            raise DataError(f"JSON {where} features is {_kind(features)}; expected a list.")
        data = instance.get("data")
        values = data.get("features") if isinstance(data, dict) else None
        values = values.get("values") if isinstance(values, dict) else None
        if isinstance(values, list):
            return values
        raise DataError(
            f"JSON {where} is an object with keys {_keys(instance)}; expected {_FORMS}."
        )
    raise DataError(f"JSON {where} is {_kind(instance)}; expected {_FORMS}.")


def _checked(row: list[Any], where: str) -> list[float]:
    values: list[float] = []
    for position, value in enumerate(row):
        if value is None:
            values.append(math.nan)
            continue
        if isinstance(value, int | float) and not isinstance(value, bool):
            try:
                values.append(float(value))
                continue
            except OverflowError:
                pass
        raise DataError(
            f"JSON {where}, value {position}: {_show(value)} is not a number "
            "(a float64, or null for missing)."
        )
    return values


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return "a string" if isinstance(value, str) else "a number"


def _keys(document: dict[str, Any]) -> str:
    return ", ".join(json.dumps(key) for key in list(document)[:10]) or "none"


def _show(value: object) -> str:
    try:
        shown = json.dumps(value)
    except RecursionError:
        return "a value nested too deeply to show"
    return shown if len(shown) <= 40 else shown[:37] + "..."


# --------------------------------------------------------------------------- encoding


def _joined_records(columns: Mapping[str, npt.ArrayLike], separator: str) -> str:
    """Every record as a compact JSON object, joined by ``separator``.

    Each column's values are written once and interleaved with the keys, rather than built
    into dicts for ``json.dumps`` to walk: the same text, in about half the time.
    """
    arrays = [np.asarray(column) for column in columns.values()]
    if not arrays or not len(arrays[0]):
        return ""
    keys = [json.dumps(name) + ":" for name in columns]
    pieces: list[Any] = []
    for i, (key, array) in enumerate(zip(keys, arrays, strict=True)):
        pieces += [itertools.repeat((separator + "{" if i == 0 else ",") + key), _json_texts(array)]
    pieces.append(itertools.repeat("}"))
    # The keys repeat endlessly; the columns are checked to hold one value per record.
    text = "".join(itertools.chain.from_iterable(zip(*pieces, strict=False)))
    return text[len(separator) :]


def _json_texts(array: npt.NDArray[np.generic]) -> list[str]:
    """Each record's value of one column (n,) or (n, k), as JSON text."""
    if array.ndim == 2:
        cells = [_json_texts(array[:, j]) for j in range(array.shape[1])]
        if not cells:
            return ["[]"] * len(array)
        return ["[" + ",".join(row) + "]" for row in zip(*cells, strict=True)]
    kind = array.dtype.kind
    if kind == "f":
        values = python_floats(array)
        if np.isfinite(array).all():
            return list(map(float.__repr__, values))
        return [repr(v) if math.isfinite(v) else "null" for v in values]
    if kind in "iu":
        return list(map(int.__repr__, array.tolist()))
    if kind == "b":
        return ["true" if v else "false" for v in array.tolist()]
    if kind in "USO":
        return [json.dumps(v.decode() if isinstance(v, bytes) else v) for v in array.tolist()]
    raise DataError(f"JSON output cannot hold values of dtype {array.dtype}.")
