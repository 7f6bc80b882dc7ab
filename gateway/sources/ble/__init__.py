"""BLE transport between beam nodes and the gateway.

The GATT/advertising contract is `gateway.protocol.gatt`;
`backend` picks the stack from config (bleak's OS backend, or `bumblebackend`: a bleak backend
on bumble whose process-wide bumble Device lives in `central`); `agent` answers BlueZ passkey
requests; `pairing` holds scan/pair/unpair/identify; `ingest` keeps every paired node
connected and turns its notifications into ticks; `source` is the service's BLE source;
a session is recorded by `gateway.pipeline.recording`. Importing the package imports neither
bumble nor bleak.
"""
