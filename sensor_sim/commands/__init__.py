"""`sensor-sim` subcommands, one module each, discovered by sensor_sim.cli."""
