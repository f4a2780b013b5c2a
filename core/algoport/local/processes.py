"""The real ``train`` and ``serve`` processes, started the way a container starts them."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    import httpx


def command(name: str) -> list[str]:
    """A console script of this environment (``train``, ``serve``, ``algoport``)."""
    script = Path(sys.executable).with_name(name)
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "algoport", *([] if name == "algoport" else [name])]


def find_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(host: str, port: int) -> bool:
    """Whether a server could listen on ``host:port`` now (a port in TIME_WAIT is free)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def ping(url: str, timeout: float = 2.0) -> int | None:
    """The status of ``GET /ping``, or None when nothing answers."""
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        connection.request("GET", "/ping")
        return connection.getresponse().status
    except OSError:
        return None
    finally:
        connection.close()


class ServeProcess:
    """The real ``serve`` process on a model directory named ``model`` (SageMaker's layout).

    ``logs()`` returns what it printed; with ``capture_logs=False`` it prints to this
    process's streams instead and ``logs()`` is empty. ``client`` is an ``httpx.Client`` on
    its URL, for tests (httpx is a test dependency: ``pip install "algoport[test]"``).
    """

    def __init__(
        self,
        model_dir: Path,
        algorithm: str | None = None,
        *,
        env: Mapping[str, str] | None = None,
        workers: int = 1,
        port: int | None = None,
        wait_ready: bool = True,
        startup_timeout: float = 60,
        capture_logs: bool = True,
    ) -> None:
        if model_dir.name != "model":
            raise ValueError(f"{model_dir} must be named 'model', as /opt/ml/model is.")
        self.model_dir = model_dir
        self.port = port or find_free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.environ = dict(os.environ)
        self.environ.pop("ALGOPORT_ALGORITHM", None)
        self.environ.update(
            {
                "SAGEMAKER_BASE_DIR": str(model_dir.parent),
                "SAGEMAKER_BIND_TO_PORT": str(self.port),
                "SAGEMAKER_MODEL_SERVER_WORKERS": str(workers),
            }
        )
        if algorithm:
            self.environ["ALGOPORT_ALGORITHM"] = algorithm
        self.environ.update(env or {})
        self.wait_ready = wait_ready
        self.startup_timeout = startup_timeout
        self.capture_logs = capture_logs
        self.process: subprocess.Popen[bytes] | None = None
        self.started_at = 0.0
        self._log: IO[bytes] | None = None
        self._client: httpx.Client | None = None

    def __enter__(self) -> ServeProcess:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def start(self) -> None:
        self._launch()
        if self.wait_ready:
            self.wait_until_ready()

    def run_until_exit(self, timeout: float = 60) -> tuple[int, str]:
        """Start ``serve`` and wait for it to stop by itself, as it does when its start-up
        fails: its exit code and what it printed. Past ``timeout`` it is stopped and
        ``subprocess.TimeoutExpired`` raised."""
        self._launch()
        assert self.process is not None
        try:
            return self.process.wait(timeout), self.logs()
        finally:
            self.stop()

    def _launch(self) -> None:
        if self.capture_logs:
            self._log = tempfile.TemporaryFile()  # noqa: SIM115 - lives as long as the server
        self.started_at = time.monotonic()
        self.process = subprocess.Popen(
            command("serve"),
            env=self.environ,
            stdout=self._log,
            stderr=subprocess.STDOUT if self._log else None,
        )

    @property
    def client(self) -> httpx.Client:
        try:
            import httpx
        except ModuleNotFoundError as missing:
            raise ModuleNotFoundError(
                "httpx is not installed; ServeProcess.client needs it. It is a test "
                'dependency of algoport: pip install "algoport[test]" (or pip install httpx).',
                name="httpx",
            ) from missing

        if self._client is None:
            self._client = httpx.Client(base_url=self.url, timeout=120)
        return self._client

    def wait_until_ready(self) -> float:
        """Wait for the first 200 from ``/ping``; return the seconds since start."""
        deadline = self.started_at + self.startup_timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.logs()}")
            if ping(self.url) == 200:
                return time.monotonic() - self.started_at
            time.sleep(0.02)
        raise TimeoutError(
            f"serve did not answer /ping in {self.startup_timeout} s:\n{self.logs()}"
        )

    def logs(self) -> str:
        if self._log is None:
            return ""
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def terminate(self, timeout: float = 40) -> int:
        """Send SIGTERM, as SageMaker does, and wait for the exit code."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.process is not None and self.process.poll() is None:
            try:
                self.terminate()
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None
