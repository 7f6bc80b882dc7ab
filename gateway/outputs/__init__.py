"""Where counts go: the durable `outbox`, the MQTT client and its topic and payload contract
(`mqtt`), and the MQTT-to-InfluxDB `bridge` with its local store and Grafana provisioning.
"""
