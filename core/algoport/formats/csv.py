"""``text/csv``: numbers only, no header, one record per line.

Decoding has three tiers that accept exactly the same language:

* ``_decode_exact`` is the reference: it walks rows and fields in Python, accepts a field
  when it matches ``_NUMBER`` (after trimming ASCII whitespace), and is the only tier
  that raises, so every error names the first bad row and column.
* ``_decode_plain`` parses bodies of ``_SMALL_BODY`` bytes or more whose fields are all plain
  decimals (``-12.5``, ``007``, ``.5``; at most ``_MAX_WIDTH`` characters and 2**53 as digits)
  or empty, with whole-array numpy operations, several times faster than ``np.loadtxt``.
* ``_decode_numpy`` hands any other body to numpy's C parsers (``np.loadtxt``; a one-line
  body goes straight to numpy's string-to-float cast, whose fixed cost is lower).

The two fast tiers return ``None`` instead of raising, and the caller then runs the next
tier, so an error is always worded the same and no fast tier can accept what the
reference refuses.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Mapping
from typing import Any, Final, cast

import numpy as np
import numpy.typing as npt

from algoport.errors import DataError

__all__ = ["decode_csv", "encode_csv", "split_label"]

_BOM: Final = b"\xef\xbb\xbf"
# Whitespace allowed around a value: ASCII only, newline excluded (it ends the row).
_SPACE: Final = b" \t\r\x0b\x0c"
_NUMBER: Final = re.compile(
    rb"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?|nan|inf(?:inity)?)",
    re.IGNORECASE,
)
# Spaces np.loadtxt trims around a number and the reference does not (and, not ASCII,
# \x85 and \xa0).
_ASCII_UNICODE_SPACES: Final = (b"\x1c", b"\x1d", b"\x1e", b"\x1f")
_SHOWN_CHARS: Final = 40
_FEW_FLOATS: Final = 32
_MAX_POW10: Final = 22  # 10**22 is the largest power of ten a float64 holds exactly
_POW10: Final = 10.0 ** np.arange(_MAX_POW10 + 1)

# Below this size numpy's parsers cost less than the plain tier's fixed ~60 numpy calls.
_SMALL_BODY: Final = 3072
_PLAIN_BYTES: Final = b"0123456789.+-,\n"
_MAX_WIDTH: Final = 18  # an int64 holds 18 digits
_UINT32_DIGITS: Final = 9  # and a uint32 nine
_EXACT_MANTISSA: Final = 2**53  # float64 holds every integer up to 2**53 exactly


def decode_csv(
    body: bytes | bytearray | memoryview, *, dtype: npt.DTypeLike = np.float64
) -> npt.NDArray[np.floating]:
    """Parse a CSV body into a 2-D float array (rows × columns).

    Empty fields (and fields of only spaces) become NaN, a missing value. Tolerates a
    UTF-8 byte order mark, ``\\r\\n`` line ends, spaces around values and blank lines at the
    end. A blank line before the last row is an error: batch transform needs one output line
    per input line, so a line is never skipped silently. Values are parsed as float64 (the
    same correctly rounded result as Python's ``float``) and then cast to ``dtype``.

    Raises:
        DataError: empty body, blank row, ragged row or a value that is not a number.
    """
    out_dtype = np.dtype(dtype)
    if out_dtype.kind != "f":
        raise TypeError(f"decode_csv dtype must be a floating type, not {out_dtype}.")
    text = bytes(body)
    if text.startswith(_BOM):
        text = text[len(_BOM) :]
    if b"\r" in text:
        text = text.replace(b"\r\n", b"\n")
    text = text.rstrip(_SPACE + b"\n")
    if not text:
        raise DataError("CSV body is empty; expected at least one row of comma-separated numbers.")
    array = _decode_plain(text) if len(text) >= _SMALL_BODY else None
    if array is None:
        array = _decode_numpy(text)
    if array is None:
        array = _decode_exact(text)
    return array.astype(out_dtype, copy=False)


def split_label(
    array: npt.NDArray[np.floating],
) -> tuple[npt.NDArray[np.floating], npt.NDArray[np.floating]]:
    """Split training CSV rows into (labels, features): the label is the first column."""
    if array.ndim != 2 or array.shape[1] < 2:
        raise DataError(
            f"CSV training data has {array.shape[-1] if array.ndim else 0} column(s); expected "
            "the label in column 1 followed by at least one feature column."
        )
    return array[:, 0], array[:, 1:]


# --------------------------------------------------------------------------- reference


def _decode_exact(text: bytes) -> npt.NDArray[np.float64]:
    lines = text.split(b"\n")
    n_cols = 0
    values: list[float] = []
    for row, line in enumerate(lines, 1):
        if not line.strip(_SPACE):
            expected = f"{n_cols} comma-separated values" if n_cols else "comma-separated values"
            raise DataError(
                f"CSV row {row} is blank; expected {expected}. Blank lines are allowed only "
                "after the last row, so that output lines stay aligned with input lines."
            )
        fields = line.split(b",")
        if row == 1:
            n_cols = len(fields)
        elif len(fields) != n_cols:
            raise DataError(
                f"CSV row {row} has {len(fields)} columns; expected {n_cols} like row 1."
            )
        for col, field in enumerate(fields, 1):
            stripped = field.strip(_SPACE)
            if not stripped:
                values.append(math.nan)
            elif _NUMBER.fullmatch(stripped):
                values.append(float(stripped))
            else:
                raise DataError(f"CSV row {row}, column {col}: {_show(stripped)} is not a number.")
    return np.array(values, dtype=np.float64).reshape(len(lines), n_cols)


def _show(value: bytes) -> str:
    shown = value.decode("utf-8", "backslashreplace")
    if len(shown) > _SHOWN_CHARS:
        shown = shown[: _SHOWN_CHARS - 3] + "..."
    return repr(shown)


# --------------------------------------------------------------------------- plain decimals


def _decode_plain(text: bytes) -> npt.NDArray[np.float64] | None:
    """The body parsed as plain decimals, or None where another tier must decide.

    Each value is mantissa / 10**digits_after_dot with mantissa <= 2**53 and at most 17
    digits after the dot: both are exact float64s, so the one rounding of the division gives
    the correctly rounded value (Clinger's fast path), the same as ``float``.
    """
    # Most bodies are written one way: a first row that cannot be plain spares the whole pass.
    first_row = text.split(b"\n", 1)[0]
    if first_row.translate(None, _PLAIN_BYTES) or max(map(len, first_row.split(b","))) > _MAX_WIDTH:
        return None
    if text.translate(None, _PLAIN_BYTES):
        return None
    raw = np.frombuffer(text, np.uint8)
    newlines = np.flatnonzero(raw == ord("\n"))
    padded = (b"," * _MAX_WIDTH + text + b",").replace(b"\n", b",")
    buf = np.frombuffer(padded, np.uint8)
    commas = np.flatnonzero(buf == ord(","))[_MAX_WIDTH - 1 :]
    ends = commas[1:]  # each field's end; it starts after the comma before
    lengths = ends - commas[:-1] - 1
    width = int(lengths.max())
    n_rows = len(newlines) + 1
    n_cols = len(ends) // n_rows
    # Every row ends at a newline: the slice has n_rows - 1 ends only if all rows are n_cols.
    if not 0 < width <= _MAX_WIDTH or not np.array_equal(
        ends[n_cols - 1 : -1 : n_cols] - _MAX_WIDTH, newlines
    ):
        return None
    # Each field's last `width` bytes, one row each (a strided view: one copy of the body),
    # transposed so that each step below runs over contiguous memory.
    windows = np.ndarray((len(buf) - width + 1,), np.dtype((np.void, width)), buf, 0, (1,))
    cells = windows[ends - width].view(np.uint8).reshape(-1, width).T.copy()
    digits = cells - np.uint8(ord("0"))
    is_digit = digits < 10
    digits *= is_digit
    # Horner's rule along the cells: a digit shifts the mantissa, a dot or sign keeps it, and
    # the comma before the field (or between earlier fields in the window) clears it.
    shift = (cells != ord(",")).view(np.uint8) + is_digit.view(np.uint8) * np.uint8(9)
    # Nine digits fit 32 bits: half the memory each step walks (1000 rows: ~20 % faster).
    # The byte columns are widened a step at a time: widened whole, they were two arrays
    # of ~1 MB a request that the allocator mapped afresh each time (~530 page faults).
    kind = np.dtype(np.uint32 if width <= _UINT32_DIGITS else np.int64)
    mantissa: npt.NDArray[np.integer] = np.zeros(len(ends), kind)
    trailing_digits = np.zeros(len(ends), np.uint8)
    for column in range(width):
        mantissa *= shift[column]
        mantissa += digits[column]
        trailing_digits += 1
        trailing_digits *= is_digit[column]
    empty = lengths == 0  # NaN, unless a row is blank
    first = buf[ends - lengths]
    signed = (first == ord("+")) | (first == ord("-"))
    dotted = trailing_digits < lengths - signed  # a byte other than a digit or leading sign
    if (
        np.count_nonzero(signed) != np.count_nonzero((raw == ord("+")) | (raw == ord("-")))
        or np.count_nonzero(dotted) != np.count_nonzero(raw == ord("."))  # one dot a field
        or np.any((lengths - signed - dotted == 0) & ~empty)  # a digit in every other field
        or (n_cols == 1 and np.any(empty))  # a blank line
        or mantissa.max() > _EXACT_MANTISSA
    ):
        return None
    values: npt.NDArray[np.float64] = mantissa / _POW10[trailing_digits * dotted]
    np.negative(values, out=values, where=first == ord("-"))
    values[empty] = np.nan
    return values.reshape(n_rows, n_cols)


# --------------------------------------------------------------------------- numpy


def _decode_numpy(text: bytes) -> npt.NDArray[np.float64] | None:
    """The body parsed by numpy, or None where the reference tier must decide."""
    try:
        return _numpy_parse(text)
    except ValueError:
        try:
            return _numpy_parse(_empty_fields_as_nan(text))
        except ValueError:
            return None  # a bad value, a ragged row or a field of only spaces


def _numpy_parse(text: bytes) -> npt.NDArray[np.float64] | None:
    """The body as numpy reads it; None where numpy would read it unlike the reference."""
    if b"\n" not in text:  # one line: numpy's cast from bytes costs less than loadtxt
        if b"_" in text:  # the cast calls float(), which takes 1_000
            return None
        return np.array(text.split(b","), dtype=np.float64).reshape(1, -1)
    if not text.isascii() or any(space in text for space in _ASCII_UNICODE_SPACES):
        return None
    array = np.loadtxt(io.BytesIO(text), dtype=np.float64, delimiter=",", comments=None, ndmin=2)
    newlines = np.count_nonzero(np.frombuffer(text, np.uint8) == ord("\n"))
    return array if len(array) == newlines + 1 else None  # np.loadtxt skips blank lines


def _empty_fields_as_nan(text: bytes) -> bytes:
    """The text with ``nan`` written into every empty field, which numpy refuses."""
    framed = b"\n" + text + b"\n"
    # ",,,," becomes ",nan,,nan," in one pass: the second fills the fields between.
    framed = framed.replace(b",,", b",nan,").replace(b",,", b",nan,")
    framed = framed.replace(b"\n,", b"\nnan,").replace(b",\n", b",nan\n")
    return framed[1:-1]


# --------------------------------------------------------------------------- encoding


def encode_csv(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """One line per record: the columns' values in order, vector columns flattened.

    Each column has shape (n,) or (n, k), as ``prediction_columns`` checked. Integers and
    booleans are written without a decimal point (booleans as 1/0), floats in shortest
    round-trip form (``repr``; float32 values in their own shortest form, so 0.1f is
    ``0.1``), strings as they are, quoted when they contain a comma, quote or line break.
    Every line ends with ``\\n``.
    """
    cells: list[list[str]] = []
    for array in (np.asarray(column) for column in columns.values()):
        if array.ndim == 1:
            cells.append(_csv_cells(array))
        else:
            cells.extend(_csv_cells(array[:, j]) for j in range(array.shape[1]))
    if not cells or not cells[0]:
        return b""
    lines = cells[0] if len(cells) == 1 else [",".join(row) for row in zip(*cells, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def python_floats(array: npt.NDArray[Any]) -> list[Any]:
    """``array.tolist()`` whose floats ``repr`` in the shortest form of the array's dtype.

    float32 0.1 becomes the Python float 0.1, not 0.10000000149011612: each value becomes
    the float64 nearest to the shortest decimal that reads back as the same float32.
    """
    if array.dtype.itemsize >= 8:
        return array.astype(np.float64, copy=False).tolist()  # type: ignore[no-any-return]
    if array.size <= _FEW_FLOATS:  # numpy's repr per value; the search below costs ~25 µs
        return cast(list[Any], array.astype(str).astype(np.float64).tolist())
    with np.errstate(invalid="ignore", over="ignore"):  # signalling NaNs, huge candidates
        narrow = array.ravel()
        wide = narrow.astype(np.float64)
        index = np.flatnonzero(np.isfinite(wide) & (wide != 0))
        magnitude = np.floor(np.log10(np.abs(wide[index])))
        # Rounding to 1..9 significant digits must scale by exact powers of ten (<= 10**22).
        in_range = (magnitude >= 8 - _MAX_POW10) & (magnitude <= _MAX_POW10)
        slow = index[~in_range]
        index = index[in_range]
        scale = (np.arange(9)[:, None] - magnitude[in_range]).astype(np.intp)  # (digits, n)
        power = _POW10[np.abs(scale)]
        values = wide[index]
        candidates = np.where(
            scale >= 0, np.rint(values * power) / power, np.rint(values / power) * power
        )
        exact = candidates.astype(narrow.dtype) == narrow[index]
        digits = exact.argmax(axis=0)  # the fewest digits that read back as the same value
        found = exact[digits, np.arange(index.size)]
        wide[index[found]] = candidates[digits[found], np.flatnonzero(found)]
        slow = np.concatenate([slow, index[~found]])
        if slow.size:  # e.g. subnormals: numpy's own shortest repr
            wide[slow] = narrow[slow].astype(str).astype(np.float64)
    return cast(list[Any], wide.reshape(array.shape).tolist())


def _csv_cells(column: npt.NDArray[np.generic]) -> list[str]:
    kind = column.dtype.kind
    if kind == "f":
        return list(map(repr, python_floats(column)))
    if kind in "iu":
        return list(map(str, column.tolist()))
    if kind == "b":
        return list(map(str, column.astype(np.uint8).tolist()))
    if kind in "USO":
        return [_csv_text(value) for value in column.tolist()]
    raise DataError(f"CSV output cannot hold values of dtype {column.dtype}.")


def _csv_text(value: object) -> str:
    text = value.decode() if isinstance(value, bytes) else str(value)
    if any(c in text for c in ',"\n\r'):
        return '"' + text.replace('"', '""') + '"'
    return text
