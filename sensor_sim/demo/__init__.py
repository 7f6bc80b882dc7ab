"""The embedded default behind `doorcount demo`: a simulated site through the whole product.

    sensor_sim trace -> simulated BLE nodes (bumble, in-process radio) -> Ingest
        -> Service (engine, intervals, occupancy, SQLite outbox) -> MQTT broker (embedded amqtt)
        -> bridge -> local series store (read by `doorcount report`)

Nothing here needs a server or hardware; `site.DemoSite` wires the real components together.
"""
