"""BLE transport between beam nodes and the gateway.

`profile` is the GATT/advertising contract shared with the firmware and the simulator;
`backend` picks the stack from config (bleak's OS backend, or `bumblebackend`: a bleak backend
on bumble whose process-wide bumble Device lives in `central`); `agent` answers BlueZ passkey
requests; `installer` holds scan/pair/unpair/identify; `ingest` keeps every paired node
connected and turns its notifications into ticks; `live` feeds them to the engine and
`recording` records a session for a bit-exact replay. Importing the package imports neither
bumble nor bleak.
"""
