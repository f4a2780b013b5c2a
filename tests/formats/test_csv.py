from __future__ import annotations

import math
import re

import numpy as np
import pytest

from algoport.errors import DataError
from algoport.formats import csv
from algoport.formats.csv import decode_csv, encode_csv, split_label


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal shapes and bit-identical float64 values (so -0.0 and NaN positions count)."""
    return a.shape == b.shape and np.array_equal(
        np.asarray(a, np.float64).view(np.uint64), np.asarray(b, np.float64).view(np.uint64)
    )


def big(row: str, n: int = 400) -> bytes:
    """``row`` repeated on ``n`` lines."""
    return ("\n".join([row] * n) + "\n").encode()


# --------------------------------------------------------------------------- accepted input


@pytest.mark.parametrize("n_rows", [1, 400])
def test_basic_numbers(n_rows: int) -> None:
    row = "1,-2.5,3e2,+4,.5,6.,-0,1E-3,00012"
    expected = np.tile([1, -2.5, 300, 4, 0.5, 6, -0.0, 0.001, 12], (n_rows, 1))
    got = decode_csv(("\n".join([row] * n_rows)).encode())
    assert same(got, expected)
    assert math.copysign(1, got[0, 6]) == -1


@pytest.mark.parametrize(
    "body", [b"1,2\n3,4", b"1,2\n3,4\n", b"1,2\r\n3,4\r\n", b"1,2\n3,4\n\n \n"]
)
def test_line_endings_and_trailing_blank_lines(body: bytes) -> None:
    assert same(decode_csv(body), np.array([[1.0, 2.0], [3.0, 4.0]]))


def test_bom_spaces_and_missing_values() -> None:
    body = "\ufeff 1 , ,3\n\t4,5 ,\n,,\n".encode()
    expected = np.array([[1, np.nan, 3], [4, 5, np.nan], [np.nan, np.nan, np.nan]])
    assert same(decode_csv(body), expected)
    # the same in a many-row body
    assert same(decode_csv(big(" 1 , ,3\n\t4,5 ,\n,,")), np.tile(expected, (400, 1)))


def test_special_values() -> None:
    got = decode_csv(b"nan,NaN,-inf,Infinity,+INF,1e400,1e-400")
    assert np.isnan(got[0, :2]).all()
    assert got[0, 2:].tolist() == [-math.inf, math.inf, math.inf, math.inf, 0.0]


def test_memoryview_bytearray_and_dtype() -> None:
    assert decode_csv(memoryview(b"1,2")).tolist() == [[1, 2]]
    got = decode_csv(bytearray(b"0.1,2"), dtype=np.float32)
    assert got.dtype == np.float32 and got[0, 0] == np.float32(0.1)
    with pytest.raises(TypeError, match="floating"):
        decode_csv(b"1", dtype=np.int64)


def test_single_column() -> None:
    assert decode_csv(b"1\n2\n3\n").tolist() == [[1], [2], [3]]
    assert decode_csv(big("7", 3000)).shape == (3000, 1)


def test_values_are_correctly_rounded() -> None:
    rng = np.random.default_rng(7)
    values = rng.normal(size=(300, 12)) * 10.0 ** rng.integers(-12, 12, size=(300, 12))
    for spec in ("{:.6g}", "{:.15g}", "{:.3e}", "{:.10f}", "{:.0f}", "{:.8E}"):
        text = "\n".join(",".join(spec.format(v) for v in row) for row in values)
        expected = [[float(spec.format(v)) for v in row] for row in values]
        assert same(decode_csv(text.encode()), np.array(expected)), spec
        assert same(decode_csv(text.split("\n")[0].encode()), np.array(expected[:1])), spec


# How programs write doubles in full: the shortest repr, or 16-17 significant digits; fixed
# notation with many decimals can hold more than 18 significant digits.
@pytest.mark.parametrize("spec", ["{!r}", "{:.17g}", "{:.16g}", "{:.18f}", "{:.19g}"])
def test_long_values_are_correctly_rounded(spec: str) -> None:
    rng = np.random.default_rng(11)
    doubles = rng.normal(size=12_000) * 10.0 ** rng.integers(-6, 17, size=12_000)
    tokens = [spec.format(v) for v in doubles.tolist()]
    rows = [",".join(tokens[i : i + 12]) for i in range(0, len(tokens), 12)]

    decoded = decode_csv("\n".join(rows).encode()).ravel()

    assert same(decoded, np.array([float(token) for token in tokens]))


def test_long_values_halfway_between_doubles_are_rounded_to_even() -> None:
    halfway = ["9007199254740993", "12345678901234567", "-9007199254740993.000"]
    body = big(",".join(halfway))
    assert same(decode_csv(body)[0], np.array([float(t) for t in halfway]))


def test_long_fields_parse() -> None:
    tokens = [
        "0.00000000000000000000000012345",  # 26 fractional digits
        "1234567890123456789.5",  # 20 significant digits
        "123456789012345678901234567890123456",  # longer than the window
        "+0000000000000000000000000000001.5",
        "-.12345678901234567",
        "12345678901234567.",
    ]
    for body in (big(",".join(tokens)), ",".join(tokens).encode()):
        assert same(decode_csv(body)[0], np.array([float(t) for t in tokens]))
        assert_tiers_agree(body)


@pytest.mark.parametrize(
    "bad",
    [
        "1234567890.123.45",
        "--1234567890123456",
        "12345678901234567e",
        "1234567890123456 7",
        "12345678901234+567",
        "1234567890123456_7",
        "0x12345678901234567",
    ],
)
def test_long_bad_values_are_refused_like_short_ones(bad: str) -> None:
    for body in (big(f"1,{bad},2"), f"1,{bad},2".encode()):
        assert_tiers_agree(body)
        with pytest.raises(DataError, match=r"row 1, column 2: .* is not a number"):
            decode_csv(body)


# --------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "CSV body is empty"),
        (b"\n \r\n\n", "CSV body is empty"),
        (b"\n1,2", "CSV row 1 is blank; expected comma-separated values."),
        (b"1,2\n\n3,4", "CSV row 2 is blank; expected 2 comma-separated values."),
        (b"1\n \n3", "CSV row 2 is blank; expected 1 comma-separated values."),
        (b"1,2\n3,4,5", "CSV row 2 has 3 columns; expected 2 like row 1."),
        (b"1,2,3\n4,5,6\n7,8", "CSV row 3 has 2 columns; expected 3 like row 1."),
        (b"1,2\n3,abc", "CSV row 2, column 2: 'abc' is not a number."),
        (b"1,1_000", "CSV row 1, column 2: '1_000' is not a number."),
        (b"nan(1)", "CSV row 1, column 1: 'nan(1)' is not a number."),
        (b"0x10", "CSV row 1, column 1: '0x10' is not a number."),
        (b"1 2,3", "CSV row 1, column 1: '1 2' is not a number."),
        (b'"1",2', "CSV row 1, column 1: '\"1\"' is not a number."),
        (b"1,\xff", "CSV row 1, column 2: '\\\\xff' is not a number."),
        ("1,\u0661".encode(), "CSV row 1, column 2: '\u0661' is not a number."),
        # numpy trims Unicode spaces around a number; the CSV language does not
        (b"1\x1c,2", "CSV row 1, column 1: '1\\x1c' is not a number."),
        (b"1,2\n3,\xc2\xa04", "CSV row 2, column 2: '\\xa04' is not a number."),
        (b"1,2\n3,4 5", "CSV row 2, column 2: '4 5' is not a number."),
        ("1,\u20032".encode(), "CSV row 1, column 2: '\\u20032' is not a number."),
        ("1,2\n3,\u20034".encode(), "CSV row 2, column 2: '\\u20034' is not a number."),
        (b"1,2\r3,4", "CSV row 1, column 2: '2\\r3' is not a number."),
    ],
)
def test_errors(body: bytes, message: str) -> None:
    with pytest.raises(DataError, match=re.escape(message)):
        decode_csv(body)


def test_long_value_is_truncated_in_message() -> None:
    with pytest.raises(DataError) as error:
        decode_csv(b"1," + b"x" * 500)
    assert str(error.value) == f"CSV row 1, column 2: '{'x' * 37}...' is not a number."


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,2,abc", "CSV row 1, column 3: 'abc' is not a number."),
        ("1,2,1.2.3", "CSV row 1, column 3: '1.2.3' is not a number."),
        ("1,2,--1", "CSV row 1, column 3: '--1' is not a number."),
        ("1,2,1e", "CSV row 1, column 3: '1e' is not a number."),
        ("1,2,1-2", "CSV row 1, column 3: '1-2' is not a number."),
        ("1,2,.", "CSV row 1, column 3: '.' is not a number."),
        ("1,2,1e5.5", "CSV row 1, column 3: '1e5.5' is not a number."),
    ],
)
def test_errors_in_large_bodies(row: str, message: str) -> None:
    lines = ["1,2,3"] * 1000  # over _SMALL_BODY: through the plain tier
    lines[250] = row
    body = "\n".join(lines).encode()
    with pytest.raises(DataError, match=re.escape(message.replace("row 1", "row 251"))):
        decode_csv(body)


def test_blank_and_ragged_rows_in_large_bodies() -> None:
    lines = ["1,2,3"] * 1000  # over _SMALL_BODY: through the plain tier
    with pytest.raises(DataError, match=re.escape("CSV row 101 is blank")):
        decode_csv("\n".join([*lines[:100], "", *lines[100:]]).encode())
    with pytest.raises(DataError, match=re.escape("CSV row 5 has 4 columns; expected 3")):
        decode_csv("\n".join([*lines[:4], "1,2,3,4", *lines[4:]]).encode())
    # two ragged rows whose counts compensate each other are still found
    with pytest.raises(DataError, match=re.escape("CSV row 3 has 2 columns; expected 3")):
        decode_csv("\n".join([*lines[:2], "1,2", "1,2,3,4", *lines[2:]]).encode())
    with pytest.raises(DataError, match=re.escape("CSV row 1001 is blank")):
        decode_csv("\n".join([*["5.25"] * 1000, " ", *["5.25"] * 1000]).encode())


# --------------------------------------------------------------------------- fast tiers agree

_GOOD_TOKENS = [
    "0",
    "-0",
    "7",
    "-12.5",
    "3.",
    ".25",
    "+1",
    "1e5",
    "-2.5E-3",
    "6e+2",
    "123456789012345",
    "0.000001234",
    "1.7976931348623157e308",
    "4.9e-324",
    "nan",
    "-inf",
    "Infinity",
    "",
    " ",
    " 1.5",
    "2 ",
    "\t-3\t",
    "12345678901234567890",
    "0.1234567890123456789",
]
_BAD_TOKENS = [
    "abc",
    "1.2.3",
    "--1",
    "+-1",
    "1e",
    "e5",
    ".",
    "-",
    "+",
    "1 2",
    "0x1F",
    "1_0",
    "nan(1)",
    "infinit",
    "1e5e",
    "1e+",
    "1.e",
    "\x00",
    "1,",
    "é",
    "١",
]
_ALPHABET = list("0123456789+-.eE naif\t")


def tiers(body: bytes) -> tuple[np.ndarray | DataError, list[np.ndarray | None]]:
    """The reference tier's result or error, and the fast tiers' results (plain, numpy)."""
    text = body.rstrip(b" \t\r\x0b\x0c\n")
    try:
        reference: np.ndarray | DataError = csv._decode_exact(text)
    except DataError as error:
        reference = error
    return reference, [csv._decode_plain(text), csv._decode_numpy(text)]


def assert_tiers_agree(body: bytes) -> None:
    reference, fast_tiers = tiers(body)
    for fast in fast_tiers:
        if isinstance(reference, DataError):
            assert fast is None, body[:200]
        elif fast is not None:  # a fast tier may defer, but never differ
            assert same(fast, reference), body[:200]
    try:
        decoded: np.ndarray | DataError = decode_csv(body)
    except DataError as error:
        decoded = error
    if isinstance(reference, DataError):
        assert isinstance(decoded, DataError) and str(decoded) == str(reference)
    else:
        assert isinstance(decoded, np.ndarray) and same(decoded, reference)


@pytest.mark.parametrize("n_rows", [1, 300])
@pytest.mark.parametrize(
    "row", ["1,-2.5,3e-05", "0.30000000000000004,1e300", "1,,3", ",2,", " 1 ,\t2, 3", "nan,-inf"]
)
def test_numpy_decides_valid_bodies_without_blank_fields(row: str, n_rows: int) -> None:
    body = "\n".join([row] * n_rows).encode()
    fast = csv._decode_numpy(body)
    assert fast is not None and same(fast, csv._decode_exact(body))


def plain_token(rng: np.random.Generator, longest: int) -> str:
    """A random plain decimal (optional sign, digits with leading zeros, optional dot) or ''."""
    if rng.random() < 0.05:
        return ""
    sign = str(rng.choice(["", "", "-", "+"]))
    whole = "".join(rng.choice(list("0123456789"), size=rng.integers(0, longest + 1)))
    fraction = "".join(rng.choice(list("0123456789"), size=rng.integers(0, longest + 1)))
    if not whole + fraction:
        whole = "0"
    if rng.random() < 0.3:
        return sign + whole + fraction
    return sign + whole + "." + fraction


def fits_plain_tier(tokens: list[list[str]]) -> bool:
    """Whether every field is plain, and empty ones are neither blank lines nor all."""
    fields = [token for row in tokens for token in row]
    digits = [token.lstrip("+-").replace(".", "") for token in fields if token]
    if not digits or (len(tokens[0]) == 1 and len(digits) < len(fields)):
        return False
    return all(len(t) <= csv._MAX_WIDTH for t in fields) and max(map(int, digits)) <= 2**53


@pytest.mark.parametrize(
    "row",
    [
        "17.99,10.38,122.8,1001.0,0.1184,0.2776,0.3001,0.1471,0.2419,0.07871",
        "-0,+0,-0.0,.5,5.,-.5,+5.,007,-007.250,0",
        ",1,,-2.5,",
        "123456789012345,-1.23456789012345,0.00000000000001,9007199254740992",
        "999999999,-99999.999,+.9999999,0.0000001",  # the widest fields 32-bit steps take
        "7",
    ],
)
@pytest.mark.parametrize("n_rows", [1, 2, 300])
def test_plain_tier_decides_plain_decimals(row: str, n_rows: int) -> None:
    body = "\n".join([row] * n_rows).encode()
    plain = csv._decode_plain(body)
    assert plain is not None
    expected = [float(t) if t else math.nan for t in row.split(",")]
    assert same(plain, np.array([expected] * n_rows))
    for ending in (b"\n", b"\r\n"):
        assert same(decode_csv(body.replace(b"\n", ending) + ending), plain)


def test_plain_tier_matches_float_on_random_bodies() -> None:
    rng = np.random.default_rng(5)
    for _ in range(400):
        n_rows, n_cols = int(rng.integers(1, 40)), int(rng.integers(1, 8))
        longest = int(rng.choice([7, 9, 10]))  # 7 always fits; 9 and 10 reach 2**53 and more
        tokens = [[plain_token(rng, longest) for _ in range(n_cols)] for _ in range(n_rows)]
        body = "\n".join(",".join(row) for row in tokens).encode()
        plain = csv._decode_plain(body)
        # it decides exactly when every field fits: the guards refuse no more than they must
        assert (plain is not None) == fits_plain_tier(tokens)
        if plain is not None:
            expected = [[float(t) if t else math.nan for t in row] for row in tokens]
            assert same(plain, np.array(expected)), body
        assert_tiers_agree(body)


# Each body passes every guard of the plain tier but one, and reads wrong without it.
@pytest.mark.parametrize(
    "body",
    [
        b"1e5,1.2.3",  # a byte that is not a digit, sign, dot, comma or newline
        b"1,2\n3,4,5\n6",  # ragged rows whose field count is a multiple of the row count
        b"1,10000000000000000000",  # wider than an int64's 18 digits
        b"1-2,1.2.3",  # a sign that does not lead its field
        b"1.2.3",  # two dots in one field
        b",,\n,,",  # only empty fields (NaN)
        b"1\n\n2",  # a blank line
        b"-,1",  # no digit
        b"79444914.049639690,87.444527042777991",  # mantissa above 2**53: rounded twice
    ],
)
def test_plain_tier_defers_what_it_cannot_parse(body: bytes) -> None:
    assert csv._decode_plain(body) is None
    assert_tiers_agree(body)


@pytest.mark.parametrize("byte", [bytes([b]) for b in range(256)])
def test_tiers_agree_on_every_byte_in_a_number(byte: bytes) -> None:
    for token in (byte, b"1" + byte, byte + b"1", b"1" + byte + b"5", b"nan" + byte, b"-" + byte):
        for body in (token + b",2", b"2," + token, b"3,4\n" + token + b",2", b"3\n" + token):
            assert_tiers_agree(body)


def test_tiers_agree_on_random_fields() -> None:
    rng = np.random.default_rng(1)
    for _ in range(3000):
        token = "".join(rng.choice(_ALPHABET, size=rng.integers(1, 9)))
        accepted = bool(csv._NUMBER.fullmatch(token.strip(" \t").encode()))
        if not token.strip(" \t"):
            accepted = True
        # the token in every column position of a small and of a large body
        for n_rows in (1, 300):
            body = "\n".join([f"1,{token},2"] * n_rows).encode()
            assert_tiers_agree(body)
            reference, _ = tiers(body)
            assert isinstance(reference, np.ndarray) == accepted, token


def test_tiers_agree_on_random_tables_and_corruptions() -> None:
    rng = np.random.default_rng(2)
    formats = ["{:.6g}", "{!r}", "{:.3e}", "{:.0f}", "{:.4f}", " {:.6g} "]
    for trial in range(60):
        n_rows, n_cols = int(rng.integers(1, 400)), int(rng.integers(1, 12))
        values = rng.normal(size=(n_rows, n_cols)) * 10.0 ** rng.integers(-8, 8)
        spec = formats[trial % len(formats)]
        rows = [[spec.format(float(v)) for v in row] for row in values]
        for _ in range(int(rng.integers(0, 20))):  # sprinkle valid oddities
            rows[rng.integers(n_rows)][rng.integers(n_cols)] = str(rng.choice(_GOOD_TOKENS))
        assert_tiers_agree("\n".join(",".join(r) for r in rows).encode())
        corrupt = [list(r) for r in rows]
        row, col = int(rng.integers(n_rows)), int(rng.integers(n_cols))
        kind = trial % 4
        if kind == 0:
            corrupt[row][col] = str(rng.choice(_BAD_TOKENS))
        elif kind == 1:
            corrupt[row].append("1")
        elif kind == 2 and n_cols > 1:
            corrupt[row].pop()
        else:
            corrupt.insert(row, [])
        body = "\n".join(",".join(r) for r in corrupt).encode()
        assert_tiers_agree(body)


# --------------------------------------------------------------------------- encoding


def test_encode_csv() -> None:
    body = encode_csv(
        {
            "predicted_label": np.array([1, 0, 2]),
            "probabilities": np.array([[0.1, 0.9], [0.5, 0.5], [1e-20, 1.0]], np.float32),
            "score": np.array([0.1 + 0.2, np.nan, -np.inf]),
            "flag": np.array([True, False, True]),
        }
    )
    assert body == (b"1,0.1,0.9,0.30000000000000004,1\n0,0.5,0.5,nan,0\n2,1e-20,1.0,-inf,1\n")


def test_encode_csv_strings_are_quoted_when_needed() -> None:
    body = encode_csv({"label": np.array(["cat", "a,b", 'say "hi"', "two\nlines"])})
    assert body == b'cat\n"a,b"\n"say ""hi"""\n"two\nlines"\n'


