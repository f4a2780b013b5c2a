#!/usr/bin/env bash
# ../shared/bench-peers with adaptive batching visible: its algoport plugin declares no
# `independent_rows`, so its own run measures algoport unbatched. This installs a copy of
# that plugin that declares it (same model, same predict) into the bench's algoport venv,
# runs the bare app and algoport side by side, and puts the original plugin back.
#
#   ../shared/bench-peers/setup.sh starlette algoport    # once, from the project's root
#   bench/peers_batched.sh                               # ~3 min, prints bench-peers' tables
set -euo pipefail
PEERS="$(cd "$(dirname "$0")/../../shared/bench-peers" && pwd)"
BENCH_HOME="${BENCH_HOME:-/tmp/algoport-bench}"
PIP="$BENCH_HOME/venvs/algoport/bin/python -m pip"
original="$BENCH_HOME/src/algoport_bench"
batched="$BENCH_HOME/src/algoport_bench_rows"
[ -d "$original" ] || { echo "run $PEERS/setup.sh algoport first" >&2; exit 2; }

rm -rf "$batched" && cp -r "$original" "$batched"
rm -rf "$batched/build" "$batched"/*.egg-info  # else setuptools reuses the original's build
cat >> "$batched/algoport_bench/plugin.py" <<'PY'


from algoport import Capabilities


@hookimpl
def capabilities():
    return Capabilities(independent_rows=True)  # one label per row, rows predicted alone
PY
restore() { $PIP install -q --force-reinstall --no-deps "$original" >/dev/null 2>&1; }
trap restore EXIT
$PIP install -q --force-reinstall --no-deps "$batched" >/dev/null 2>&1
"$PEERS/run.sh" bare-starlette-hypercorn algoport
