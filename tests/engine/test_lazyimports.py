"""``flowengine.deferred_imports``: modules a library imports now run their code on first use.

Each case runs in a fresh interpreter: the modules it defers must not be imported already.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import json, sys
from flowengine import deferred_imports

def state(name):
    module = sys.modules.get(name)
    return None if module is None else type(module).__name__

seen = {}
with deferred_imports(("json.tool", "_decimal", "sys", "no.such.module", "xml.dom.minidom")):
    import json.tool          # a Python module on the path: deferred
    import _decimal           # an extension module: imported as usual
    import sys as again       # already imported: as usual
    try:
        import no.such.module
    except ModuleNotFoundError as exc:
        seen["missing"] = exc.name
seen["json.tool"] = state("json.tool")
seen["argparse (its import)"] = state("argparse")
seen["_decimal"] = state("_decimal")
seen["sys"] = again is sys
seen["main callable"] = callable(json.tool.main)   # first use runs the module
seen["json.tool then"] = state("json.tool")
seen["argparse then"] = state("argparse")
import xml.dom.minidom   # named, but imported after the block: as usual
seen["after the block"] = state("xml.dom.minidom")
with deferred_imports(("urllib.request",)):
    import urllib.request
proxies = urllib.request.getproxies()
seen["getproxies"] = [type(proxies).__name__, proxies.get("mqtt")]
print(json.dumps(seen))
"""


def test_deferred_modules_load_on_first_use_and_the_rest_as_usual() -> None:
    done = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True, cwd=REPO,
                          env={"PATH": "", "mqtt_proxy": "socks://127.0.0.1:1"})
    seen = json.loads(done.stdout)
    assert seen == {
        "missing": "no",
        "json.tool": "_LazyModule",
        "argparse (its import)": None,  # json.tool's own imports wait with it
        "_decimal": "module",
        "sys": True,
        "main callable": True,
        "json.tool then": "module",
        "argparse then": "module",
        "after the block": "module",
        "getproxies": ["dict", "socks://127.0.0.1:1"],  # a proxy lookup after deferral works
    }
