"""doorcount gateway: ingest beam-edge ticks, count crossings, forward counts."""

from pathlib import Path

__version__ = "0.1.0"


def _drop_stale_builds() -> None:
    """`./dev` compiles the engine's hot modules with mypyc, next to their sources.

    Python imports such a build in preference to the source, so one older than its source
    would silently run old code: remove it (it is our own artefact; `./dev` rebuilds it).
    """
    here = Path(__file__).parent
    for name in ("clock", "decide", "engine"):
        source = here / f"{name}.py"
        for pattern in (f"{name}.cpython-*.so", f"{name}__mypyc.cpython-*.so"):
            for built in here.glob(pattern):
                try:
                    if built.stat().st_mtime < source.stat().st_mtime:
                        built.unlink()
                except OSError:
                    pass


_drop_stale_builds()
