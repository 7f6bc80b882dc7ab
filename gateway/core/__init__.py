"""The counting engine: sans-IO, pure and deterministic; the same code runs live, in replay and
in tests.

`engine` (de-duplication, per-node clock alignment, episodes, stuck beams, checkpoints) feeds
`decide` (the direction of each episode) with `clock` (the node-clock fit); `tuning` holds the
per-door thresholds and `events` what the engine emits. Depends only on `gateway.protocol`
(the tick record, the sequence window) and `gateway.errors`. `clock`, `decide` and `engine`
are compiled with mypyc when the build has a C compiler (`setup.py`).
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

_HERE = Path(__file__).parent
_COMPILED_MODULES = ("clock", "decide", "engine")


def _compiled() -> bool:
    """Whether the mypyc build is installed next to the sources, and current.

    Python imports a compiled module in preference to its source, so a build older than its
    source would run old code: refuse to import rather than count with it (rebuild, or remove
    the build to run pure Python). Nothing is deleted here.
    """
    builds = [
        path
        for name in _COMPILED_MODULES
        for suffix in importlib.machinery.EXTENSION_SUFFIXES
        if (path := _HERE / f"{name}{suffix}").exists()
    ]
    if not builds:
        return False
    oldest = min(path.stat().st_mtime for path in builds)
    stale = [name for name in _COMPILED_MODULES if (_HERE / f"{name}.py").stat().st_mtime > oldest]
    if stale or len(builds) != len(_COMPILED_MODULES):
        raise ImportError(
            f"the compiled counting engine in {_HERE} is older than its sources "
            f"({', '.join(stale) or 'incomplete build'}): rebuild it with `./dev` (or "
            "`DOORCOUNT_COMPILE=1 pip install --no-build-isolation -e .`), or delete "
            f"{_HERE}/*.so to run pure Python"
        )
    return True


COMPILED = _compiled()
"""True when the engine runs as the mypyc build, False when it runs as pure Python."""
