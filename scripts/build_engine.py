"""Compile the counting engine (gateway/clock.py, decide.py, engine.py) with mypyc, in place.

    python scripts/build_engine.py        # what `./dev` runs when a source is newer than its build

The three modules are compiled as one group (shared library `gateway/fast__mypyc`), so their
calls and attribute reads across modules are native: about 20 % faster than compiling each
module on its own. `gateway/__init__.py` removes a build older than any of the sources, and
Python falls back to the sources; `DOORCOUNT_PURE=1 ./dev ...` removes the build on purpose.
"""

from __future__ import annotations

import sys

from mypyc.build import mypycify
from setuptools import setup

MODULES = ["gateway/clock.py", "gateway/decide.py", "gateway/engine.py"]

if __name__ == "__main__":
    sys.argv[1:] = ["build_ext", "--inplace"]
    setup(
        name="doorcount-engine",
        ext_modules=mypycify(MODULES, group_name="gateway.fast"),
    )
