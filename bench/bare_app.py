"""The baseline: the strongest simple app a user writes, on the same stack as algoport.

A bare starlette app on hypercorn with uvloop, one process, serving the very model file
algoport serves (``model.skops`` from algoport-sklearn's ``linear``, a binary
LogisticRegression, read with skops as a user would): CSV parsed by ``np.loadtxt`` from
the raw bytes, the model called inline on the event loop, and the reply written as
``linear`` writes text/csv (``score,predicted_label`` a line, floats in shortest repr), so
``bench/serve.py`` can check that both servers answer byte for byte the same. Run by
``bench/serve.py``; not part of algoport.

    python bench/bare_app.py PORT MODEL_DIR
"""

from __future__ import annotations

import asyncio
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np
import skops.io
import uvloop
from hypercorn.asyncio import serve
from hypercorn.config import Config
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


def load(model_dir: Path) -> Any:
    state = skops.io.load(model_dir / "model.skops")  # skops's default trusted types suffice
    return state["estimator"]


def build_app(model: Any) -> Starlette:
    async def ping(request: Request) -> Response:
        return Response(status_code=200)

    async def invocations(request: Request) -> Response:
        body = await request.body()
        data = np.loadtxt(io.BytesIO(body), delimiter=",", ndmin=2)
        probabilities = model.predict_proba(data)
        scores = probabilities[:, 1].tolist()
        labels = probabilities.argmax(axis=1).tolist()
        lines = map("{!r},{}".format, scores, labels)
        return Response("\n".join(lines) + "\n", media_type="text/csv")

    return Starlette(
        routes=[
            Route("/ping", ping, methods=["GET"]),
            Route("/invocations", invocations, methods=["POST"]),
        ]
    )


def main() -> None:
    port, model_dir = int(sys.argv[1]), Path(sys.argv[2])
    config = Config()
    config.bind = [f"127.0.0.1:{port}"]
    config.accesslog = None
    config.keep_alive_timeout = 75
    config.keep_alive_max_requests = 1_000_000
    app = build_app(load(model_dir))
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(serve(app, config))  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
