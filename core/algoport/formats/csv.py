"""``text/csv``: numbers only, no header, one record per line.

Decoding has three tiers that accept exactly the same language:

* ``_decode_exact`` is the reference: it walks rows and fields in Python, accepts a field
  when it matches ``_NUMBER`` (after trimming ASCII whitespace), and is the only tier
  that raises, so every error names the first bad row and column.
* ``_decode_small`` (bodies under ``_SMALL_BODY`` bytes) calls ``float`` per field, whose
  grammar on ASCII bytes is ``_NUMBER`` plus underscores, which it refuses up front.
* ``_decode_vectorised`` parses plain decimals (``-12.5``, ``3e-05``) with whole-array numpy
  operations; fields of 16 to 32 characters without an exponent, such as the 17 significant
  digits of a float written in full, get a second vectorised pass in double-double
  arithmetic. Every other field (``nan``, spaces, anything odd), and the rare long one too
  close to halfway between two floats to round with certainty, goes to the reference field
  parser.

The two fast tiers return ``None`` instead of raising, and the caller then runs the
reference tier, so a fast tier can never word an error differently or accept bad data.
"""

from __future__ import annotations

import functools
import math
import re
import sys
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
# Below this size the vectorised tier's fixed cost (~100 numpy calls) exceeds float()'s.
_SMALL_BODY: Final = 4096
_SHOWN_CHARS: Final = 40
_FEW_FLOATS: Final = 32

# Vectorised tier: each field is read as the 16 bytes that end at its separator.
_WINDOW: Final = 16
_LAST_COL: Final = _WINDOW - 1  # the separator's column
_MAX_POW10: Final = 22  # 10**22 is the largest power of ten a float64 holds exactly
_LITTLE_ENDIAN: Final = sys.byteorder == "little"


