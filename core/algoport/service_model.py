"""A request checked against the SageMaker service model that ``botocore`` ships.

botocore's own ``ParamValidator`` checks types, required members and minimums only; the
maximums, enums and patterns of the same shapes are checked here, so every rule the model
states is checked before a request is sent.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from collections.abc import Mapping
from typing import Any

from algoport.errors import PlatformError, UserError

INSTALL_HINT = "pip install 'algoport[spec]'"
# Java's \p{X}: a Unicode general category. The service model writes it inside classes only.
UNICODE_CATEGORY = re.compile(r"\\p\{(\w+)\}")
# Enums longer than this (instance types) are named, not listed.
LISTED_ENUM_VALUES = 10


def input_shape(operation: str) -> Any:
    """The input shape of a SageMaker operation in the installed botocore."""
    try:
        import botocore.session
    except ImportError:
        raise PlatformError(
            f"botocore is not installed, and the SageMaker service model comes with it; "
            f"install it with: {INSTALL_HINT}"
        ) from None
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.operation_model(operation).input_shape


def check_request(operation: str, params: Mapping[str, Any]) -> None:
    """Raise one UserError naming every field that breaks the service model's rules."""
    shape = input_shape(operation)
    from botocore import __version__
    from botocore.validate import ParamValidator

    problems = []
    report = ParamValidator().validate(params, shape)
    if report.has_errors():
        problems += report.generate_report().splitlines()
    problems += limit_problems(params, shape, "")
    if problems:
        listed = "".join(f"\n  {problem}" for problem in problems)
        raise UserError(
            f"The {operation} request breaks {len(problems)} rule(s) of the SageMaker service "
            f"model (botocore {__version__}):{listed}",
            details=problems,
        )


def limit_problems(value: Any, shape: Any, path: str) -> list[str]:
    """Maximums, enums and patterns ``ParamValidator`` leaves unchecked, with field paths."""
    metadata = shape.metadata
    kind = shape.type_name
    if kind == "structure" and isinstance(value, Mapping):
        return [
            problem
            for name, member in shape.members.items()
            if name in value
            for problem in limit_problems(value[name], member, f"{path}.{name}".lstrip("."))
        ]
    if kind == "list" and isinstance(value, list):
        problems = _count_problems(len(value), metadata, path)
        for index, item in enumerate(value):
            label = repr(item["Name"]) if isinstance(item, Mapping) and "Name" in item else index
            problems += limit_problems(item, shape.member, f"{path}[{label}]")
        return problems
    if kind == "map" and isinstance(value, Mapping):
        problems = _count_problems(len(value), metadata, path)
        for key, item in value.items():
            problems += limit_problems(key, shape.key, f"{path} key {key!r}")
            problems += limit_problems(item, shape.value, f"{path}[{key!r}]")
        return problems
    if kind == "string" and isinstance(value, str):
        return _string_problems(value, shape, path)
    if (
        kind in ("integer", "long")
        and isinstance(value, int)
        and value > metadata.get("max", value)
    ):
        return [f"{path}: {value}; the service model allows at most {metadata['max']}."]
    return []


def _count_problems(count: int, metadata: Mapping[str, Any], path: str) -> list[str]:
    if "max" in metadata and count > metadata["max"]:
        return [f"{path}: {count} entries; the service model allows at most {metadata['max']}."]
    return []


def _string_problems(value: str, shape: Any, path: str) -> list[str]:
    metadata = shape.metadata
    problems = []
    if "max" in metadata and len(value) > metadata["max"]:
        problems.append(
            f"{path}: {len(value)} characters; the service model allows at most {metadata['max']}."
        )
    enum = metadata.get("enum")
    if enum and value not in enum:
        allowed = (
            f"one of {', '.join(enum)}"
            if len(enum) <= LISTED_ENUM_VALUES
            else f"a {shape.name} this botocore knows (a newer one needs a newer botocore)"
        )
        problems.append(f"{path}: {value!r} is not {allowed}.")
    pattern = metadata.get("pattern")
    if pattern and not matches(pattern, value):
        shown = value if len(value) <= 80 else value[:77] + "..."
        problems.append(f"{path}: {shown!r} does not match the pattern {pattern}.")
    return problems


def matches(pattern: str, value: str) -> bool:
    """Whether the whole value matches a service-model (Java) pattern."""
    return re.fullmatch(_python_pattern(pattern, value), value) is not None


def _python_pattern(pattern: str, value: str) -> str:
    r"""The pattern with each ``\p{X}`` replaced by the value's own characters of category X.

    Python's ``re`` has no Unicode categories; for matching this one value, the characters
    it holds are all that matter. A sample character keeps the class from being empty.
    """

    def characters(found: re.Match[str]) -> str:
        category = found.group(1)
        members = {ch for ch in value if unicodedata.category(ch).startswith(category)}
        return re.escape("".join(sorted(members | {_sample(category)})))

    return UNICODE_CATEGORY.sub(characters, pattern)


@functools.cache
def _sample(category: str) -> str:
    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)).startswith(category):
            return chr(code)
    raise ValueError(f"no character is in Unicode category {category!r}")
