"""`serve` under a hostile platform: killed workers, a killed master, SIGTERM, slow clients."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from algoport.local.processes import command, ping
from algoport.testing import ServeProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc"),
]

CSV_BODY = b"1.0,2.0\n0.5,-1.0\n"


def _state_and_parent(pid: int) -> tuple[str, int] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[1].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    found = _state_and_parent(pid)
    return found is not None and found[0] != "Z"


def worker_pids(server: ServeProcess) -> set[int]:
    """The serving workers among the serve process's children (not multiprocessing's tracker)."""
    assert server.process is not None
    pids = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        found = _state_and_parent(int(entry))
        if found is None or found[1] != server.process.pid or found[0] == "Z":
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            pids.add(int(entry))
    return pids


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout} s")


def wait_for_ready_workers(server: ServeProcess, count: int) -> None:
    wait_for(
        lambda: server.logs().count("is ready") >= count, 30, f"{count} worker(s) announced ready"
    )


def test_a_killed_worker_is_replaced_while_the_other_keeps_serving(model_dir: Path) -> None:
    with ServeProcess(model_dir, workers=2) as server:
        wait_for_ready_workers(server, 2)
        before = worker_pids(server)
        assert len(before) == 2
        victim = min(before)
        os.kill(victim, signal.SIGKILL)
        pings = []
        started = time.monotonic()
        while time.monotonic() - started < 4:
            pings.append(ping(server.url))  # a new connection each time
            time.sleep(0.05)
        wait_for_ready_workers(server, 3)
        after = worker_pids(server)
        reply = server.client.post(
            "/invocations", content=CSV_BODY, headers={"Content-Type": "text/csv"}
        )
        logs = server.logs()
        code = server.terminate(timeout=30)
    assert set(pings) == {200}
    assert len(after) == 2 and victim not in after and before - {victim} <= after
    assert f"worker {victim} was killed by SIGKILL; starting a replacement" in logs
    assert reply.status_code == 200
    assert code == 0


def test_killing_the_master_stops_its_workers(model_dir: Path) -> None:
    with ServeProcess(model_dir, workers=2) as server:
        wait_for_ready_workers(server, 2)
        workers = worker_pids(server)
        assert server.process is not None
        server.process.kill()
        server.process.wait()
        wait_for(lambda: not any(alive(pid) for pid in workers), 10, "workers gone")
        assert ping(server.url) is None


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_refuses_new_connections_while_it_drains(
    train_linear: Callable[..., Path], workers: int
) -> None:
    model = train_linear(sleep_seconds=3)
    server = ServeProcess(model, workers=workers)
    server.start()
    results: list[int] = []
    try:
        in_flight = threading.Thread(
            target=lambda: results.append(
                httpx.post(
                    server.url + "/invocations",
                    content=CSV_BODY,
                    headers={"Content-Type": "text/csv"},
                    timeout=60,
                ).status_code
            )
        )
        in_flight.start()
        time.sleep(0.5)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
        code = server.terminate(timeout=30)
        in_flight.join()
    finally:
        server.stop()
    assert results == [200]
    assert code == 0


def test_serve_on_a_port_in_use_is_a_one_line_platform_error(model_dir: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = ServeProcess(model_dir, port=port, wait_ready=False)
        result = subprocess.run(
            command("serve"), env=server.environ, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 3
    assert result.stderr.strip().splitlines() == [
        f"algoport: platform error: port {port} is already in use; something else listens "
        "on it. Stop it, or set SAGEMAKER_BIND_TO_PORT to a free port."
    ]
    assert "Traceback" not in result.stdout + result.stderr


def test_a_body_sent_too_slowly_gets_408_and_the_connection_closed(model_dir: Path) -> None:
    env = {"ALGOPORT_BODY_TIMEOUT_SECONDS": "2"}
    with ServeProcess(model_dir, env=env) as server, socket.socket() as client:
        client.connect(("127.0.0.1", server.port))
        client.settimeout(10)
        client.sendall(
            b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        started = time.monotonic()
        received = b""
        for byte in b"1,2\n" * 25:  # one byte every 0.25 s: 25 s for the whole body
            try:
                client.sendall(bytes([byte]))
            except OSError:
                break  # closed on us
            time.sleep(0.25)
            client.setblocking(False)
            try:
                received += client.recv(65536)
            except BlockingIOError:
                pass
            finally:
                client.setblocking(True)
            if b"\r\n\r\n" in received:
                break
        client.settimeout(5)
        while chunk := client.recv(65536):
            received += chunk
        answered_after = time.monotonic() - started
    assert received.startswith(b"HTTP/1.1 408")
    assert b"ALGOPORT_BODY_TIMEOUT_SECONDS" in received
    assert answered_after < 5