def decode_csv(
    body: bytes | bytearray | memoryview, *, dtype: npt.DTypeLike = np.float64
) -> npt.NDArray[np.floating]:
    """Parse a CSV body into a 2-D float array (rows × columns).

    Empty fields (and fields of only spaces) become NaN, XGBoost's missing value. Tolerates a
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
    array: npt.NDArray[np.float64] | None
    if len(text) < _SMALL_BODY or not _LITTLE_ENDIAN:
        array = _decode_small(text)
    else:
        array = _decode_vectorised(text)
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


def _field_value(field: bytes, *, single_column: bool) -> float | None:
    """The reference parse of one field, or None where the reference tier would raise."""
    stripped = field.strip(_SPACE)
    if not stripped:
        return None if single_column else math.nan  # a blank line in a 1-column file
    if _NUMBER.fullmatch(stripped):
        return float(stripped)
    return None


# --------------------------------------------------------------------------- small bodies


def _decode_small(text: bytes) -> npt.NDArray[np.float64] | None:
    if b"_" in text:  # float() accepts 1_000; the reference does not
        return None
    if b"\n" in text:
        rows = text.split(b"\n")
        n_cols = rows[0].count(b",") + 1
        fields: list[bytes] = []
        for row in rows:
            parts = row.split(b",")
            if len(parts) != n_cols:
                return None
            fields += parts
    else:
        rows = [text]
        fields = text.split(b",")
        n_cols = len(fields)
    try:
        values = list(map(float, fields))
    except ValueError:
        if n_cols == 1:
            return None  # a blank line, or a bad value: the reference decides
        try:
            values = [float(field) if field else math.nan for field in fields]
        except ValueError:  # also whitespace-only fields: the reference makes them NaN
            return None
    return np.array(values, dtype=np.float64).reshape(len(rows), n_cols)


# --------------------------------------------------------------------------- large bodies


@functools.cache
def _tables() -> _Tables:
    return _Tables()


class _Tables:
    """Lookup tables for the vectorised tier, built on first use."""

    def __init__(self) -> None:
        masks = np.arange(1 << _WINDOW, dtype=np.float64)
        # Column of the highest set bit of a 16-bit mask; _NO_BIT for 0.
        self.high_bit: npt.NDArray[np.int16] = np.full(1 << _WINDOW, _NO_BIT, dtype=np.int16)
        self.high_bit[1:] = np.frexp(masks[1:])[1] - 1
        # Columns from the dot to the separator, for values that end there; 0 without a dot.
        self.dot_shift: npt.NDArray[np.int16] = np.clip(_LAST_COL - self.high_bit, 0, _LAST_COL)
        lengths = np.arange(_WINDOW)
        # Bits of a field of each length (it ends at column 14) and of its first column.
        self.field_bits: npt.NDArray[np.int32] = (
            (1 << _LAST_COL) - (1 << (_LAST_COL - lengths))
        ).astype(np.int32)
        self.first_bit: npt.NDArray[np.int32] = (1 << (_LAST_COL - lengths)).astype(np.int32)
        self.pow10: npt.NDArray[np.float64] = 10.0 ** np.arange(_MAX_POW10 + 1, dtype=np.float64)
        self.pow10_int: npt.NDArray[np.uint64] = np.array(
            [10**k for k in range(_MAX_DIGITS + 1)], dtype=np.uint64
        )
        # 10**(k-1), and 1 for k = 0: the weight of the dot, k columns before the end.
        self.dot_weight: npt.NDArray[np.float64] = np.concatenate([[1.0], self.pow10[:-1]])
        # Index e + _MAX_POW10 (+ _SIGNED for a negative value) of value * mul / div.
        powers = np.arange(-_MAX_POW10, _MAX_POW10 + 1)
        mul = 10.0 ** np.maximum(powers, 0)
        self.mul: npt.NDArray[np.float64] = np.concatenate([mul, -mul])
        self.div: npt.NDArray[np.float64] = np.tile(10.0 ** np.maximum(-powers, 0), 2)


_NO_BIT: Final = 99  # far enough left that "end column - position" is negative
_SIGNED: Final = 2 * _MAX_POW10 + 1


def _bitmask(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.int32]:
    """One bit per column (bit j = column j) for a C-contiguous (n, 16) boolean array."""
    packed = np.packbits(flags.ravel(), bitorder="little").view(np.dtype("<u2"))
    return packed.astype(np.int32)


def _digit_words(digits: npt.NDArray[np.uint8]) -> npt.NDArray[np.uint64]:
    """Each 8 digit values of an (n, 8k) array, in place, as one number: (n, k) uint64.

    SWAR: three multiply-shift steps merge 2, 4, then 8 digits per 64-bit word, the first
    byte being the most significant digit.
    """
    words = digits.view(np.uint64)
    for multiplier, shift, keep in (
        (10 << 8 | 1, 8, 0x00FF00FF00FF00FF),
        (100 << 16 | 1, 16, 0x0000FFFF0000FFFF),
        (10_000 << 32 | 1, 32, None),
    ):
        words *= np.uint64(multiplier)
        words >>= np.uint64(shift)
        if keep is not None:
            words &= np.uint64(keep)
    return words


def _positional_digits(digits: npt.NDArray[np.uint8]) -> npt.NDArray[Any]:
    """Each (n, 16) row of digit values read as one number: column 14 the units.

    Column 15 must hold 0.
    """
    words = _digit_words(digits)
    value = words[:, 0] * 1e7
    value += words[:, 1] / 10
    return value


def _remainder(value: npt.NDArray[Any], divisor: npt.NDArray[Any]) -> npt.NDArray[Any]:
    # Exact for integers below 2**50 and powers of ten (np.fmod is exact too, but 100x slower).
    remainder: npt.NDArray[Any] = value - np.floor(value / divisor) * divisor
    return remainder


def _padded(text: bytes) -> bytes:
    """The text with room before it for any field's window, and a final separator."""
    return bytes(_LONG_WINDOW) + text + b"\n"


def _windows(buffer: bytes, width: int, *, end: int) -> npt.NDArray[np.void]:
    """Overlapping views of a ``_padded`` buffer: view ``i`` is ``text[i + end - width : i + end]``.

    Indexed by separator offsets, ``end=1`` ends each window at the separator (short
    fields), ``end=0`` at the field's last character (long fields).
    """
    first = _LONG_WINDOW + end - width
    count = len(buffer) - _LONG_WINDOW
    return np.ndarray((count,), dtype=f"V{width}", buffer=buffer, offset=first, strides=(1,))


