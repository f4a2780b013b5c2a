"""The serving checks of ``algoport check``: ``/ping``, every declared content type, bad
requests, batch transform as Marketplace validation sends it, SIGTERM while serving."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from algoport.errors import AlgoportError
from algoport.local.check_result import CheckResult
from algoport.local.processes import ServeProcess
from algoport.local.samples import Features, Sample, encoded_sample, file_sample, reply_records
from algoport.local.transform import TransformSettings, run_transform
from algoport.media import FormatRegistry
from algoport.plugins import Algorithm
from algoport.settings import VARIABLES

SAMPLE_ROWS = 5
BATCH_ROWS = 1000
BATCH_PAYLOAD_MB = 6
STARTUP_SECONDS = 240.0  # SageMaker's /ping deadline
STOP_SECONDS = 30.0  # SageMaker sends SIGKILL 30 s after SIGTERM on an endpoint
GARBAGE = b"\x89\x00not a record\xff\xfe,,;{[\n"
UNKNOWN_TYPE = "application/x-algoport-check"


@dataclass(frozen=True)
class Reply:
    status: int
    content_type: str
    body: bytes

    @property
    def error(self) -> str | None:
        """The message of a JSON error body ``{"error": "..."}``, if it is one."""
        try:
            message = json.loads(self.body)["error"]
        except (ValueError, KeyError, TypeError):
            return None
        return message if isinstance(message, str) and message else None

    def shown(self) -> str:
        return self.error or self.body[:200].decode(errors="replace") or "(empty body)"


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Reply:
    host, _, port = url.removeprefix("http://").partition(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        connection.request("POST", "/invocations", body=body, headers=dict(headers))
        response = connection.getresponse()
        return Reply(response.status, response.getheader("Content-Type", ""), response.read())
    finally:
        connection.close()


def _answer_problem(reply: Reply, expected_type: str, records: int | None) -> str | None:
    """Why a reply is not 200 with ``records`` records of ``expected_type``, or None."""
    if reply.status != 200:
        return f"answered {reply.status}: {reply.shown()}"
    answered = reply.content_type.split(";")[0].strip().lower()
    if answered != expected_type:
        return f"answered Content-Type {answered or '(none)'}; expected {expected_type}"
    try:
        count = reply_records(expected_type, reply.body)
    except (ValueError, KeyError, TypeError, OSError) as exc:
        return f"the reply is not valid {expected_type}: {exc}"
    if records is not None and count is not None and count != records:
        return f"{count} records in the reply for {records} sent; expected one per record"
    return None


def _refusal_problem(reply: Reply) -> str | None:
    """Why a reply to a bad request is not a 4xx with a JSON error body, or None."""
    if not 400 <= reply.status < 500:
        return f"answered {reply.status}, expected a 4xx: {reply.shown()}"
    if reply.error is None:
        return f'answered {reply.status} without a JSON body {{"error": "..."}}: {reply.shown()}'
    return None


def _samples(
    registry: FormatRegistry, features: Features, inputs: Mapping[str, Path]
) -> dict[str, Sample | None]:
    """A request body for each accepted type: a given file, or the channel's features."""
    return {
        kind: file_sample(registry, kind, inputs[kind])
        if kind in inputs
        else encoded_sample(kind, features[:SAMPLE_ROWS])
        for kind in registry.accepts
    }


def check_serving(
    result: CheckResult,
    algorithm: Algorithm,
    registry: FormatRegistry,
    model_dir: Path | None,
    features: Features,
    inputs: Mapping[str, Path],
    workdir: Path,
) -> None:
    if model_dir is None:
        result.skip("serve", "no model to serve")
        return
    batch_env = {
        VARIABLES["batch"].name: "true",
        VARIABLES["batch_strategy"].name: "MULTI_RECORD",
        VARIABLES["max_payload_mb"].name: str(BATCH_PAYLOAD_MB),
    }
    servers = [
        ServeProcess(
            model_dir, algorithm.name, env=env, wait_ready=False, startup_timeout=STARTUP_SECONDS
        )
        for env in ({}, batch_env)
    ]
    try:
        for server in servers:
            server.start()
        realtime, batch = servers
        # What serve answers a request with no Accept (it inherits this environment).
        default = registry.default_answer(VARIABLES["default_accept"].read(os.environ)).essence
        if _ready(result, "serve: /ping answers 200", realtime):
            samples = _samples(registry, features, inputs)
            _check_requests(result, realtime.url, registry, samples, default)
            _check_bad_requests(result, realtime.url, registry, samples, features)
            _check_drain(result, realtime, samples)
        if _ready(result, "batch: /ping answers 200", batch):
            _check_batch(result, batch.url, registry, features, default, workdir / "batch")
    finally:
        for server in servers:
            server.stop()


def _ready(result: CheckResult, name: str, server: ServeProcess) -> bool:
    try:
        seconds = server.wait_until_ready()
    except (RuntimeError, TimeoutError) as exc:
        # The first line says how serve ended; its first logged error says why.
        first, *logged = str(exc).splitlines() or [""]
        errors = [line.partition(" ERROR ")[2] for line in logged if " ERROR " in line]
        return result.record(name, "; ".join([first.rstrip(":"), *errors[:1]]))
    return result.record(name, None, f"after {seconds:.1f} s")


