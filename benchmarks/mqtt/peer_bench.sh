#!/usr/bin/env bash
# The lock-alert flow (benchmarks/mqtt/lock_alert.yaml) in ../shared/bench's peer benchmark:
# flowengine as one more target beside Node-RED, the two hand-written Python relays
# (paho, aiomqtt) and the broker alone. See benchmarks/mqtt/README.md.
#
#   benchmarks/mqtt/peer_bench.sh                      # 5 targets, 3 repetitions (~8 min)
#   benchmarks/mqtt/peer_bench.sh --reps 5             # any run_peer_bench.sh / peer_bench.py option
#   FLOWENGINE_PYTHON=/other/venv/bin/python benchmarks/mqtt/peer_bench.sh
#   benchmarks/mqtt/peer_bench.sh --scratch /tmp/pb --targets flowengine,relay_paho,broker
#
# The bench runs its own Python (a scratch venv with paho and aiomqtt) for the loadgen and the
# relays; flowengine runs from this repository's venv (.venv), where it and its dependencies are
# installed, as `python -m flowengine.cli run lock_alert.yaml` with MQTT_URL pointing at the
# bench's private broker. Options given here come after the defaults, so they win.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BENCH_SH="$REPO/../shared/bench/run_peer_bench.sh"
if [[ ! -x "$BENCH_SH" && ! -f "$BENCH_SH" ]]; then
    echo "peer_bench.sh: $BENCH_SH is not there: this benchmark needs ../shared/bench beside the" \
         "repository (the peer benchmark's harness); nothing was run." >&2
    exit 2
fi
PY="${FLOWENGINE_PYTHON:-$REPO/.venv/bin/python}"
if ! "$PY" -c 'import flowengine, aiomqtt, orjson' 2>/dev/null; then
    echo "peer_bench.sh: $PY cannot import flowengine and aiomqtt; create the venv first" \
         "(python3.11 -m venv .venv && .venv/bin/pip install -e '.[dev,fast]')" >&2
    exit 2
fi
FLOW="$HERE/lock_alert.yaml"
TARGET="flowengine=env MQTT_URL=mqtt://{host}:{port} $PY -m flowengine.cli run $FLOW"

SCRATCH=()
if [[ "${1:-}" == "--scratch" ]]; then SCRATCH=(--scratch "$2"); shift 2; fi   # must come first
exec bash "$BENCH_SH" "${SCRATCH[@]}" \
    --targets nodered,flowengine,relay_paho,relay_aiomqtt,broker \
    --target "$TARGET" \
    --reps 3 \
    "$@"
