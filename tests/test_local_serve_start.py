"""`algoport local serve` when its `serve` cannot start: one clear line, never a "/ping
answered 200" from another server on the port."""

from __future__ import annotations

import http.server
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from algoport.testing import command

pytestmark = pytest.mark.e2e


class AlwaysOk(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def other_server(free_port: int) -> Iterator[int]:
    """Another HTTP server on the port, answering 200 to /ping as an endpoint would."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port), AlwaysOk)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield free_port
    finally:
        server.shutdown()
        server.server_close()


def local_serve(tmp_path: Path, model: Path, port: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command("algoport"), "local", "serve", "--model", str(model), "-a", "fixture-linear",
         "--port", str(port), "--workdir", str(tmp_path / "work")],
        cwd=tmp_path, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_a_port_in_use_is_a_platform_error(tmp_path: Path, other_server: int) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "weights.json").write_text("{}")

    served = local_serve(tmp_path, model, other_server)

    assert served.returncode == 3, served.stdout + served.stderr
    assert served.stderr.strip() == (
        f"algoport: platform error: Port {other_server} is already in use on 0.0.0.0; stop "
        "what listens there, or serve on another port with --port."
    )
    assert "answered 200" not in served.stdout + served.stderr


def test_serve_ending_before_it_is_ready_is_one_line(tmp_path: Path, free_port: int) -> None:
    model = tmp_path / "model"
    model.mkdir()  # no weights.json: fixture-linear fails to load it

    served = local_serve(tmp_path, model, free_port)

    assert served.returncode == 1
    assert served.stderr.strip().splitlines()[-1] == (
        "algoport: error: serve exited with 1 before answering /ping; its output is above."
    )
    assert "answered 200" not in served.stderr