def _check_requests(
    result: CheckResult,
    url: str,
    registry: FormatRegistry,
    samples: Mapping[str, Sample | None],
    default: str,
) -> None:
    """Every accepted type with no Accept, then every produced type asked for by Accept."""
    for kind, sample in samples.items():
        name = f"request {kind}"
        if sample is None:
            result.skip(name, f"no sample: give one with --input {kind}=PATH")
            continue
        reply = post(url, sample.body, {"Content-Type": kind})
        counted = f", {sample.records} records" if sample.records is not None else ""
        result.record(name, _answer_problem(reply, default, sample.records), f"200{counted}")
    first = next((s for s in samples.values() if s is not None), None)
    for kind in registry.produces:
        name = f"response {kind}"
        if first is None:
            result.skip(name, "no request sample to send")
            continue
        headers = {"Content-Type": first.content_type, "Accept": kind}
        reply = post(url, first.body, headers)
        result.record(name, _answer_problem(reply, kind, first.records), "200")


def _check_bad_requests(
    result: CheckResult,
    url: str,
    registry: FormatRegistry,
    samples: Mapping[str, Sample | None],
    features: Features,
) -> None:
    """Garbage in every accepted type, a record too wide, an unknown Content-Type and an
    Accept nothing matches: each a 4xx with a JSON error body."""
    for kind in registry.accepts:
        reply = post(url, GARBAGE, {"Content-Type": kind})
        result.record(f"bad input: garbage {kind}", _refusal_problem(reply), str(reply.status))
    wider = np.hstack([features[:SAMPLE_ROWS], np.zeros((min(SAMPLE_ROWS, len(features)), 1))])
    wide = next((s for k in registry.accepts if (s := encoded_sample(k, wider))), None)
    if wide is None:
        result.skip("bad input: one feature too many", "no type the core can write is accepted")
    else:
        reply = post(url, wide.body, {"Content-Type": wide.content_type})
        result.record("bad input: one feature too many", _refusal_problem(reply), str(reply.status))
    first = next((s for s in samples.values() if s is not None), None)
    if first is None:
        return
    reply = post(url, first.body, {"Content-Type": UNKNOWN_TYPE})
    result.record("bad input: unsupported Content-Type", _refusal_problem(reply), str(reply.status))
    headers = {"Content-Type": first.content_type, "Accept": UNKNOWN_TYPE}
    reply = post(url, first.body, headers)
    result.record("bad input: unacceptable Accept", _refusal_problem(reply), str(reply.status))


def _check_drain(
    result: CheckResult, server: ServeProcess, samples: Mapping[str, Sample | None]
) -> None:
    """SIGTERM just after a request: it is answered, and serve exits 0 within 30 s."""
    name = "serve: SIGTERM drains and exits 0"
    first = next((s for s in samples.values() if s is not None), None)
    replies: list[Reply | BaseException] = []

    def send() -> None:
        assert first is not None
        try:
            replies.append(post(server.url, first.body, {"Content-Type": first.content_type}))
        except (OSError, http.client.HTTPException) as exc:
            replies.append(exc)

    sender = threading.Thread(target=send, name="check-request") if first else None
    if sender is not None:
        sender.start()
        time.sleep(0.05)
    try:
        code: int | None = server.terminate(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        code = None
    if sender is not None:
        sender.join()
    problem = None
    if code is None:
        problem = f"serve still ran {STOP_SECONDS:g} s after SIGTERM"
    elif code != 0:
        problem = f"serve exited {code} after SIGTERM; expected 0"
    elif replies and not isinstance(replies[0], Reply):
        problem = f"the request in flight got no answer: {replies[0]}"
    result.record(name, problem, "exit 0" + (", the request in flight answered" if replies else ""))


def _check_batch(
    result: CheckResult,
    url: str,
    registry: FormatRegistry,
    features: Features,
    default: str,
    batch_dir: Path,
) -> None:
    """A MultiRecord transform with no Accept: one prediction out per record in."""
    name = "batch: one output per input record"
    line_based = [k for k in registry.accepts if (f := registry.get(k)) and f.line_based]
    rows = features[:BATCH_ROWS]
    sample = next((s for k in line_based if (s := encoded_sample(k, rows))), None)
    if sample is None:
        result.skip(name, "the algorithm accepts no line-based type the core can write")
        return
    batch_dir.mkdir(parents=True, exist_ok=True)
    source = batch_dir / "input"
    source.write_bytes(sample.body)
    settings = TransformSettings(content_type=sample.content_type, max_payload_mb=BATCH_PAYLOAD_MB)
    try:
        [outcome] = run_transform(url, [source], batch_dir / "output", settings)
    except AlgoportError as exc:
        result.record(name, str(exc))
        return
    if outcome.error or outcome.output is None:
        result.record(name, outcome.error or "no output")
        return
    try:
        count = reply_records(default, outcome.output.read_bytes())
    except (ValueError, KeyError, TypeError, OSError) as exc:
        result.record(name, f"the output is not valid {default}: {exc}")
        return
    problem = None
    if count is not None and count != len(rows):
        problem = f"{count} output records for {len(rows)} input records ({default})"
    requests = f"{outcome.batches} request" + ("s" if outcome.batches != 1 else "")
    shown = f"{len(rows)} records of {sample.content_type} in {requests}"
    result.record(name, problem, f"{shown} → {count if count is not None else '?'} {default}")
