"""The end-to-end soak, short: 20 doors / 40 simulated BLE nodes -> `doorcount run` ->
Mosquitto -> `doorcount bridge` -> VictoriaMetrics, every fault kind once; what is stored
equals the engine's replay of the gateway's own recording, per door, interval and direction.

The long version is `./dev soak` (`python -m benchmarks.soak --minutes 30`).

A node's ring is RAM: when the trace's node reboot falls while that node still waits for the
restarted gateway to reconnect it, the ticks the gateway had not received are gone with it, as
on hardware: the unreceived tail of that boot. Every other tick must arrive.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from benchmarks.soak import KINDS, SoakConfig, run_soak


@pytest.mark.servers
@pytest.mark.timeout(420)
def test_short_soak_loses_and_doubles_nothing_through_every_fault(tmp_path: Path) -> None:
    # 10 s intervals: 75 s of trace make several per door.
    config = SoakConfig(doors=20, minutes=1.25, seed=3, interval_s=10)
    result = run_soak(config, tmp_path, say=lambda _: None)

    assert (result.doors, result.nodes) == (20, 40)
    assert set(result.fault_counts) == set(KINDS)  # every fault kind was injected
    assert result.link_losses >= 1
    assert result.reboots >= 1
    # Every tick that left its node reached the engine.
    assert result.missing == 0
    assert result.received == result.served - result.gone_at_reboot
    assert result.crossings > 0
    assert result.problems == []
    assert result.stale == 0
    assert result.lost == result.doubled == 0
    # Stored == expected for every door x interval (zeros included); the store may also hold
    # the empty intervals the gateway closed while the run drained.
    assert {
        key: value
        for key, value in result.stored.items()
        if key in result.expected or value != (0, 0)
    } == result.expected
    assert result.waits
    assert not math.isnan(result.longest_catch_up)
