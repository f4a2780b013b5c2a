"""Adaptive batching through the real `serve` process: concurrent requests over HTTP.

A first request sleeps in predict (custom attribute ``sleep=S``) on a prediction thread
(inline runs are off, so the event loop keeps reading requests); the requests sent while it
sleeps wait together and form the next batch. The fixture algorithms log the record
count of every predict call in ``calls.log``, so each test sees which requests shared one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from algoport.testing import ServeProcess

pytestmark = pytest.mark.e2e

BLOCKER_SECONDS = 1.5
CSV = {"Content-Type": "text/csv", "Accept": "text/csv"}


def body(rows: int, start: int = 0) -> bytes:
    """``rows`` records of two features, different for each ``start``."""
    return "".join(f"{start + i}.25,{(start + i) / 8!r}\n" for i in range(rows)).encode()


def calls(model: Path) -> list[int]:
    """The record count of every predict call so far, in order."""
    return [int(line) for line in (model / "calls.log").read_text().split()]


async def _post_while_blocked(url: str, requests: Sequence[dict[str, Any]]) -> list[httpx.Response]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        blocker = asyncio.create_task(
            client.post(
                "/invocations",
                content=body(1),
                headers={**CSV, "X-Amzn-SageMaker-Custom-Attributes": f"sleep={BLOCKER_SECONDS}"},
            )
        )
        await asyncio.sleep(BLOCKER_SECONDS / 3)  # the blocker is in predict
        replies = await asyncio.gather(
            *(client.post("/invocations", **request) for request in requests)
        )
        assert (await blocker).status_code == 200
        return list(replies)


def post_together(server: ServeProcess, requests: Sequence[dict[str, Any]]) -> list[httpx.Response]:
    """Send ``requests`` (httpx.post arguments) at once while the worker is busy."""
    return asyncio.run(_post_while_blocked(server.url, requests))


def serve(tmp_path: Path, algorithm: str, **env: str) -> ServeProcess:
    model = tmp_path / "ml" / "model"
    model.mkdir(parents=True)
    return ServeProcess(model, algorithm, env={"ALGOPORT_INLINE_PREDICT_MS": "0", **env})


def test_batched_replies_equal_unbatched_ones_byte_for_byte(tmp_path: Path) -> None:
    bodies = [body(rows, start=10 * rows) for rows in (1, 2, 3, 4, 5)]
    with serve(tmp_path, "fixture-independent-rows") as server:
        alone = [server.client.post("/invocations", content=b, headers=CSV) for b in bodies]
        assert calls(server.model_dir) == [1, 2, 3, 4, 5]
        together = post_together(server, [{"content": b, "headers": CSV} for b in bodies])
        log = calls(server.model_dir)[6:]  # after the five alone and the blocker
    assert [r.status_code for r in together] == [200] * 5
    assert [r.content for r in together] == [r.content for r in alone]
    assert max(log) > 5, f"no two requests shared a predict call: {log}"
    assert sum(log) == 15


def test_metrics_count_every_batched_request_and_each_shared_predict(tmp_path: Path) -> None:
    bodies = [body(rows, start=10 * rows) for rows in (1, 2, 3, 4)]
    with serve(tmp_path, "fixture-independent-rows") as server:
        replies = post_together(server, [{"content": b, "headers": CSV} for b in bodies])
        predicts = len(calls(server.model_dir))
        exposition = server.client.get("/metrics").text
    assert [r.status_code for r in replies] == [200] * 4
    assert predicts < 5, "the four requests were not batched"

    def count(series: str) -> float:
        labels = 'algorithm="fixture-independent-rows",model=""'
        line = next(line for line in exposition.splitlines() if line.startswith(series + "{"))
        assert labels in line, line
        return float(line.rpartition(" ")[2])

    phases = {
        phase: sum(
            float(line.rpartition(" ")[2])
            for line in exposition.splitlines()
            if line.startswith("algoport_request_phase_seconds_count")
            and f'phase="{phase}"' in line
        )
        for phase in ("decode", "predict", "encode")
    }
    assert count("algoport_requests_total") == 5  # the four and the blocker
    assert phases == {"decode": 5, "predict": predicts, "encode": 5}


def test_a_bad_request_fails_alone(tmp_path: Path) -> None:
    good = [body(2, start=s) for s in (1, 2, 3)]
    requests = [
        {"content": good[0], "headers": CSV},
        {"content": b"1.0,\n2.0,3.0\n", "headers": CSV},  # a missing value: predict refuses it
        {"content": good[1], "headers": CSV},
        {"content": b"1.0,abc\n", "headers": CSV},  # does not decode
        {"content": b'{"instances": [[1, 2]]}', "headers": {"Content-Type": "application/json"}},
        {"content": good[2], "headers": CSV},
    ]
    with serve(tmp_path, "fixture-independent-rows") as server:
        expected = [server.client.post("/invocations", content=b, headers=CSV) for b in good]
        replies = post_together(server, requests)
        log = calls(server.model_dir)[4:]
    assert [r.status_code for r in replies] == [200, 400, 200, 400, 200, 200]
    assert [replies[i].content for i in (0, 2, 5)] == [r.content for r in expected]
    assert replies[1].json() == {"error": "A record has a missing value; send every feature."}
    assert "column 2" in replies[3].json()["error"]
    # The joint call of the four CSV bodies failed; each was then predicted alone.
    assert log[0] == 8, log
    assert sorted(log[1:]) == [1, 2, 2, 2, 2], log


def test_custom_attributes_stay_per_request(tmp_path: Path) -> None:
    def request(name: str) -> dict[str, Any]:
        headers = {**CSV, "X-Amzn-SageMaker-Custom-Attributes": name}
        return {"content": body(1), "headers": headers}

    with serve(tmp_path, "fixture-independent-rows") as server:
        replies = post_together(server, [request("a"), request("b"), request("a"), request("b")])
        log = calls(server.model_dir)[1:]
    echoed = [r.headers["X-Amzn-SageMaker-Custom-Attributes"] for r in replies]
    assert echoed == ["echo=a", "echo=b", "echo=a", "echo=b"]
    assert sorted(log) == [2, 2], log  # requests with equal attributes only


def test_different_accept_types_share_no_call_but_each_gets_its_own(tmp_path: Path) -> None:
    requests = [
        {"content": body(1), "headers": {"Content-Type": "text/csv", "Accept": accept}}
        for accept in ("text/csv", "application/json", "text/csv")
    ]
    with serve(tmp_path, "fixture-independent-rows") as server:
        replies = post_together(server, requests)
    assert [r.headers["content-type"].split(";")[0] for r in replies] == [
        "text/csv",
        "application/json",
        "text/csv",
    ]
    assert replies[0].content == replies[2].content == b"3.5\n"


def test_an_algorithm_without_the_declaration_is_never_batched(tmp_path: Path) -> None:
    bodies = [body(rows) for rows in (1, 2, 3, 4, 5)]
    with serve(tmp_path, "fixture-dependent-rows") as server:
        replies = post_together(server, [{"content": b, "headers": CSV} for b in bodies])
        log = calls(server.model_dir)[1:]
    assert [r.status_code for r in replies] == [200] * 5
    assert sorted(log) == [1, 2, 3, 4, 5]


def test_max_batch_size_one_turns_batching_off(tmp_path: Path) -> None:
    bodies = [body(rows) for rows in (1, 2, 3)]
    with serve(tmp_path, "fixture-independent-rows", ALGOPORT_MAX_BATCH_SIZE="1") as server:
        post_together(server, [{"content": b, "headers": CSV} for b in bodies])
        log = calls(server.model_dir)[1:]
    assert sorted(log) == [1, 2, 3]
