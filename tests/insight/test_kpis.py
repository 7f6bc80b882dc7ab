"""Capture rate and conversion: periods stated, blank (not zero) with a zero denominator."""

from __future__ import annotations

import json

import pytest

from gateway.insight.kpis import Kpi, capture_rate, conversion, ratio

H9 = 1_767_603_600  # Mon 2026-01-05 09:00 UTC


def test_capture_rate_and_conversion() -> None:
    cap = capture_rate(45, 300, H9, H9 + 3600)
    assert cap.value == pytest.approx(0.15)
    assert cap.cell() == "15.0%"
    assert cap.period == "2026-01-05T09:00Z/2026-01-05T10:00Z"
    conv = conversion(9, 45, H9, H9 + 3600, zone="shop")
    assert conv.value == pytest.approx(0.2)
    assert conv.to_json() == {
        "kpi": "conversion",
        "zone": "shop",
        "start": H9,
        "end": H9 + 3600,
        "period": "2026-01-05T09:00Z/2026-01-05T10:00Z",
        "transactions": 9,
        "visitor_entries": 45,
        "value": pytest.approx(0.2),
    }


def test_zero_denominators_are_blank_not_zero() -> None:
    cap = capture_rate(0, 0, H9, H9 + 3600)
    conv = conversion(0, 0, H9, H9 + 3600)
    assert cap.value is None
    assert conv.value is None
    assert cap.cell() == ""
    assert json.loads(json.dumps(conv.to_json()))["value"] is None
    assert ratio(0, 5) == 0.0  # a zero numerator is a real zero


def test_combine_adds_parts_instead_of_averaging_ratios() -> None:
    hours = [conversion(1, 2, H9, H9 + 3600), conversion(10, 100, H9 + 3600, H9 + 7200)]
    day = Kpi.combine(hours)
    assert (day.start, day.end) == (H9, H9 + 7200)
    assert day.value == pytest.approx(11 / 102)
    assert Kpi.combine([conversion(0, 0, H9, H9 + 60)]).value is None
    with pytest.raises(ValueError, match="different KPIs"):
        Kpi.combine([hours[0], capture_rate(1, 2, H9, H9 + 60)])


def test_invalid_parts_are_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        conversion(-1, 5, H9, H9 + 60)
    with pytest.raises(ValueError, match="empty"):
        capture_rate(1, 5, H9, H9)