def _decode_vectorised(text: bytes) -> npt.NDArray[np.float64] | None:
    buffer = _padded(text)
    chars_1d = np.frombuffer(buffer, np.uint8, offset=_LONG_WINDOW)
    seps = np.flatnonzero(chars_1d <= 44)  # ',' is 44; '\n', '+', spaces are below
    sep_chars = chars_1d[seps]
    is_newline = sep_chars == 10
    is_sep = is_newline | (sep_chars == 44)
    if not is_sep.all():
        seps, is_newline = seps[is_sep], is_newline[is_sep]
    n_fields = seps.size
    n_cols = int(np.argmax(is_newline)) + 1
    n_rows = n_fields // n_cols
    if (
        n_rows * n_cols != n_fields
        or np.count_nonzero(is_newline) != n_rows
        or not is_newline[n_cols - 1 :: n_cols].all()
    ):
        return None  # ragged or blank rows: the reference tier names the row
    windows = _windows(buffer, _WINDOW, end=1)
    present = _Present(text)
    result = np.empty(n_fields)
    ok = np.empty(n_fields, dtype=bool)
    empty = np.empty(n_fields, dtype=bool)
    all_lengths = np.empty_like(seps)
    all_lengths[0] = seps[0]
    np.subtract(seps[1:], seps[:-1] + 1, out=all_lengths[1:])
    for start in range(0, n_fields, _CHUNK):
        chunk = slice(start, start + _CHUNK)
        lengths = all_lengths[chunk]
        is_long = (lengths > _LAST_COL) & (lengths <= _LONG_WINDOW)
        if not is_long.any():
            _parse_fields(
                windows, seps[chunk], lengths, present, result[chunk], ok[chunk], empty[chunk]
            )
        else:
            long, short = np.flatnonzero(is_long), np.flatnonzero(~is_long)
            if short.size:
                parts = np.empty(short.size), np.empty(short.size, bool), np.empty(short.size, bool)
                _parse_fields(windows, seps[chunk][short], lengths[short], present, *parts)
                result[start + short], ok[start + short], empty[start + short] = parts
            ok[start + long] = empty[start + long] = False
            _parse_long_fields(
                _windows(buffer, _LONG_WINDOW, end=0),
                seps[chunk][long],
                lengths[long],
                start + long,
                result,
                ok,
            )
        if not start and np.count_nonzero(~(ok[chunk] | empty[chunk])) > lengths.size // 16:
            return _decode_small(text)  # mostly unusual fields: float() on all is faster

    if empty.any():
        if n_cols == 1:
            return None  # a blank line
        result[empty] = math.nan
        ok |= empty
    fallback = np.flatnonzero(~ok)
    if fallback.size > n_fields // 16:
        return _decode_small(text)  # mostly unusual fields: float() on all is faster
    if fallback.size:
        ends = seps[fallback]
        begins = np.where(fallback > 0, seps[fallback - 1] + 1, 0)
        values: list[float] = []
        for begin, end in zip(begins.tolist(), ends.tolist(), strict=True):
            parsed = _field_value(text[begin:end], single_column=n_cols == 1)
            if parsed is None:
                return None
            values.append(parsed)
        result[fallback] = values
    return result.reshape(n_rows, n_cols)


# Fields per pass: keeps every temporary small enough to stay in cache and off mmap.
_CHUNK: Final = 8192


class _Present:
    """Which optional characters occur at all, so their masks can be skipped when absent."""

    def __init__(self, text: bytes) -> None:
        self.dot = b"." in text
        self.minus = b"-" in text
        self.plus = b"+" in text
        self.exponent = b"e" in text or b"E" in text
        self.space = any(c in text for c in (b" ", b"\t", b"\r", b"\x0b", b"\x0c"))


