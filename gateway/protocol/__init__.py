"""What crosses a wire or a file: node frames (`wire`), the serial byte stream (`framing`), the
gateway's per-node session that turns frames into ticks (`session`), the sequence window all of
them share (`seqwindow`), the GATT/advertising contract (`gatt`) and the `doorcount-trace` file
format (`trace`). No I/O and nothing above it is imported here.
"""
