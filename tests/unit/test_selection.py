"""Which installed algorithm a process runs, in process: ALGOPORT_ALGORITHM, else the model's
manifest, else the only one installed. tests/test_train.py and tests/test_serve.py check the
same choices through the real processes."""

from __future__ import annotations

import pytest

from algoport.errors import PluginError, UserError
from algoport.manifest import Manifest
from algoport.plugins import ALGORITHMS_GROUP, PluginInfo, select_algorithm


def installed(*names: str) -> dict[str, PluginInfo]:
    return {
        name: PluginInfo(name, ALGORITHMS_GROUP, f"{name}_module", f"algoport-{name}", "1.0")
        for name in names
    }


def trained_by(algorithm: str) -> Manifest:
    return Manifest(algorithm, f"algoport-{algorithm}", "2.0", "0.1.0")


SEVERAL = installed("kmeans", "linear", "xgboost")


def test_the_requested_algorithm_is_chosen_among_several() -> None:
    assert select_algorithm(SEVERAL, "linear") is SEVERAL["linear"]


def test_the_model_s_manifest_chooses_when_nothing_is_requested() -> None:
    assert select_algorithm(SEVERAL, None, trained_by("xgboost")) is SEVERAL["xgboost"]


def test_a_request_agreeing_with_the_manifest_is_chosen() -> None:
    assert select_algorithm(SEVERAL, "kmeans", trained_by("kmeans")) is SEVERAL["kmeans"]


def test_the_only_installed_algorithm_needs_no_choosing() -> None:
    only = installed("xgboost")

    assert select_algorithm(only) is only["xgboost"]


@pytest.mark.parametrize(
    ("algorithms", "requested", "manifest", "error", "message"),
    [
        (
            SEVERAL,
            None,
            None,
            PluginError,
            "Several algorithms are installed and none is selected: kmeans, linear, xgboost. "
            "Set ALGOPORT_ALGORITHM to one of them.",
        ),
        (
            {},
            None,
            None,
            PluginError,
            "No algorithm plugin is installed. Install one with pip (a package that declares an "
            "`algoport.algorithms` entry point); `algoport plugins` lists what is installed.",
        ),
        (
            SEVERAL,
            "lightgbm",
            None,
            PluginError,
            "Algorithm 'lightgbm' (ALGOPORT_ALGORITHM) is not installed; installed: kmeans, "
            "linear, xgboost. Install its plugin package or fix the name.",
        ),
        (
            {},
            "lightgbm",
            None,
            PluginError,
            "Algorithm 'lightgbm' (ALGOPORT_ALGORITHM) is not installed; installed: none. "
            "Install its plugin package or fix the name.",
        ),
        (
            SEVERAL,
            "linear",
            trained_by("xgboost"),
            UserError,
            "The model was trained by algorithm 'xgboost' but ALGOPORT_ALGORITHM is 'linear'. "
            "Unset ALGOPORT_ALGORITHM or set it to 'xgboost'.",
        ),
        (
            installed("kmeans"),
            None,
            trained_by("xgboost"),
            PluginError,
            "The model was trained by algorithm 'xgboost' (algoport-xgboost 2.0), which is not "
            "installed; installed: kmeans. Install algoport-xgboost.",
        ),
    ],
    ids=[
        "several-none-chosen",
        "none-installed",
        "requested-not-installed",
        "requested-nothing-installed",
        "requested-against-manifest",
        "manifest-not-installed",
    ],
)
def test_no_algorithm_is_guessed(
    algorithms: dict[str, PluginInfo],
    requested: str | None,
    manifest: Manifest | None,
    error: type[Exception],
    message: str,
) -> None:
    with pytest.raises(error) as raised:
        select_algorithm(algorithms, requested, manifest)

    assert str(raised.value) == message