def _parse_fields(
    windows: npt.NDArray[np.void],
    seps: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    present: _Present,
    result: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
    empty: npt.NDArray[np.bool_],
) -> None:
    """Parse plain decimals into ``result``; ``ok`` False where the reference must decide.

    Each field is read as the 16 bytes ending at its separator (column 15), so column j of
    every row is the same distance from the field's end. Per-field facts become 16-bit
    masks (bit j = column j) and the digits one positional number, non-digits counting as
    0: "-12.5e-3" reads 1205003, which splits into exponent 3 (after the 'e') and mantissa
    1205, whose dot leaves digits 125 with one of them fractional: -125e-4. Integers stay
    below 10**15 < 2**53, so every float64 step is exact up to the single rounding step
    of Clinger's fast path (an exact mantissa times or over an exact power of ten).
    """
    tables = _tables()
    n = seps.size
    chars = windows[seps].view(np.uint8).reshape(n, _WINDOW)
    short = np.minimum(lengths, _LAST_COL)
    field_bits = tables.field_bits[short]

    digits = chars - np.uint8(48)
    is_digit = digits < 10
    digits *= is_digit
    digit_bits = _bitmask(is_digit) & field_bits
    # The window also holds the end of the previous field: keep the last `length` digits.
    value = _remainder(_positional_digits(digits), tables.pow10[short])

    zero = np.zeros(n, dtype=np.int32)
    dot_bits = _bitmask(chars == 46) & field_bits if present.dot else zero
    minus_bits = _bitmask(chars == 45) & field_bits if present.minus else zero
    sign_bits = minus_bits | _bitmask(chars == 43) & field_bits if present.plus else minus_bits
    exp_bits = _bitmask((chars | np.uint8(32)) == 101) & field_bits if present.exponent else zero
    end_col: int | npt.NDArray[np.int16] = _LAST_COL  # one past the value's last character
    if present.space:
        is_space = (chars - np.uint8(9)) < 5  # \t \n \v \f \r; \n cannot be inside a field
        is_space |= chars == 32
        content = field_bits & ~_bitmask(is_space)
        first_bit = content & -content
        end_col = tables.high_bit[content] + 1
        value /= tables.pow10[np.clip(_LAST_COL - end_col, 0, _LAST_COL)]  # trailing spaces
    else:
        content, first_bit = field_bits, tables.first_bit[short]

    # Accept exactly [+-]? (digits with at most one '.') ([eE] [+-]? digits)? with optional
    # spaces around; anything else is left to the reference field parser.
    np.equal(content, 0, out=empty)
    np.less_equal(lengths, _LAST_COL, out=ok)
    if present.space:
        ok &= ((content + first_bit) & content) == 0  # spaces only around the value
    ok &= (content & ~(digit_bits | dot_bits | sign_bits | exp_bits)) == 0
    ok &= (dot_bits & (dot_bits - 1)) == 0
    ok &= (sign_bits & ~(first_bit | exp_bits << 1)) == 0
    if present.exponent or present.space:
        before_end = np.where(exp_bits != 0, exp_bits, 1 << np.asarray(end_col, np.int32)) - 1
        ok &= (dot_bits & ~before_end) == 0
        ok &= (digit_bits & before_end) != 0
    else:
        ok &= digit_bits != 0

    mantissa = value
    exponent: npt.NDArray[Any] | None = None
    if present.exponent:
        has_exp = exp_bits != 0
        ok &= (exp_bits & (exp_bits - 1)) == 0
        ok &= ~has_exp | ((digit_bits & ~(2 * exp_bits - 1)) != 0)
        exp_col = np.where(has_exp, tables.high_bit[exp_bits], end_col)
        exp_weight = tables.pow10[np.clip(end_col - exp_col, 0, _LAST_COL)]
        exponent = _remainder(value, exp_weight)
        mantissa = (value - exponent) / exp_weight
        np.negative(exponent, out=exponent, where=(minus_bits & exp_bits << 1) != 0)
        ok &= exponent <= _MAX_POW10
        end_col = exp_col
    if present.dot:
        # The dot was read as a 0 digit: mantissa = 10 * digits-without-dot - 9 * fraction.
        # Columns from the dot to the end: the fraction's digits + 1 (0 without a dot).
        if isinstance(end_col, int):  # every value ends at the separator: one lookup
            dot_shift = tables.dot_shift[dot_bits]
        else:
            dot_shift = np.clip(end_col - tables.high_bit[dot_bits], 0, _LAST_COL)
        fraction = _remainder(mantissa, tables.dot_weight[dot_shift])
        fraction *= 9
        mantissa += fraction  # now 10 * digits-without-dot, or the digits if no dot
        exponent = -dot_shift if exponent is None else exponent - dot_shift
    if exponent is None:
        index: npt.NDArray[np.intp] | int = _MAX_POW10
    else:
        ok &= exponent >= -_MAX_POW10
        index = exponent.clip(-_MAX_POW10, _MAX_POW10).astype(np.intp) + _MAX_POW10
    if present.minus:
        index = index + ((minus_bits & first_bit) != 0) * _SIGNED
    np.multiply(mantissa, tables.mul[index], out=result)
    result /= tables.div[index]


