#!/usr/bin/env bash
# What --http costs: the lock-alert flow under the peer bench, plain and with --http scraped
# once a second (benchmarks/mqtt/http_target.py), alternating, on the same private broker.
#
#   benchmarks/mqtt/http_cost.sh                 # 3 repetitions (~4 min)
#   benchmarks/mqtt/http_cost.sh --reps 1        # any peer_bench.py option; later ones win
#
# Runs ../shared/bench/peer_bench.py directly with this repository's venv (it has paho-mqtt 2
# and aiomqtt, all the load generator needs), so no Node-RED is installed for a comparison that
# does not involve it. PEER_BENCH_HOME overrides where the harness is.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BENCH="${PEER_BENCH_HOME:-$REPO/../shared/bench}"
if [[ ! -f "$BENCH/peer_bench.py" ]]; then
    echo "http_cost.sh: $BENCH/peer_bench.py is not there (set PEER_BENCH_HOME); nothing was run." >&2
    exit 2
fi
PY="${FLOWENGINE_PYTHON:-$REPO/.venv/bin/python}"
FLOW="$HERE/lock_alert.yaml"
MOSQ="$(command -v mosquitto || echo /usr/sbin/mosquitto)"
export HTTP_COST_LOG="${HTTP_COST_LOG:-/tmp/flowengine-http-cost.log}"
exec "$PY" "$BENCH/peer_bench.py" --mosquitto "$MOSQ" --python "$PY" \
    --out-dir "${TMPDIR:-/tmp}/http-cost-$(date +%Y%m%d-%H%M%S)" \
    --targets flowengine,flowengine_http \
    --target "flowengine=env MQTT_URL=mqtt://{host}:{port} $PY -m flowengine.cli run $FLOW" \
    --target "flowengine_http=env MQTT_URL=mqtt://{host}:{port} $PY $HERE/http_target.py $FLOW" \
    --reps 3 \
    "$@"
