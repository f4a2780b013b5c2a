"""docs/plugin-authors.md stays true: every hook and public name, with its real arguments."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

import algoport
from algoport import hookspecs, hp
from algoport.testing import check_algorithm

MANUAL = Path(__file__).resolve().parents[1] / "docs" / "plugin-authors.md"
# Objects the core builds and hands to a plugin: documented by what they hold, not how
# they are constructed.
HANDED_TO_PLUGINS = {
    "TrainingJob",
    "Channel",
    "Epoch",
    "Dataset",
    "ResourceConfig",
    "Invocation",
    "MediaType",
}


def sections() -> dict[str, str]:
    """Heading (the text between backticks) → the section's text."""
    parts = re.split(r"^### `([^`]+)`\n", MANUAL.read_text(encoding="utf-8"), flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def signature(obj: Any) -> str:
    shown = []
    for parameter in inspect.signature(obj).parameters.values():
        default = parameter.default
        if default is inspect.Parameter.empty:
            shown.append(parameter.name)
        else:
            text = "<factory>" if default is dataclasses.MISSING else repr(default)
            shown.append(f"{parameter.name}={text}")
    return "(" + ", ".join(shown) + ")"


def hook_names() -> list[str]:
    return [name for name, _ in inspect.getmembers(hookspecs, inspect.isfunction)]


@pytest.mark.parametrize("hook", hook_names())
def test_every_hook_is_a_heading_with_its_arguments(hook: str) -> None:
    spec = getattr(hookspecs, hook)
    arguments = ", ".join(inspect.signature(spec).parameters)
    assert f"{hook}({arguments})" in sections()


@pytest.mark.parametrize("name", [n for n in algoport.__all__ if n not in HANDED_TO_PLUGINS])
def test_every_public_name_is_a_heading_with_its_arguments(name: str) -> None:
    obj = getattr(algoport, name)
    constructed = inspect.isclass(obj) or inspect.isfunction(obj)
    heading = name + signature(obj) if constructed else name
    assert heading in sections(), f"docs/plugin-authors.md lacks ### `{heading}`"


HP_KINDS = [name for name in hp.__all__ if issubclass(getattr(hp, name), hp.HyperParameter)]


@pytest.mark.parametrize("name", HP_KINDS)
def test_every_hyperparameter_kind_is_a_heading_with_its_arguments(name: str) -> None:
    heading = f"hp.{name}{signature(getattr(hp, name))}"
    assert heading in sections(), f"docs/plugin-authors.md lacks ### `{heading}`"


def test_the_hyperparameter_error_is_a_heading() -> None:
    assert "hp.InvalidValue" in sections(), "docs/plugin-authors.md lacks ### `hp.InvalidValue`"


@pytest.mark.parametrize("name", sorted(HANDED_TO_PLUGINS))
def test_objects_handed_to_plugins_are_described_by_all_they_hold(name: str) -> None:
    cls = getattr(algoport, name)
    members = (
        {field.name for field in dataclasses.fields(cls)}
        if dataclasses.is_dataclass(cls)
        else set()
    )
    members |= {
        member
        for member, value in vars(cls).items()
        if not member.startswith("_")
        and (callable(value) or isinstance(value, property | classmethod | staticmethod))
    }
    if not dataclasses.is_dataclass(cls):
        members |= set(inspect.signature(cls).parameters) - {"formats", "pipe_wait_seconds"}
    text = sections()[name]
    missing = sorted(m for m in members if f"`{m}" not in text and f".{m}(" not in text)
    assert missing == [], f"the manual's {name} section does not mention {missing}"


def test_check_algorithm_is_a_heading_with_its_arguments() -> None:
    heading = "check_algorithm" + signature(check_algorithm)
    assert heading in sections(), f"docs/plugin-authors.md lacks ### `{heading}`"
