"""Where ticks come from: paired BLE nodes (`ble`), wired serial nodes (`serial`) and recorded
or simulated trace files (`tracefile`), each behind the small source interface of `base`.
"""
