from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest

from algoport.errors import DataError
from algoport.formats.csv import python_floats
from algoport.formats.jsonformat import decode_json, decode_jsonlines, encode_json, encode_jsonlines


@pytest.mark.parametrize(
    "body",
    [
        b'{"instances": [[1, 2], [3, 4.5]]}',
        b'{"instances": [{"features": [1, 2]}, {"features": [3, 4.5]}]}',
        b'{"instances": [{"data": {"features": {"values": [1, 2]}}},'
        b' {"data": {"features": {"values": [3, 4.5]}}}]}',
        b"[[1, 2], [3, 4.5]]",
        "\ufeff[[1, 2], [3, 4.5]]".encode(),
    ],
)
def test_decode_json_forms(body: bytes) -> None:
    got = decode_json(body)
    assert got.dtype == np.float64 and got.tolist() == [[1, 2], [3, 4.5]]


@pytest.mark.parametrize("body", [b'{"features": [1, 2.5]}', b"[1, 2.5]", "[1, 2.5]"])
def test_decode_json_single_row(body: bytes | str) -> None:
    assert decode_json(body).tolist() == [[1, 2.5]]


def test_decode_json_null_is_missing_and_big_values() -> None:
    got = decode_json(b"[[1, null], [1e400, 100000000000000000000000]]")
    assert math.isnan(got[0, 1]) and got[1].tolist() == [math.inf, 1e23]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[1, 2", "JSON body is not valid JSON: Expecting ',' delimiter at line 1 column 6."),
        (b"\xff", "JSON body is not UTF-8"),
        (b"3", "JSON body is a number; expected"),
        (b'{"x": 1}', 'JSON object has keys "x"; expected "instances" or "features".'),
        (b'{"instances": 1}', 'JSON "instances" is a number; expected a list of instances.'),
        (b'{"instances": []}', "JSON holds no instances"),
        (b"[]", "JSON holds no instances"),
        (
            b'{"instances": [[1, 2], [3]]}',
            "JSON instances[1] has 1 values; expected 2 like instances[0].",
        ),
        (b"[[1, 2], [3]]", "JSON [1] has 1 values; expected 2 like [0]."),
        (b'{"instances": [[1, "a"]]}', 'JSON instances[0], value 1: "a" is not a number'),
        (b'{"instances": [[1, true]]}', "JSON instances[0], value 1: true is not a number"),
        (b"[true, 1]", "JSON list, value 0: true is not a number"),
        (b'{"features": [1, [2]]}', "JSON instance, value 1: [2] is not a number"),
        (
            b'{"instances": [{"features": 3}]}',
            "JSON instances[0] features is a number; expected a list.",
        ),
        (
            b'{"instances": [{"foo": 1}]}',
            'JSON instances[0] is an object with keys "foo"; expected',
        ),
        (b'{"instances": ["abc"]}', "JSON instances[0] is a string; expected a list of numbers"),
        (b"[[1e999999999999999999]]", None),
    ],
)
def test_decode_json_errors(body: bytes, message: str | None) -> None:
    if message is None:  # json reads this as inf, which is a float: accepted
        assert decode_json(body).tolist() == [[math.inf]]
        return
    with pytest.raises(DataError, match=re.escape(message)):
        decode_json(body)


def test_decode_json_long_value_is_truncated() -> None:
    with pytest.raises(DataError) as error:
        decode_json(json.dumps([[1, "x" * 100]]).encode())
    assert '"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...' in str(error.value)


