"""From ticks to committed counts: the service loop (`service`) feeds a source's ticks to the
engine, rolls crossings into intervals (`intervals`) and occupancy (`occupancy`), checkpoints
and records (`recording`), and hands messages to an output through the durable outbox.
`live` is the light-weight BLE-to-engine loop used by maintainer tools.
"""