# --------------------------------------------------------------------------- long fields

# Long fields are read as the 32 bytes that end at their last character (not the separator).
_LONG_WINDOW: Final = 32
_MAX_DIGITS: Final = 18  # significant digits: below 10**18 < 2**63, exact in an int64
_SPLITTER: Final = 134217729.0  # 2**27 + 1: Veltkamp's split of a double into two halves
# Far above the double-double division's error (about 2**-104 of the value): a long field
# whose value lies closer than this to halfway between two doubles goes to float().
_DOUBT: Final = 2.0**-96


def _split(value: npt.NDArray[np.float64]) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    scaled = value * _SPLITTER
    high = scaled - (scaled - value)
    return high, value - high


def _parse_long_fields(
    windows: npt.NDArray[np.void],
    seps: npt.NDArray[np.intp],
    lengths: npt.NDArray[np.intp],
    index: npt.NDArray[np.intp],
    result: npt.NDArray[np.float64],
    ok: npt.NDArray[np.bool_],
) -> None:
    """Parse ``[+-]?digits[.digits]`` fields of 16-32 characters into ``result[index]``.

    The digits, the dot taken out, form an integer M (at most 18 significant digits) and
    the value is M / 10**f for f fractional digits (at most 22, so 10**f is exact). M is
    exactly the double nearest it plus a remainder under half its ulp; dividing that
    double-double by 10**f (Dekker's exact product gives the first quotient's remainder)
    leaves a double-double within ~2**-102 of the value, whose rounded sum is the correctly
    rounded value unless the value lies within _DOUBT of halfway between two doubles: those
    stay not ``ok`` for float() to decide. Per-field facts are 32-bit masks, bit j for
    column j, as in ``_parse_fields``.
    """
    n = seps.size
    chars = windows[seps].view(np.uint8).reshape(n, _LONG_WINDOW)
    first = (_LONG_WINDOW - lengths).astype(np.uint64)  # column of the first character
    inside = (np.uint64(0xFFFFFFFF) << first) & np.uint64(0xFFFFFFFF)
    first_bit = np.uint64(1) << first
    digits = chars - np.uint8(48)
    is_digit = digits < 10
    digit_bits = _mask32(is_digit) & inside
    dot_bits = _mask32(chars == 46) & inside
    negative = (_mask32(chars == 45) & first_bit) != 0
    sign_bits = _mask32(chars == 43) & first_bit | np.where(negative, first_bit, 0)
    nonzero_bits = _mask32((digits - np.uint8(1)) < 9) & inside

    good = (inside & ~(digit_bits | dot_bits | sign_bits)) == 0
    good &= (dot_bits & (dot_bits - np.uint64(1))) == 0  # one dot at most
    good &= digit_bits != 0
    dot = _high_bit(dot_bits)  # -1 without a dot
    lead = _high_bit(nonzero_bits & (~nonzero_bits + np.uint64(1)))  # lowest set bit
    lead = np.where(nonzero_bits != 0, lead, _LONG_WINDOW)
    significant = (_LONG_WINDOW - lead) - (dot > lead)
    good &= significant <= _MAX_DIGITS
    fraction_digits = np.where(dot >= 0, _LONG_WINDOW - 1 - dot, 0)
    good &= fraction_digits <= _MAX_POW10

    # The digits read as one number, the dot a 0 digit: at most 19 columns when good.
    digits *= is_digit
    words = _digit_words(digits)  # (n, 4): 8 columns each
    # Columns 16-31 are in every field; of columns 8-15 only those from `first` on. Columns
    # 0-7 hold only the previous field and zeros in a good field (19 columns at most).
    in_field = _tables().pow10_int[np.clip(16 - first.astype(np.intp), 0, 8)]
    spread = (words[:, 1] % in_field) * np.uint64(10**16)
    spread += words[:, 2] * np.uint64(10**8)
    spread += words[:, 3]
    # Close the dot's gap: M = (digits left of it) * 10**f + (digits right of it). With
    # f > 18 the digits left of it are all 0 in a good field, and M is the whole number.
    scale = _tables().pow10_int[np.minimum(fraction_digits, _MAX_DIGITS)]
    closed = spread // (scale * np.uint64(10)) * scale + spread % scale
    has_gap = (dot >= 0) & (fraction_digits <= _MAX_DIGITS)
    mantissa = np.where(has_gap, closed, spread).view(np.int64)

    high = mantissa.astype(np.float64)
    low = (mantissa - high.astype(np.int64)).astype(np.float64)  # |low| <= 64, exact
    divisor = _tables().pow10[np.minimum(fraction_digits, _MAX_POW10)]
    # high / divisor as q1 + remainder / divisor; q1 * divisor exactly with Dekker's product.
    q1 = high / divisor
    q1_high, q1_low = _split(q1)
    d_high, d_low = _split(divisor)
    product = q1 * divisor
    product_error = ((q1_high * d_high - product) + q1_high * d_low + q1_low * d_high) + (
        q1_low * d_low
    )
    remainder = ((high - product) - product_error) + low
    q2 = remainder / divisor
    value = q1 + q2
    residual = q2 - (value - q1)  # Fast2Sum (|q1| >= |q2|): value + residual == q1 + q2
    # value >= 0 here: the neighbour on the residual's side is this far away.
    gap = np.where(residual >= 0, np.spacing(value), value - np.nextafter(value, 0.0))
    good &= np.abs(residual) + _DOUBT * value < gap / 2
    np.negative(value, out=value, where=negative)
    result[index[good]] = value[good]
    ok[index[good]] = True


