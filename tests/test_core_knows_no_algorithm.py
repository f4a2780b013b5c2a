"""The core serves any algorithm: nothing under core/ names an installed algorithm plugin."""

from __future__ import annotations

from importlib.metadata import entry_points
from pathlib import Path

CORE = Path(__file__).resolve().parents[1] / "core" / "algoport"


def plugin_names() -> set[str]:
    """Each algorithm plugin's distribution and top-level package, as pip and import spell them."""
    names = set()
    for entry in entry_points(group="algoport.algorithms"):
        names.add(entry.module.split(".")[0].lower())
        if entry.dist is not None:
            names.add(entry.dist.name.lower())
    return names


def test_no_core_file_names_an_algorithm_plugin() -> None:
    names = plugin_names()
    assert {"algoport-xgboost", "algoport_sklearn"} <= names  # the scan sees the real plugins
    mentions = [
        f"{path.relative_to(CORE)} names {name}"
        for path in sorted(CORE.rglob("*"))
        if path.is_file() and path.suffix in {".py", ".md", ".txt", ".json", ".csv"}
        for name in sorted(names)
        if name in path.read_text(encoding="utf-8").lower()
    ]
    assert mentions == []