def test_encode_csv_round_trips() -> None:
    rng = np.random.default_rng(3)
    columns = {"a": rng.normal(size=50), "b": rng.normal(size=(50, 3)).astype(np.float32)}
    decoded = decode_csv(encode_csv(columns))
    assert same(decoded[:, 0], columns["a"])
    assert np.array_equal(decoded[:, 1:].astype(np.float32), columns["b"])


def test_encode_csv_errors_and_empty() -> None:
    # Shapes were checked by prediction_columns (tests/unit/test_format_registry.py).
    assert encode_csv({}) == b""
    assert encode_csv({"a": np.array([])}) == b""
    with pytest.raises(DataError, match="dtype complex128"):
        encode_csv({"a": np.zeros(2, complex)})


def test_split_label() -> None:
    labels, features = split_label(np.array([[1.0, 2.0, 3.0], [0.0, 5.0, 6.0]]))
    assert labels.tolist() == [1, 0] and features.tolist() == [[2, 3], [5, 6]]
    with pytest.raises(DataError, match="has 1 column"):
        split_label(np.array([[1.0], [2.0]]))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_python_floats_are_the_shortest_repr_of_the_dtype(dtype: type) -> None:
    rng = np.random.default_rng(4)
    bits = rng.integers(0, 2 ** (8 * np.dtype(dtype).itemsize), 20_000)
    values = bits.astype(f"u{np.dtype(dtype).itemsize}").view(dtype)  # every kind of value
    values = np.concatenate([values, np.array([0.1, -0.0, 1e-7, 3.0, np.inf], dtype)])
    got = csv.python_floats(values.reshape(-1, 5))
    flat = [v for row in got for v in row]
    with np.errstate(all="ignore"):
        expected = [float(text) for text in values.astype(str)]
    assert [repr(v) for v in flat] == [repr(v) for v in expected]
    back = np.array(flat).astype(dtype)
    assert np.array_equal(back, values, equal_nan=True)


def test_python_floats_small_arrays_match_large() -> None:
    values = np.array([0.1, 1 / 3, 2.5e-30, 16777217, -7.0], np.float32)
    small = csv.python_floats(values)
    large = csv.python_floats(np.tile(values, 20))
    assert [repr(v) for v in small] == [repr(v) for v in large[:5]]
    assert [repr(v) for v in small] == ["0.1", "0.33333334", "2.5e-30", "16777216.0", "-7.0"]


def test_python_floats_keeps_float64() -> None:
    assert csv.python_floats(np.array([0.1 + 0.2, 1e300])) == [0.30000000000000004, 1e300]
