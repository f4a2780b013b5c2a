"""`algoport plugins` and discovery, through the real command and real package metadata."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from algoport.testing import SageMakerTree, ServeProcess, command, run_train


def plugins(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "plugins", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_lists_installed_plugins_without_importing_them() -> None:
    result = plugins("--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    # The broken plugin's import would fail: being listed proves nothing was imported.
    assert rows["fixture-broken-import"] == {
        "name": "fixture-broken-import",
        "kind": "algorithm",
        "distribution": "algoport-fixtures",
        "version": "1.2.3",
        "entry_point": "algoport_fixtures.broken_import",
    }
    assert rows["fixture-raises"]["entry_point"] == "algoport_fixtures.faulty:Raises"


def test_table_output_has_a_header_and_a_row_per_plugin() -> None:
    result = plugins()
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "kind", "distribution", "version", "entry_point"]
    assert any(
        line.split()[:4] == ["fixture-linear", "algorithm", "algoport-fixtures", "1.2.3"]
        for line in lines
    )


def write_distribution(site: Path, name: str, entry_points: str) -> None:
    """Install a distribution's metadata as pip would (a .dist-info directory)."""
    dist_info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points)


def test_duplicate_algorithm_name_stops_start_up_naming_both(
    sagemaker_tree: SageMakerTree, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    write_distribution(
        site, "algoport-copycat", "[algoport.algorithms]\nfixture-linear = copycat.module\n"
    )
    result = run_train(sagemaker_tree, "fixture-linear", PYTHONPATH=str(site))
    assert result.returncode == 3
    assert result.failure is not None
    first = result.failure.splitlines()[0]
    assert "Two plugins are named 'fixture-linear'" in first
    assert "algoport-fixtures 1.2.3" in first and "algoport-copycat 0.1" in first

    listing = plugins(env={**sagemaker_tree.env(), "PYTHONPATH": str(site)})
    assert listing.returncode == 3
    assert "Two plugins are named 'fixture-linear'" in listing.stderr


def test_extension_that_claims_an_algorithm_hook_is_refused(
    sagemaker_tree: SageMakerTree, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    (site / "greedy_extension.py").parent.mkdir(parents=True)
    (site / "greedy_extension.py").write_text(
        "from algoport import hookimpl\n\n@hookimpl\ndef predict(model, data):\n    return data\n"
    )
    write_distribution(
        site, "algoport-greedy", "[algoport.extensions]\ngreedy = greedy_extension\n"
    )
    result = run_train(sagemaker_tree, "fixture-linear", PYTHONPATH=str(site))
    assert result.returncode == 3
    assert result.failure is not None
    assert "Extension 'greedy' (algoport-greedy 0.1" in result.failure
    assert "implements 'predict', which belongs to the algorithm" in result.failure


def test_a_reader_that_stops_early_gets_no_traceback() -> None:
    # As `algoport plugins | head -0`: nobody reads the listing.
    process = subprocess.Popen(
        [*command("algoport"), "plugins"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    process.stdout.close()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 141
    assert stderr == ""


def test_two_extensions_opening_the_model_stop_serve_naming_both(
    model_dir: Path, tmp_path: Path
) -> None:
    # algoport-protect (installed in the test environment) implements open_model too.
    site = tmp_path / "site"
    (site / "second_opener.py").parent.mkdir(parents=True)
    (site / "second_opener.py").write_text(
        "from algoport import hookimpl\n\n@hookimpl\ndef open_model(model_dir):\n    return None\n"
    )
    write_distribution(
        site, "algoport-second-opener", "[algoport.extensions]\nsecond-opener = second_opener\n"
    )
    server = ServeProcess(model_dir, "fixture-linear", env={"PYTHONPATH": str(site)})
    code, logs = server.run_until_exit()

    assert code != 0
    assert "both implement open_model" in logs
    assert "'second-opener'" in logs and "'protect'" in logs
