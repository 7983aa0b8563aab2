"""Build hook for the optional compiled device library; everything else is in pyproject.toml.

A plain ``pip install`` builds pure Python. With ``FLOWENGINE_COMPILE=1`` a wheel build (not an
editable install) also compiles the modules of the cold decoding path (ZCL parsing, converters,
definitions, typed events) with Cython into C extensions, which run the same code about 1.4x
faster (benchmarks/README.md). The ``.py`` files ship beside them; Python imports the compiled
module first. Cython must be in the build environment:

    pip install 'setuptools>=77' 'cython>=3.1'
    FLOWENGINE_COMPILE=1 pip install --no-build-isolation .

An editable install (``pip install -e .``) never compiles: a compiled module beside its source
would shadow every later edit of that source until the next build.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup

#: The modules compiled, as (module, source). Their semantics stay Python's: annotations are not
#: used as C types (``annotation_typing`` off), so an int stays an int where a float is declared.
COMPILED_MODULES = [
    (f"flowengine_nodes.devices.{name}", f"nodes/flowengine_nodes/devices/{path}.py")
    for name, path in [
        ("zcl", "zcl"),
        ("decoder", "decoder"),
        ("converters", "converters"),
        ("lumi", "lumi"),
        ("jsvalues", "jsvalues"),
        ("events", "events"),
        ("clusters_household", "clusters_household"),
        ("definitions.__init__", "definitions/__init__"),
        ("definitions.lumi_household", "definitions/lumi_household"),
        ("definitions.lumi_lock", "definitions/lumi_lock"),
        ("definitions.ikea_lights", "definitions/ikea_lights"),
    ]
]


def compiled_extensions() -> list[Extension]:
    """The C extensions to build: none unless FLOWENGINE_COMPILE=1 and this is not an editable install."""
    if os.environ.get("FLOWENGINE_COMPILE") != "1":
        return []
    if "editable_wheel" in sys.argv:
        sys.stderr.write("FLOWENGINE_COMPILE=1 is ignored by an editable install (compiled modules would shadow "
                         "edits)\n")
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        sys.exit("FLOWENGINE_COMPILE=1 needs Cython where the package is built: "
                 "pip install 'setuptools>=77' 'cython>=3.1', then pip install --no-build-isolation .")
    extensions = [Extension(module, [source]) for module, source in COMPILED_MODULES]
    directives = {"language_level": 3, "annotation_typing": False}
    compiled: list[Extension] = cythonize(extensions, compiler_directives=directives, build_dir="build/cython",
                                          nthreads=os.cpu_count() or 1, quiet=True)
    return compiled


extensions = compiled_extensions()
# Compile the C files in parallel (one job per core; about a minute on two cores).
setup(ext_modules=extensions, options={"build_ext": {"parallel": os.cpu_count() or 1}} if extensions else {})