def _mask32(flags: npt.NDArray[np.bool_]) -> npt.NDArray[np.uint64]:
    """One bit per column (bit j = column j) of a C-contiguous (n, 32) boolean array."""
    packed = np.packbits(flags.ravel(), bitorder="little").view(np.dtype("<u4"))
    return packed.astype(np.uint64)


def _high_bit(masks: npt.NDArray[np.uint64]) -> npt.NDArray[np.intp]:
    """Column of each mask's highest set bit; -1 for 0."""
    return (np.frexp(masks.astype(np.float64))[1] - 1).astype(np.intp)


# --------------------------------------------------------------------------- encoding


def encode_csv(columns: Mapping[str, npt.ArrayLike]) -> bytes:
    """One line per record: the columns' values in order, vector columns flattened.

    Each column has shape (n,) or (n, k). Integers and booleans are written without a
    decimal point (booleans as 1/0), floats in shortest round-trip form (``repr``; float32
    values in their own shortest form, so 0.1f is ``0.1``), strings as they are, quoted
    when they contain a comma, quote or line break. Every line ends with ``\\n``.
    """
    cells: list[list[str]] = []
    for array in check_columns(columns, "CSV"):
        if array.ndim == 1:
            cells.append(_csv_cells(array))
        else:
            cells.extend(_csv_cells(array[:, j]) for j in range(array.shape[1]))
    if not cells or not cells[0]:
        return b""
    lines = cells[0] if len(cells) == 1 else [",".join(row) for row in zip(*cells, strict=True)]
    return ("\n".join(lines) + "\n").encode()


def check_columns(columns: Mapping[str, npt.ArrayLike], what: str) -> list[npt.NDArray[Any]]:
    """The columns as arrays of shape (n,) or (n, k) with one n; shared by the encoders."""
    arrays: list[npt.NDArray[Any]] = []
    n_records: int | None = None
    first = ""
    for name, column in columns.items():
        array = np.asarray(column)
        if array.ndim not in (1, 2):
            raise DataError(
                f"{what} output column {name!r} has shape {array.shape}; expected (n,) or (n, k)."
            )
        if n_records is None:
            n_records, first = array.shape[0], name
        elif array.shape[0] != n_records:
            raise DataError(
                f"{what} output column {name!r} has {array.shape[0]} records; "
                f"expected {n_records} like column {first!r}."
            )
        arrays.append(array)
    return arrays


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
        power = _tables().pow10[np.abs(scale)]
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
