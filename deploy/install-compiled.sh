#!/usr/bin/env bash
# Install flowengine from this checkout into a virtualenv with its device library compiled
# (Cython; see setup.py): the cold decoding path runs about 1.4x faster. Needs a C compiler and
# the Python headers (Debian, Raspberry Pi OS: sudo apt install gcc python3-dev).
#
#   deploy/install-compiled.sh VENV [PYTHON] [EXTRAS]
#
# VENV is created with PYTHON (default python3) when missing. EXTRAS, such as [fast] or [dev],
# is appended to the package. Run it again after changing the sources: only what changed is
# compiled again (the C files and objects stay in build/). Ends with a check that the compiled
# modules are the ones Python imports.
set -euo pipefail
VENV=$(realpath -m "${1:?usage: deploy/install-compiled.sh VENV [PYTHON] [EXTRAS]}")
PYTHON=${2:-python3}
EXTRAS=${3:-}
cd "$(dirname "$0")/.."
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install -q 'setuptools>=77' 'cython>=3.1'
FLOWENGINE_COMPILE=1 "$VENV/bin/pip" install -q --no-build-isolation ".$EXTRAS"
(cd / && "$VENV/bin/python" -c 'from flowengine_nodes.devices import compiled
assert compiled(), "the device library was installed but is not the compiled one"
print("compiled device library installed")')
