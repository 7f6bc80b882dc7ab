"""The installer's workflow on top of the BLE source: walk tests (`walktest`) and what the
installer commands print (`view`): short lines and the exact next step for every failure.
"""
