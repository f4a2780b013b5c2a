"""Plugins use algoport's public API only, so the core can change behind it."""

from __future__ import annotations

import ast
from pathlib import Path

PUBLIC = {"algoport", "algoport.hp", "algoport.testing", "algoport.hookspecs"}
PLUGIN_SOURCES = sorted((Path(__file__).parents[1] / "plugins").glob("*/src/**/*.py"))


def private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
            if node.module == "algoport":
                modules += [f"algoport.{alias.name}" for alias in node.names]
        else:
            continue
        found += [
            f"{path.name}:{node.lineno} imports {module}"
            for module in modules
            if module.split(".")[0] == "algoport" and module not in PUBLIC and _is_module(module)
        ]
    return found


def _is_module(name: str) -> bool:
    """``from algoport import Format`` names a class; ``from algoport import media`` a module."""
    relative = Path(*name.split("."))
    core = Path(__file__).parents[1] / "core"
    return (core / relative).with_suffix(".py").exists() or (core / relative).is_dir()


def test_plugins_import_no_private_algoport_module() -> None:
    assert PLUGIN_SOURCES, "no plugin sources found"
    problems = [problem for path in PLUGIN_SOURCES for problem in private_imports(path)]
    assert problems == []
