"""doorcount sensor simulator: physics-based doorway traffic and beam-node traces."""
