"""doorcount gateway: ingest beam-edge ticks, count crossings, forward counts."""

__version__ = "0.1.0"
