"""The MQTT-to-InfluxDB bridge (`doorcount bridge`), its local store and Grafana provisioning.

Layers: `points` (line protocol) <- `schema` (MQTT payloads to points) <- `batch` (a batch to a
sink, dead letters) <- `service` (the MQTT loop). `sinks` and `store` are where points go;
`grafana` generates the dashboards and alert rules that read them. See docs/influx.md.
"""
