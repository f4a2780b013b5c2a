"""The public API: every listed name resolves, lazily, from its one list."""

from __future__ import annotations

import subprocess
import sys

import algoport


def test_every_public_name_resolves() -> None:
    for name in algoport.__all__:
        assert getattr(algoport, name) is not None, name


def test_star_import_gives_the_public_names() -> None:
    namespace: dict[str, object] = {}
    exec("from algoport import *", namespace)
    assert set(algoport.__all__) <= set(namespace)


def test_an_unknown_name_is_an_attribute_error() -> None:
    try:
        algoport.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no attribute 'NoSuchThing'" in str(exc)
    else:
        raise AssertionError("algoport.NoSuchThing resolved")


def test_importing_algoport_imports_no_public_module_yet() -> None:
    code = "import sys, algoport; print(sorted(m for m in sys.modules if m.startswith('algoport')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['algoport', 'algoport.version']"
