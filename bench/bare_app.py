"""The baseline: a bare starlette app on hypercorn, as the AWS bring-your-own examples write it.

One process, uvloop, CSV parsed with ``np.loadtxt`` and the model called inline on the
event loop. Run by ``bench/serve.py``; not part of algoport.

    python bench/bare_app.py PORT TRAIN_CSV
"""

from __future__ import annotations

import asyncio
import io
import sys

import numpy as np
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from sklearn.linear_model import LogisticRegression
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def train(path: str) -> LogisticRegression:
    table = np.loadtxt(path, delimiter=",", ndmin=2)
    return LogisticRegression(max_iter=5000).fit(table[:, 1:], table[:, 0])


def build_app(model: LogisticRegression) -> Starlette:
    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        data = np.loadtxt(io.StringIO(body.decode()), delimiter=",", ndmin=2)
        labels = model.predict(data)
        out = io.StringIO()
        np.savetxt(out, labels, fmt="%g")
        return Response(out.getvalue(), media_type="text/csv")

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def main() -> None:
    port, train_csv = int(sys.argv[1]), sys.argv[2]
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    config.keep_alive_max_requests = 1_000_000
    app = build_app(train(train_csv))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
