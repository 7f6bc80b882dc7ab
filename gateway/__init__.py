"""doorcount gateway: ingest beam-edge ticks, count crossings, forward counts."""

from pathlib import Path

__version__ = "0.1.0"


def _drop_stale_builds() -> None:
    """`./dev` compiles the engine's hot modules with mypyc, next to their sources, as one
    group (`scripts/build_engine.py`: a shared `fast__mypyc` library and one stub per module).

    Python imports such a build in preference to the source, so one older than any of the
    sources would silently run old code: remove it all (it is our own artefact; `./dev`
    rebuilds it).
    """
    here = Path(__file__).parent
    names = ("clock", "decide", "engine")
    try:
        newest = max((here / f"{name}.py").stat().st_mtime for name in names)
    except OSError:
        return
    builds = [b for name in (*names, "fast") for b in here.glob(f"{name}*.cpython-*.so")]
    try:
        stale = any(b.stat().st_mtime < newest for b in builds)
    except OSError:
        stale = True
    # A module stub without the group's shared library would fail to import.
    stale = stale or not any(b.name.startswith("fast__mypyc.") for b in builds)
    if stale:
        for built in builds:
            built.unlink(missing_ok=True)


_drop_stale_builds()
