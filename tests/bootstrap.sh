#!/usr/bin/env bash
# Prepare a fresh machine for the test suite: Mosquitto and openssl from Debian's packages
# when missing (the suite starts its own broker), systemd-analyze (Debian's systemd package:
# the suite verifies deploy/flowengine.service; nothing is started), chromium and
# chromium-driver (the live page's tests drive the browser), then a virtualenv with
# flowengine and its dev tools. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ] \
        || ! command -v openssl >/dev/null 2>&1; then
    echo "installing mosquitto and openssl from Debian's packages"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq mosquitto openssl >/dev/null
fi
if ! command -v systemd-analyze >/dev/null 2>&1; then
    echo "installing systemd (for systemd-analyze) from Debian's packages"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    { $SUDO apt-get update -qq \
        && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends systemd >/dev/null; } \
        || echo "warning: systemd could not be installed; the unit verification test will be skipped"
fi
# The live page's tests drive Debian's Chromium through chromium-driver (same source package,
# so the two versions always match).
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
    echo "installing chromium and chromium-driver from Debian's packages"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium chromium-driver >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q -e '.[dev]'