def test_decode_jsonlines() -> None:
    body = b'[1, 2]\n{"features": [3, 4]}\r\n{"data": {"features": {"values": [5, null]}}}\n\n'
    got = decode_jsonlines(body)
    assert got[:, 0].tolist() == [1, 3, 5] and math.isnan(got[2, 1])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "JSON Lines body is empty"),
        (b"\n\n", "JSON Lines body is empty"),
        (b"[1]\n\n[2]", "JSON Lines line 2 is blank"),
        (b"[1, 2]\n[3", "JSON Lines line 2 is not valid JSON"),
        (b"[1],[2]\n[3],[4]", "JSON Lines line 1 is not valid JSON: Extra data"),
        (b"[1, 2]\n[3]", "JSON line 2 has 1 values; expected 2 like line 1."),
        (b'[1, 2]\n[3, "x"]', 'JSON line 2, value 1: "x" is not a number'),
        (b"[1]\n[false]", "JSON line 2, value 0: false is not a number"),
        (b"[1]\n\xff", "JSON Lines body is not UTF-8: bad byte at offset 4."),
    ],
)
def test_decode_jsonlines_errors(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        decode_jsonlines(body)


COLUMNS = {
    "predicted_label": np.array([1, 0], np.int64),
    "probabilities": np.array([[0.1, 0.9], [np.nan, 0.2]], np.float32),
    "score": np.array([0.1 + 0.2, np.inf]),
    "label": np.array(["cat", "dog"]),
    "ok": np.array([True, False]),
}


def test_encode_json() -> None:
    assert json.loads(encode_json(COLUMNS)) == {
        "predictions": [
            {
                "predicted_label": 1,
                "probabilities": [0.1, 0.9],
                "score": 0.30000000000000004,
                "label": "cat",
                "ok": True,
            },
            {
                "predicted_label": 0,
                "probabilities": [None, 0.2],
                "score": None,
                "label": "dog",
                "ok": False,
            },
        ]
    }
    assert b'"predicted_label":1,' in encode_json(COLUMNS)  # ints stay ints
    assert encode_json({}) == b'{"predictions":[]}'


def test_encode_jsonlines() -> None:
    body = encode_jsonlines(COLUMNS)
    lines = body.split(b"\n")
    assert len(lines) == 3 and lines[2] == b""
    assert json.loads(lines[0])["probabilities"] == [0.1, 0.9]
    assert json.loads(lines[1])["score"] is None


def reference_records(columns: dict[str, np.ndarray]) -> list[dict[str, object]]:
    """The records as plain Python values, as json.dumps would be given them."""

    def plain(value: object) -> object:
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, bytes):
            return value.decode()
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value

    values = {
        name: python_floats(array) if array.dtype.kind == "f" else array.tolist()
        for name, array in columns.items()
    }
    count = len(next(iter(columns.values())))
    return [{name: plain(values[name][i]) for name in columns} for i in range(count)]


def test_encoders_write_what_json_dumps_writes() -> None:
    rng = np.random.default_rng(3)
    n = 200
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 5e-324, 1e300])
    floats = rng.normal(size=n) * 10.0 ** rng.integers(-30, 30, n)
    floats[rng.integers(0, n, 20)] = rng.choice(specials, 20)
    columns = {
        "score": floats,
        'we"ird \\ k\u00e9y': rng.random((n, 3)).astype(np.float32),
        "none": np.zeros((n, 0)),
        "label": rng.integers(-(2**62), 2**62, n),
        "small": rng.integers(0, 255, n).astype(np.uint8),
        "flag": rng.random(n) < 0.5,
        "name": np.array([rng.choice(["cat", 'd"og', "\u00e9\u4e2d", "a\\b\n"]) for _ in range(n)]),
        "raw": np.array([b"x", b"y\t"] * (n // 2)),
        "matrix": rng.integers(0, 9, (n, 2)),
    }
    records = reference_records(columns)

    assert (
        encode_json(columns) == json.dumps({"predictions": records}, separators=(",", ":")).encode()
    )
    assert (
        encode_jsonlines(columns)
        == "".join(json.dumps(record, separators=(",", ":")) + "\n" for record in records).encode()
    )
    assert encode_json({"a": np.zeros(0)}) == b'{"predictions":[]}'
    assert encode_jsonlines({"a": np.zeros(0)}) == b""


def test_encode_round_trips_through_decode() -> None:
    values = np.random.default_rng(0).normal(size=(5, 3))
    predictions = json.loads(encode_json({"v": values}))["predictions"]
    assert (
        decode_json(json.dumps([p["v"] for p in predictions]).encode()).tolist() == values.tolist()
    )


def test_encode_errors() -> None:
    with pytest.raises(DataError, match="JSON output cannot hold values of dtype complex128"):
        encode_jsonlines({"a": np.zeros(2, complex)})
