"""Several hosts, one model: XGBoost's own collective, a tracker on hosts[0], every host a worker.

Every host runs the same ``fit``. The first host in SageMaker's sorted list starts XGBoost's
tracker on its own address; each host joins as the worker whose rank is its place in that
list, so rank 0 is the host that writes the model and the checkpoints. XGBoost then sums
gradient histograms over all hosts each round, and every host holds the same booster.

Every wait is bounded: host names resolve within ``ALGOPORT_HOST_WAIT_SECONDS``, and
joining and each collective step within ``ALGOPORT_XGBOOST_COLLECTIVE_TIMEOUT_SECONDS``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import xgboost as xgb
from xgboost import collective

from algoport import PlatformError, ResourceConfig, Variable
from algoport_xgboost.errors import xgboost_message
from algoport_xgboost.peers import Collective, Peers

log = logging.getLogger("algoport.xgboost")

HOST_WAIT = Variable.number("ALGOPORT_HOST_WAIT_SECONDS", 300.0, 0)
# The port SageMaker's built-in XGBoost gives its tracker; training instances are single-tenant.
TRACKER_PORT = Variable.integer("ALGOPORT_XGBOOST_TRACKER_PORT", 9099, 1, 65535)
TIMEOUT = Variable.integer("ALGOPORT_XGBOOST_COLLECTIVE_TIMEOUT_SECONDS", 1800, 1)
# Parts of XGBoost's error text when a collective step failed, not the data or the params.
COLLECTIVE_FAILURE_MARKS = ("src/collective/", "allreduce", "allgather", "broadcast", "EOF")
# How long the tracker waits for the others to leave once this host has failed.
FAILED_LEAVE_SECONDS = 10
JOIN_RETRY_SECONDS = 0.25
PORT_LINGER_SECONDS = 75
PORT_TAKEN = "Address already in use"
TRACKER_UNREACHABLE = "Failed to connect to the tracker"


class StoppedWhileJoining(Exception):
    """The job was asked to stop before its hosts had joined; there is nothing to save."""


@dataclass(frozen=True)
class ClusterSettings:
    host_wait: float = HOST_WAIT.default
    tracker_port: int = TRACKER_PORT.default
    timeout: int = TIMEOUT.default

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> ClusterSettings:
        return cls(
            host_wait=HOST_WAIT.read(environ),
            tracker_port=TRACKER_PORT.read(environ),
            timeout=TIMEOUT.read(environ),
        )


def resolve_hosts(
    hosts: tuple[str, ...],
    wait: float,
    stop: threading.Event | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, str]:
    """Each host's address, retrying while the cluster's DNS names appear (contract §1.3)."""
    deadline = clock() + wait
    stop = stop or threading.Event()
    return {host: _resolve(host, wait, deadline, stop, clock, sleep) for host in hosts}


def _resolve(
    host: str,
    wait: float,
    deadline: float,
    stop: threading.Event,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> str:
    pause = 0.1
    while not stop.is_set():
        try:
            found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
        else:
            ipv4 = [info[4][0] for info in found if info[0] == socket.AF_INET]
            return str(ipv4[0] if ipv4 else found[0][4][0])
        remaining = deadline - clock()
        if remaining <= 0:
            raise PlatformError(
                f"Host {host!r} did not resolve to an address within {wait:g} s "
                f"(getaddrinfo: {reason}). Every host in resourceconfig.json must reach the "
                f"others by name; SageMaker's DNS knows them shortly after the job starts. "
                f"If the cluster is slow to come up, raise {HOST_WAIT.name}."
            )
        sleep(min(pause, remaining))
        pause = min(pause * 2, 5.0)
    raise StoppedWhileJoining


@contextlib.contextmanager
def joined(
    resources: ResourceConfig,
    stop: threading.Event,
    environ: Mapping[str, str] | None = None,
) -> Iterator[Peers]:
    """Join the job's hosts into one XGBoost collective for the ``with`` body.

    Raises StoppedWhileJoining when ``stop`` is set before every host has joined.
    """
    settings = ClusterSettings.from_environ(os.environ if environ is None else environ)
    hosts = resources.hosts
    addresses = resolve_hosts(hosts, settings.host_wait, stop)
    tracker_address = addresses[hosts[0]]
    where = f"{hosts[0]} ({tracker_address}:{settings.tracker_port})"
    tracker = _start_tracker(len(hosts), tracker_address, settings) if resources.is_master else None
    log.info(
        "host %s joins %d hosts as rank %d; tracker on %s",
        resources.current_host,
        len(hosts),
        resources.host_rank,
        where,
    )
    failed = True
    try:
        _join(resources, tracker_address, settings, where, stop)
        try:
            yield Collective(resources.host_rank, len(hosts))
            failed = False
        except xgb.core.XGBoostError as exc:
            failure = collective_failure(exc, resources)
            if failure is None:
                raise
            raise failure from exc
        finally:
            _leave()
    finally:
        if tracker is not None:
            _stop_tracker(tracker, FAILED_LEAVE_SECONDS if failed else settings.timeout)


def _start_tracker(workers: int, address: str, settings: ClusterSettings) -> Any:
    """XGBoost's tracker, listening on the first host's address and the agreed port.

    XGBoost binds without SO_REUSEADDR, so the port stays taken while connections of a
    tracker that just ended linger in TIME_WAIT (a minute on Linux): seen when jobs run
    back to back on one machine, never on a fresh SageMaker instance. Binding is retried
    for that long.
    """
    deadline = time.monotonic() + min(settings.timeout, PORT_LINGER_SECONDS)
    warned = False
    while True:
        try:
            tracker = xgb.tracker.RabitTracker(
                n_workers=workers,
                host_ip=address,
                port=settings.tracker_port,
                sortby="task",
                timeout=settings.timeout,
            )
            tracker.start()
            return tracker
        except xgb.core.XGBoostError as exc:
            if PORT_TAKEN not in str(exc) or time.monotonic() > deadline:
                raise PlatformError(
                    f"The XGBoost tracker cannot listen on {address}:{settings.tracker_port}: "
                    f"{_innermost_cause(exc)}. Another process may hold the port; choose a free "
                    f"one with {TRACKER_PORT.name} (the same on every host)."
                ) from None
        if not warned:
            log.warning(
                "port %d is taken, perhaps by the lingering connections of a job that just "
                "ended; retrying for up to %d s",
                settings.tracker_port,
                min(settings.timeout, PORT_LINGER_SECONDS),
            )
            warned = True
        time.sleep(1)


def _join(
    resources: ResourceConfig,
    tracker_address: str,
    settings: ClusterSettings,
    where: str,
    stop: threading.Event,
) -> None:
    try:
        _connect(tracker_address, resources.host_rank, settings, stop)
    except xgb.core.XGBoostError as exc:
        raise PlatformError(
            f"Host {resources.current_host} could not join the other {len(resources.hosts) - 1} "
            f"host(s) through the XGBoost tracker on {where} within {settings.timeout} s: "
            f"{_innermost_cause(exc)}. Every host must run this job and reach {where}; raise "
            f"{TIMEOUT.name} if hosts start far apart."
        ) from None
    rank = collective.get_rank()
    if rank != resources.host_rank:
        _leave()
        raise PlatformError(
            f"Host {resources.current_host} got XGBoost rank {rank}, not its place "
            f"{resources.host_rank} in resourceconfig.json's hosts; another job may be using "
            f"the tracker on {where}. Set {TRACKER_PORT.name} to a free port."
        )


def _connect(
    tracker_address: str, rank: int, settings: ClusterSettings, stop: threading.Event
) -> None:
    """Join once the tracker listens; hosts start in any order, minutes apart at worst.

    XGBoost's own retries wait 2, 4, 6… s between tries; trying again every 1/4 s instead
    joins as soon as the tracker is up, without the warning XGBoost logs for each try.
    """
    deadline = time.monotonic() + settings.timeout
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                collective.init(
                    dmlc_communicator="rabit",
                    dmlc_tracker_uri=tracker_address,
                    dmlc_tracker_port=settings.tracker_port,
                    # Ranks follow task ids in order: rank = place in the sorted host list.
                    dmlc_task_id=f"{rank:06d}",
                    dmlc_timeout=settings.timeout,
                    dmlc_retry=1,
                )
                return
            except xgb.core.XGBoostError as exc:
                if TRACKER_UNREACHABLE not in str(exc) or time.monotonic() > deadline:
                    raise
        if stop.is_set():
            raise StoppedWhileJoining
        time.sleep(JOIN_RETRY_SECONDS)


def _leave() -> None:
    try:
        collective.finalize()
    except xgb.core.XGBoostError as exc:
        log.warning("leaving the XGBoost collective: %s", _innermost_cause(exc))


def _stop_tracker(tracker: Any, wait: int) -> None:
    for step in (lambda: tracker.wait_for(wait), tracker.free):
        try:
            step()
        except xgb.core.XGBoostError as exc:
            log.warning("the XGBoost tracker did not shut down cleanly: %s", _innermost_cause(exc))


def _is_collective_failure(exc: BaseException) -> bool:
    return isinstance(exc, xgb.core.XGBoostError) and any(
        mark in str(exc) for mark in COLLECTIVE_FAILURE_MARKS
    )


def collective_failure(exc: BaseException, resources: ResourceConfig) -> PlatformError | None:
    """A readable error when a collective step failed, usually because a peer failed first."""
    if not _is_collective_failure(exc):
        return None
    return PlatformError(
        f"Host {resources.current_host} lost contact with the other hosts of this training "
        f"job ({'; '.join(_causes(exc))}). Usually another host failed first, and its "
        "failure reason is the cause; otherwise check the network between the hosts."
    )


def _causes(exc: BaseException) -> list[str]:
    """The causes in XGBoost's nested error text, outermost first, without their locations."""
    causes = []
    for line in str(exc).splitlines():
        if line.strip().startswith("- ["):
            _, sep, message = line.partition("]: ")
            causes.append((message if sep else line).strip().rstrip("."))
    return causes or [xgboost_message(exc)]


def _innermost_cause(exc: BaseException) -> str:
    return _causes(exc)[-1]
