from sensor_sim.ble.command import register

__all__ = ["register"]
