"""Grafana provisioning: structure of the committed files, and every panel and alert query run
on real InfluxDB (1.6.7, InfluxQL) fed the bridge's own line protocol, numbers checked."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from gateway.outputs.bridge import grafana, schema
from gateway.outputs.bridge.points import encode
from gateway.outputs.bridge.schema import interpret
from gateway.outputs.mqtt.payloads import (
    DoorOccupancyPayload,
    IntervalPayload,
    NodeHealthPayload,
    QualityPayload,
    Role,
    SiteOccupancyPayload,
    Topics,
    TransactionsPayload,
    VisitsPayload,
    ZoneOccupancyPayload,
)
from tests.support.tsdb import Influx1

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "grafana"
MON = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())  # a Monday
H = 3600
CAPACITIES = {"Corner Shop": 4}

# -- structure -------------------------------------------------------------------------------


def committed(name: str) -> Any:
    return json.loads((DEPLOY / name).read_text())


def test_committed_files_are_the_generated_ones(tmp_path: Path) -> None:
    grafana.write_provisioning(tmp_path)
    for path in sorted(tmp_path.rglob("*.json")):
        relative = path.relative_to(tmp_path)
        assert (DEPLOY / relative).read_text() == path.read_text(), f"regenerate {relative}"


def test_datasource_provisioning() -> None:
    config = yaml.safe_load((DEPLOY / "provisioning/datasources/doorcount.yaml").read_text())
    assert config["apiVersion"] == 1
    (source,) = config["datasources"]
    assert source["uid"] == grafana.DATASOURCE_UID
    assert source["type"] == "influxdb"
    assert source["jsonData"]["httpMode"] == "POST"
    assert "INFLUX_TOKEN" in source["secureJsonData"]["httpHeaderValue1"]
    provider = yaml.safe_load((DEPLOY / "provisioning/dashboards/doorcount.yaml").read_text())
    assert provider["apiVersion"] == 1
    assert provider["providers"][0]["type"] == "file"


@pytest.mark.parametrize("name", sorted(grafana.dashboards()))
def test_dashboard_structure(name: str) -> None:
    model = committed(f"dashboards/{name}")
    assert model["schemaVersion"] == grafana.SCHEMA_VERSION
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", model["uid"])
    variables = {v["name"]: v for v in model["templating"]["list"]}
    assert set(variables) == {"site", "door", "tz"}
    for var in variables.values():
        if var["type"] == "query":
            assert var["datasource"] == grafana.DATASOURCE
            assert var["query"].startswith("SHOW TAG VALUES")
    ids = [p["id"] for p in model["panels"]]
    assert len(ids) == len(set(ids))
    cells: set[tuple[int, int]] = set()
    for panel in model["panels"]:
        assert panel["type"] in {"stat", "bargauge", "timeseries", "table", "heatmap"}
        assert panel["datasource"] == grafana.DATASOURCE
        pos = panel["gridPos"]
        assert pos["x"] >= 0
        assert pos["x"] + pos["w"] <= 24
        assert pos["h"] > 0
        mine = {
            (x, y)
            for x in range(pos["x"], pos["x"] + pos["w"])
            for y in range(pos["y"], pos["y"] + pos["h"])
        }
        assert not cells & mine, f"{panel['title']} overlaps another panel"
        cells |= mine
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == grafana.DATASOURCE
            assert target["rawQuery"] is True
            assert target["resultFormat"] in {"time_series", "table"}
            used = set(re.findall(r"\$(\w+)", target["query"]))
            assert used <= set(variables) | {"timeFilter", "__interval"}, used
            assert "$timeFilter" in target["query"]
        for transformation in panel["transformations"]:
            assert transformation["id"] in {
                "groupingToMatrix",
                "sortBy",
                "joinByField",
                "calculateField",
            }


def test_alert_rules_structure() -> None:
    rules = committed("provisioning/alerting/doorcount.json")
    assert rules["apiVersion"] == 1
    (group,) = rules["groups"]
    assert re.fullmatch(r"\d+[smh]", group["interval"])
    uids = [r["uid"] for r in group["rules"]]
    assert len(uids) == len(set(uids))
    titles = {r["title"] for r in group["rules"]}
    assert {"Occupancy above capacity", "Node offline", "Beam stuck"} <= titles
    for rule in group["rules"]:
        assert re.fullmatch(r"[a-zA-Z0-9_-]{1,40}", rule["uid"])
        refs = {d["refId"]: d for d in rule["data"]}
        assert rule["condition"] in refs
        assert rule["noDataState"] in {"OK", "NoData", "Alerting"}
        assert rule["execErrState"] in {"OK", "Error", "Alerting"}
        assert re.fullmatch(r"\d+[smh]", rule["for"])
        for item in rule["data"]:
            assert item["model"]["refId"] == item["refId"]
            if item["datasourceUid"] == "__expr__":
                assert item["model"]["expression"] in refs
                assert item["model"]["type"] in {"reduce", "threshold", "math"}
            else:
                assert item["datasourceUid"] == grafana.DATASOURCE_UID
                assert item["model"]["rawQuery"] is True
                assert item["relativeTimeRange"]["from"] > 0


# -- queries on real InfluxDB -----------------------------------------------------------------


def interval(
    door: str,
    start: int,
    entries: int,
    exits: int,
    rev: int = 0,
    site: str = "Corner Shop",
    role: Role = "entrance",
    audit: tuple[float, float, float] | None = None,
    **split: int,
) -> tuple[str, bytes]:
    """`audit`: (factor in, factor out, since) of an accepted audit on the door."""
    audited: dict[str, Any] = {}
    if audit is not None:
        f_in, f_out, since = audit
        audited = {
            "entries_corrected": round(entries * f_in),
            "exits_corrected": round(exits * f_out),
            "correction_in": f_in,
            "correction_out": f_out,
            "corrected_since": since,
        }
    payload = IntervalPayload(
        site=site,
        door=door,
        start=start,
        seconds=60,
        entries=entries,
        exits=exits,
        revision=rev,
        role=role,
        **split,
        **audited,
    )
    return Topics("doorcount", site).interval(door), payload.encode()


def health(
    node: str,
    door: str,
    *,
    connected: bool,
    battery: int,
    gaps: int,
    reconnects: int,
    stuck: bool = False,
) -> tuple[str, bytes]:
    payload = NodeHealthPayload(
        site="Corner Shop",
        node=node,
        door=door,
        position="dual",
        connected=connected,
        rssi=-60,
        battery_pct=battery,
        battery_mv=2900,
        last_seen=MON + 10 * H,
        reconnects=reconnects,
        gaps=gaps,
        duplicates=0,
        ticks_dropped=0,
        beam_stuck=stuck,
    )
    return Topics("doorcount", "Corner Shop").node_health(node), payload.encode()


def site_occ(site: str, t: float, occupancy: int, corrected: int = 0) -> tuple[str, bytes]:
    payload = SiteOccupancyPayload(
        site=site,
        t=t,
        occupancy=occupancy,
        entries=0,
        exits=0,
        corrected=corrected,
        last_reset=None,
        reset_reason=None,
    )
    return Topics("doorcount", site).site_occupancy(), payload.encode()


def zone_occ(zone: str, t: float, occupancy: int) -> tuple[str, bytes]:
    payload = ZoneOccupancyPayload(
        site="Corner Shop",
        zone=zone,
        t=t,
        occupancy=occupancy,
        entries=occupancy,
        exits=0,
        corrected=0,
        last_reset=None,
        reset_reason=None,
    )
    return Topics("doorcount", "Corner Shop").zone_occupancy(zone), payload.encode()


def door_occ(door: str, t: float, net: int) -> tuple[str, bytes]:
    payload = DoorOccupancyPayload(
        site="Corner Shop", door=door, t=t, entries=max(net, 0), exits=max(-net, 0), net=net
    )
    return Topics("doorcount", "Corner Shop").door_occupancy(door), payload.encode()


def till(start: int, transactions: int, name: str = "Till 1") -> tuple[str, bytes]:
    payload = TransactionsPayload(
        site="Corner Shop", till=name, start=start, seconds=3600, transactions=transactions
    )
    return Topics("doorcount", "Corner Shop").transactions(name), payload.encode()


def visits(
    start: int, occupancy_s: float, entries: int, zone: str | None = None
) -> tuple[str, bytes]:
    payload = VisitsPayload(
        site="Corner Shop",
        zone=zone,
        start=start,
        seconds=60,
        occupancy_seconds=occupancy_s,
        entries=entries,
        exits=0,
        corrected=0,
        inside_end=0,
        capture_rate=None,
    )
    return Topics("doorcount", "Corner Shop").visits(zone), payload.encode()


def quality(t: float, duplicates: int) -> tuple[str, bytes]:
    payload = QualityPayload(
        site="Corner Shop",
        t=t,
        duplicates_dropped=duplicates,
        seq_gaps=0,
        late_ticks=0,
        corrected_intervals=1,
        occupancy_corrected=1,
        outbox_depth=0,
        outbox_dropped=0,
        bad_frames=0,
    )
    return Topics("doorcount", "Corner Shop").quality(), payload.encode()


# (message, receive time): the bridge's input, in arrival order.
MESSAGES: list[tuple[tuple[str, bytes], float]] = [
    (interval("Front door", MON + 9 * H, 5, 1), MON + 9 * H + 65),
    (interval("Front door", MON + 9 * H + 60, 2, 3), MON + 9 * H + 125),
    (interval("Back", MON + 9 * H, 1, 0), MON + 9 * H + 65),
    (interval("Back", MON + 9 * H, 1, 0), MON + 9 * H + 70),  # an outbox re-send
    (interval("Front door", MON + 9 * H, 6, 1, rev=1), MON + 9 * H + 300),  # late crossing
    (interval("Front door", MON + 17 * H + 1800, 0, 4), MON + 17 * H + 1870),
    (
        interval("Back", MON + 23 * H + 1800, 3, 0, out_of_hours_in=3),
        MON + 23 * H + 1870,
    ),  # Tue 00:30 in Berlin
    (  # Tue 10:00, after an accepted audit (Tue 06:00) of the front door
        interval(
            "Front door",
            MON + 34 * H,
            7,
            2,
            visitors_in=5,
            staff_in=2,
            visitors_out=2,
            audit=(1.4, 1.5, MON + 30 * H),
        ),
        MON + 34 * H + 65,
    ),
    (interval("Back", MON + 34 * H, 0, 5), MON + 34 * H + 65),
    (  # the frontage beam: passers-by both ways, Tue 10:00
        interval(
            "Frontage", MON + 34 * H, 25, 25, passersby_in=25, passersby_out=25, role="perimeter"
        ),
        MON + 34 * H + 65,
    ),
    (till(MON + 34 * H, 2), MON + 35 * H),  # Tue: 2 sales, 5 visitor entries
    (till(MON + 34 * H, 1, "Till 2"), MON + 35 * H),
    (till(MON + 9 * H, 4), MON + 10 * H),  # Mon: sales but no visitor entry: no conversion
    (interval("North", MON + 12 * H, 10, 8, site="Mall"), MON + 12 * H + 65),
    # occupancy-seconds of the site: Mon 3000 + 1800 s over 2 entries; Tue 600 s, no entry
    (visits(MON + 9 * H, 3000.0, 2), MON + 9 * H + 65),
    (visits(MON + 9 * H + 60, 1800.0, 0), MON + 9 * H + 125),
    (visits(MON + 9 * H + 60, 1800.0, 0), MON + 9 * H + 130),  # an outbox re-send
    (visits(MON + 34 * H, 600.0, 0), MON + 34 * H + 65),
    (visits(MON + 9 * H, 99999.0, 1, zone="Upstairs"), MON + 9 * H + 65),  # not the site's
    (site_occ("Corner Shop", MON + 9 * H + 30, 5), MON + 9 * H + 31),
    (site_occ("Corner Shop", MON + 9 * H + 70, 4), MON + 9 * H + 71),
    (site_occ("Corner Shop", MON + 17 * H + 1830, 0, corrected=1), MON + 17 * H + 1831),
    (site_occ("Corner Shop", MON + 34 * H + 30, 5, corrected=1), MON + 34 * H + 31),
    (site_occ("Mall", MON + 12 * H + 30, 2), MON + 12 * H + 31),
    (zone_occ("Ground floor", MON + 9 * H + 30, 4), MON + 9 * H + 31),
    (zone_occ("Upstairs", MON + 9 * H + 40, 1), MON + 9 * H + 41),
    (zone_occ("Upstairs", MON + 10 * H + 40, 0), MON + 10 * H + 41),
    (door_occ("Front door", MON + 9 * H + 30, 3), MON + 9 * H + 31),
    (door_occ("Front door", MON + 9 * H + 70, 2), MON + 9 * H + 71),
    (door_occ("Back", MON + 34 * H + 30, -1), MON + 34 * H + 31),
    (health("n1", "Front door", connected=True, battery=80, gaps=3, reconnects=1), MON + 8 * H),
    (health("n1", "Front door", connected=True, battery=78, gaps=5, reconnects=2), MON + 20 * H),
    (health("n2", "Back", connected=True, battery=55, gaps=0, reconnects=0), MON + 8 * H),
    (
        health("n2", "Back", connected=False, battery=54, gaps=0, reconnects=0, stuck=True),
        MON + 30 * H,
    ),
    (quality(MON + 9 * H, 10), MON + 9 * H + 1),
    (quality(MON + 30 * H, 14), MON + 30 * H + 1),
    (("doorcount/corner_shop/gateway/status", b"online"), MON + 8 * H),
    (("doorcount/corner_shop/gateway/status", b"offline"), MON + 40 * H),
]


# What `doorcount forecast publish` writes (gateway/insight/publish.py), made Tuesday 06:00.
FORECASTS = [
    # An older forecast of an hour is overwritten by the newer one below (same point).
    *schema.forecast_points(
        "Corner Shop",
        None,
        [schema.ForecastHour(MON + 34 * H, 99.0, 90, 110)],
        level=0.8,
        made=MON,
        model="profile",
    ),
    *schema.forecast_points(
        "Corner Shop",
        None,
        [
            schema.ForecastHour(MON + 34 * H, 6.5, 3, 10),
            schema.ForecastHour(MON + 35 * H, 8.0, 5, 12),
        ],
        level=0.8,
        made=MON + 30 * H,
        model="profile",
    ),
    *schema.forecast_points(
        "Mall",
        None,
        [schema.ForecastHour(MON + 12 * H, 9.0, 6, 13)],
        level=0.8,
        made=MON,
        model="profile",
    ),
    *schema.forecast_points(
        "Corner Shop",
        "Front door",
        [schema.ForecastHour(MON + 34 * H, 4.0, 2, 7)],
        level=0.8,
        made=MON + 30 * H,
        model="profile",
    ),
    # Visitors and occupancy share the site's points (fields per quantity), and a zone's.
    *schema.forecast_points(
        "Corner Shop",
        None,
        [schema.ForecastHour(MON + 34 * H, 5.5, 2, 9)],
        level=0.8,
        made=MON + 30 * H,
        model="profile",
        quantity="visitors",
    ),
    *schema.forecast_points(
        "Corner Shop",
        None,
        [schema.ForecastHour(MON + 34 * H, 0.4, 0, 2)],
        level=0.8,
        made=MON + 30 * H,
        model="profile",
        quantity="occupancy",
    ),
    *schema.forecast_points(
        "Corner Shop",
        None,
        [schema.ForecastHour(MON + 9 * H, 25.0, 18, 33)],
        level=0.8,
        made=MON,
        model="profile",
        quantity="occupancy",
        zone="Upstairs",
    ),
    schema.comparison_point(
        "Corner Shop",
        {"change": 0.12, "ci_low": 0.02, "ci_high": 0.23, "p_value": 0.02, "days_needed": 40},
        MON + 30 * H,
    ),
]


@pytest.fixture
def db(influxdb1: Influx1) -> Influx1:
    influxdb1.create_database("doorcount")
    for (topic, payload), received in MESSAGES:
        decoded = interpret(
            topic, payload, prefix="doorcount", received=received, tz=ZoneInfo("UTC")
        )
        influxdb1.write("doorcount", encode(list(decoded.points)))
    influxdb1.write("doorcount", encode(FORECASTS))
    return influxdb1


def grafana_regex(values: list[str]) -> str:
    """What Grafana puts for $var inside /^$var$/: escaped values, several as (a|b)."""
    escaped = [re.sub(r"([\\^$.|?*+()\[\]{}/])", r"\\\1", v) for v in values]
    return escaped[0] if len(escaped) == 1 else "(" + "|".join(escaped) + ")"


def run(
    db: Influx1,
    query: str,
    *,
    site: list[str] | None = None,
    door: list[str] | None = None,
    tz: str = "UTC",
    interval: str = "1m",
    start: int = MON,
    end: int = MON + 48 * H,
) -> list[dict[str, Any]]:
    text = (
        query.replace("$timeFilter", f"time >= {start}s AND time < {end}s")
        .replace("$__interval", interval)
        .replace("$site", grafana_regex(site or ["Corner Shop", "Mall"]))
        .replace("$door", grafana_regex(door or ["Front door", "Back", "North"]))
        .replace("$tz", tz)
    )
    return db.query(text, db="doorcount")


def by_tags(
    series: list[dict[str, Any]], *keys: str
) -> dict[tuple[str, ...], list[dict[str, Any]]]:
    """{tag values: rows as dicts (time included)}."""
    out = {}
    for s in series:
        tags = s.get("tags", {})
        rows = [dict(zip(s["columns"], v, strict=True)) for v in s["values"]]
        out[tuple(tags.get(k, "") for k in keys)] = rows
    return out


def nonzero(rows: list[dict[str, Any]], *fields: str) -> dict[int, tuple[Any, ...]]:
    return {r["time"]: tuple(r[f] for f in fields) for r in rows if any(r[f] for f in fields)}


Check = Callable[[Influx1, str], None]


def check_occupancy_now(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q), "site")
    assert {k: rows[-1]["occupancy"] for k, rows in got.items()} == {
        ("Corner Shop",): 5,
        ("Mall",): 2,
    }
    assert by_tags(run(db, q, site=["Mall"]), "site").keys() == {("Mall",)}


def check_net_per_door(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q), "site", "door")
    assert {k: rows[-1]["net"] for k, rows in got.items()} == {
        ("Corner Shop", "Front door"): 2,
        ("Corner Shop", "Back"): -1,
    }


def check_occupancy(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    shop = {r["time"]: r["occupancy"] for r in got["Corner Shop",]}
    assert shop[MON + 9 * H] == 4  # last value in that hour
    assert shop[MON + 12 * H] == 4  # fill(previous) holds it
    assert shop[MON + 17 * H] == 0
    assert shop[MON + 34 * H] == 5


def check_entries_exits(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q), "door")
    assert nonzero(got["Front door",], "entries", "exits") == {
        MON + 9 * H: (6, 1),  # the correction replaced revision 0
        MON + 9 * H + 60: (2, 3),
        MON + 17 * H + 1800: (0, 4),
        MON + 34 * H: (7, 2),
    }
    assert nonzero(got["Back",], "entries", "exits") == {
        MON + 9 * H: (1, 0),  # sent twice, counted once
        MON + 23 * H + 1800: (3, 0),
        MON + 34 * H: (0, 5),
    }
    only_back = by_tags(run(db, q, site=["Corner Shop"], door=["Back"]), "door")
    assert set(only_back) == {("Back",)}


def check_daily_totals(db: Influx1, q: str) -> None:
    utc = by_tags(run(db, q), "door")
    assert nonzero(utc["Front door",], "entries", "exits") == {MON: (8, 8), MON + 24 * H: (7, 2)}
    assert nonzero(utc["Back",], "entries", "exits") == {MON: (4, 0), MON + 24 * H: (0, 5)}
    assert nonzero(utc["North",], "entries", "exits") == {MON: (10, 8)}
    berlin = by_tags(run(db, q, tz="Europe/Berlin", start=MON - H, end=MON + 47 * H), "door")
    assert nonzero(berlin["Back",], "entries", "exits") == {MON - H: (1, 0), MON + 23 * H: (3, 5)}


def check_heatmap(db: Influx1, q: str) -> None:
    """A native heatmap: one series per hour of the day (Grafana's y buckets), one value per
    day (x), zeros filled so every cell of the range is there."""
    got = by_tags(run(db, q, site=["Corner Shop"]), "hour")
    assert set(got) == {("09",), ("10",), ("17",), ("23",)}
    assert all([r["time"] for r in rows] == [MON, MON + 24 * H] for rows in got.values())
    cells = {(k[0], r["time"]): r["entries"] for k, rows in got.items() for r in rows}
    assert {cell: n for cell, n in cells.items() if n} == {
        ("09", MON): 9,
        ("23", MON): 3,
        ("10", MON + 24 * H): 7,
    }
    berlin = by_tags(run(db, q, site=["Corner Shop"], tz="Europe/Berlin"), "hour")
    assert berlin["09",][0]["time"] == MON - H  # days are local days


def check_door_ranking(db: Influx1, q: str) -> None:
    got = {k: r[0]["entries"] for k, r in by_tags(run(db, q), "site", "door").items()}
    assert got == {
        ("Corner Shop", "Front door"): 15,
        ("Corner Shop", "Back"): 4,
        ("Corner Shop", "Frontage"): 25,
        ("Mall", "North"): 10,
    }


def check_audit_corrections(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q), "site", "door")
    assert set(got) == {("Corner Shop", "Front door")}  # the only door with an audit
    (row,) = got["Corner Shop", "Front door"]
    assert (row["entries raw"], row["entries corrected"]) == (7, 10)
    assert (row["exits raw"], row["exits corrected"]) == (2, 3)
    assert (row["factor in"], row["factor out"]) == (1.4, 1.5)
    assert row["since"] == (MON + 30 * H) * 1000  # ms, as Grafana's time units want


def check_site_ranking(db: Influx1, q: str) -> None:
    got = {k: (r[0]["entries"], r[0]["exits"]) for k, r in by_tags(run(db, q), "site").items()}
    assert got == {("Corner Shop",): (44, 40), ("Mall",): (10, 8)}


def check_nodes(db: Influx1, q: str) -> None:
    got = {k: r[0] for k, r in by_tags(run(db, q), "site", "node", "door").items()}
    n1, n2 = got["Corner Shop", "n1", "Front door"], got["Corner Shop", "n2", "Back"]
    assert (n1["connected"], n1["battery %"], n1["gaps"], n1["reconnects"], n1["beam stuck"]) == (
        1,
        78,
        5,
        2,
        0,
    )
    assert (n2["connected"], n2["battery %"], n2["beam stuck"]) == (0, 54, 1)
    assert n1["last seen"] == (MON + 10 * H) * 1000
    assert n1["battery mV"] == 2900
    assert n1["rssi"] == -60


def check_battery(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "node")
    n2 = {r["time"]: r["battery"] for r in got["n2",]}
    assert n2[MON + 8 * H] == 55
    assert n2[MON + 29 * H] == 55
    assert n2[MON + 30 * H] == 54


def check_gaps(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "node")
    assert nonzero(got["n1",], "gaps", "reconnects") == {MON + 20 * H: (2, 1)}


def check_quality(db: Influx1, q: str) -> None:
    (row,) = by_tags(run(db, q), "site")["Corner Shop",]
    assert row["duplicates dropped"] == 14
    assert row["corrected intervals"] == 1


def check_corrected(db: Influx1, q: str) -> None:
    got = {k: r[0]["corrected"] for k, r in by_tags(run(db, q), "site").items()}
    assert got == {("Corner Shop",): 1}


def check_duplicates(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    assert nonzero(got["Corner Shop",], "duplicates") == {MON + 30 * H: (4,)}


def check_imbalance(db: Influx1, q: str) -> None:
    got = {k: nonzero(r, "imbalance") for k, r in by_tags(run(db, q), "site").items()}
    assert got == {("Corner Shop",): {MON: (4,)}, ("Mall",): {MON: (2,)}}


def check_audiences(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    rows = nonzero(got["",], "visitors", "staff", "out of hours")
    assert rows == {MON + 23 * H: (0, 0, 3), MON + 34 * H: (5, 2, 0)}


def check_zone_occupancy(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site", "zone")
    ground = {r["time"]: r["occupancy"] for r in got["Corner Shop", "Ground floor"]}
    upstairs = {r["time"]: r["occupancy"] for r in got["Corner Shop", "Upstairs"]}
    assert (ground[MON + 9 * H], ground[MON + 12 * H]) == (4, 4)
    assert (upstairs[MON + 9 * H], upstairs[MON + 10 * H], upstairs[MON + 11 * H]) == (1, 0, 0)


def check_occupancy_corrections(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    assert nonzero(got["Corner Shop",], "corrected")[MON + 17 * H] == (1,)


def check_gateway_online(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    rows = {r["time"]: r["online"] for r in got["corner_shop",]}
    assert rows[MON + 8 * H] == 1
    assert rows[MON + 39 * H] == 1
    assert rows[MON + 40 * H] == 0


def check_forecast_overlay(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    if "site_forecast" in q:
        shop = {
            r["time"]: (r["forecast"], r["low 80%"], r["high 80%"]) for r in got["Corner Shop",]
        }
        assert shop == {MON + 34 * H: (6.5, 3, 10), MON + 35 * H: (8.0, 5, 12)}
        assert {r["time"]: r["forecast"] for r in got["Mall",]} == {MON + 12 * H: 9.0}
        return
    shop = {r["time"]: r["actual"] for r in got["Corner Shop",]}
    assert shop == {MON + 9 * H: 9, MON + 17 * H: 0, MON + 23 * H: 3, MON + 34 * H: 7}


def check_door_forecast_overlay(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, site=["Corner Shop"], interval="1h"), "door")
    if "door_forecast" in q:
        assert got == {("Front door",): [{"time": MON + 34 * H, "forecast": 4.0}]}
        return
    assert {r["time"]: r["actual"] for r in got["Front door",]} == {
        MON + 9 * H: 8,
        MON + 17 * H: 0,
        MON + 34 * H: 7,
    }
    assert set(got) == {("Front door",), ("Back",)}


def check_visitor_forecast(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    if "site_forecast" in q:  # only the hour with a visitors forecast, not the entries ones
        shop = {
            r["time"]: (r["forecast"], r["low 80%"], r["high 80%"]) for r in got["Corner Shop",]
        }
        assert shop == {MON + 34 * H: (5.5, 2, 9)}
        return
    # Tue 10:00: 5 visitor entries at the front door; Monday's intervals predate the split
    # and the frontage beam's passers-by are not visitors.
    assert {r["time"]: r["actual"] for r in got["Corner Shop",]} == {MON + 34 * H: 5}


def check_occupancy_forecast(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "site")
    if "site_forecast" in q:
        shop = {
            r["time"]: (r["forecast"], r["low 80%"], r["high 80%"]) for r in got["Corner Shop",]
        }
        assert shop == {MON + 34 * H: (0.4, 0, 2)}
        return
    # Mean people inside per hour: (3000 + 1800 s) / 3600 on Mon 09:00 (the re-send
    # overwrote its point), 600 s on Tue 10:00; the Upstairs zone is not the site.
    shop = {r["time"]: r["actual"] for r in got["Corner Shop",]}
    assert shop == {
        MON + 9 * H: pytest.approx(4800 / 3600),
        MON + 34 * H: pytest.approx(600 / 3600),
    }


def check_zone_occupancy_forecast(db: Influx1, q: str) -> None:
    got = by_tags(run(db, q, interval="1h"), "zone")
    if "zone_forecast" in q:
        assert got == {("Upstairs",): [{"time": MON + 9 * H, "forecast": 25.0}]}
        return
    assert got == {("Upstairs",): [{"time": MON + 9 * H, "actual": pytest.approx(99999 / 3600)}]}


def check_comparison(db: Influx1, q: str) -> None:
    (row,) = by_tags(run(db, q), "site")["Corner Shop",]
    assert row["change %"] == pytest.approx(12.0)
    assert (row["95% low %"], row["95% high %"]) == (pytest.approx(2.0), pytest.approx(23.0))
    assert row["p"] == 0.02
    assert row["days needed for 10%"] == 40


def check_visitors_and_passers(db: Influx1, q: str) -> None:
    (series,) = run(db, q, interval="1h")
    rows = {t: v for t, v in series["values"] if v}
    if "visitors_in" in q:  # entrance doors only: the frontage beam's crossings are not visits
        assert rows == {MON + 34 * H: 5}
    else:
        assert rows == {MON + 34 * H: 50}


def check_capture_rate(db: Influx1, q: str) -> None:
    """The panel's two queries; Grafana joins them by day (inner) and divides."""
    (series,) = run(db, q)
    rows = dict(series["values"])
    if "visitors_in" in q:
        assert rows == {MON + 24 * H: 5}  # Monday's intervals predate the visitor split
    else:  # Mon had no passers-by: no row, so no ratio (blank, not 0); Tue 5 / 50 = 10 %
        assert rows == {MON + 24 * H: 50}


def check_conversion(db: Influx1, q: str) -> None:
    (series,) = run(db, q)
    rows = dict(series["values"])
    if "till_transactions" in q:
        assert rows == {MON: 4, MON + 24 * H: 3}
    else:  # Mon had no visitor entry: no row, no ratio; Tue 3 / 5 = 60 %
        assert rows == {MON + 24 * H: 5}


def check_mean_visit(db: Influx1, q: str) -> None:
    """Occupancy-seconds and entries of the whole site (not its zones); Grafana divides."""
    (series,) = run(db, q)
    rows = dict(series["values"])
    if "occupancy_seconds" in q:
        assert rows == {MON: 5400.0}  # the re-send overwrote its point
    else:  # 2 entries: 2700 s per visit; blank (no row) where nobody entered
        assert rows == {MON: 2}


def check_mean_visit_per_day(db: Influx1, q: str) -> None:
    (series,) = run(db, q)
    rows = dict(series["values"])
    if "occupancy_seconds" in q:
        assert rows == {MON: 4800.0, MON + 24 * H: 600.0}
    else:  # Mon 4800 / 2 = 2400 s; Tue has no entry: no row, so no ratio (blank, not 0)
        assert rows == {MON: 2}


CHECKS: dict[str, Check] = {
    "Mean visit length over the period": check_mean_visit,
    "Mean visit length per day": check_mean_visit_per_day,
    "Entries per hour: forecast and actual": check_forecast_overlay,
    "Entries per hour by door: forecast and actual": check_door_forecast_overlay,
    "Last four weeks against the four before": check_comparison,
    "Visitors per hour: forecast and actual": check_visitor_forecast,
    "Occupancy per hour: forecast and actual": check_occupancy_forecast,
    "Zone occupancy per hour: forecast and actual": check_zone_occupancy_forecast,
    "Visitors and passers-by": check_visitors_and_passers,
    "Capture rate per day": check_capture_rate,
    "Conversion per day": check_conversion,
    "Occupancy now": check_occupancy_now,
    "Net through each door": check_net_per_door,
    "Occupancy": check_occupancy,
    "Entries and exits per interval": check_entries_exits,
    "Visitors, staff and out of hours": check_audiences,
    "Zone occupancy": check_zone_occupancy,
    "Daily totals": check_daily_totals,
    "Busiest hours of the week": check_heatmap,
    "Doors ranked by entries": check_door_ranking,
    "Sites ranked by entries": check_site_ranking,
    "Audit corrections": check_audit_corrections,
    "Nodes": check_nodes,
    "Battery": check_battery,
    "Sequence gaps and reconnects": check_gaps,
    "Gateway data quality": check_quality,
    "Corrected intervals": check_corrected,
    "Duplicates dropped": check_duplicates,
    "Occupancy imbalance per day": check_imbalance,
    "Occupancy corrections": check_occupancy_corrections,
    "Gateway online": check_gateway_online,
}


def all_panels() -> list[dict[str, Any]]:
    return [
        p
        for name in sorted(grafana.dashboards())
        for p in committed(f"dashboards/{name}")["panels"]
    ]


def test_every_panel_has_a_numbers_check() -> None:
    assert sorted(p["title"] for p in all_panels()) == sorted(CHECKS)


def test_panel_queries_on_influxdb(db: Influx1) -> None:
    for panel in all_panels():
        for target in panel["targets"]:
            CHECKS[panel["title"]](db, target["query"])


def test_variable_queries_on_influxdb(db: Influx1) -> None:
    variables = {
        v["name"]: v for v in committed("dashboards/doorcount-traffic.json")["templating"]["list"]
    }
    sites = run(db, variables["site"]["query"])[0]["values"]
    assert sorted(v for _, v in sites) == ["Corner Shop", "Mall"]
    doors = run(db, variables["door"]["query"], site=["Corner Shop"])[0]["values"]
    assert sorted(v for _, v in doors) == ["Back", "Front door", "Frontage"]


def evaluate(db: Influx1, rule: dict[str, Any]) -> set[tuple[tuple[str, str], ...]]:
    """Grafana's A (query) -> B (reduce last) -> C (threshold) on our data: firing label sets."""
    data = {d["refId"]: d["model"] for d in rule["data"]}
    reduce, threshold = data["B"], data["C"]
    assert (reduce["expression"], reduce["reducer"], threshold["expression"]) == ("A", "last", "B")
    evaluator = threshold["conditions"][0]["evaluator"]
    limit = evaluator["params"][0]
    firing = set()
    for series in run(db, data["A"]["query"]):
        values = [v[1] for v in series["values"] if v[1] is not None]
        last = values[-1]
        if (last > limit) if evaluator["type"] == "gt" else (last < limit):
            firing.add(tuple(sorted(series["tags"].items())))
    return firing


def test_alert_queries_on_influxdb(db: Influx1) -> None:
    rules = grafana.alert_rules(CAPACITIES, default_capacity=1)
    fired = {r["title"]: evaluate(db, r) for r in rules["groups"][0]["rules"]}
    assert fired == {
        "Occupancy above capacity at Corner Shop": {(("site", "Corner Shop"),)},  # 5 > 4
        "Occupancy above capacity": {(("site", "Mall"),)},  # 2 > 1; Corner Shop has its own
        "Node offline": {(("node", "n2"), ("site", "Corner Shop"))},
        "Beam stuck": {(("door", "Back"), ("node", "n2"), ("site", "Corner Shop"))},
        "Gateway offline": {(("site", "corner_shop"),)},
    }
    relaxed = grafana.alert_rules({"Corner Shop": 5}, default_capacity=2)
    fired = {r["title"]: evaluate(db, r) for r in relaxed["groups"][0]["rules"]}
    assert fired["Occupancy above capacity at Corner Shop"] == set()
    assert fired["Occupancy above capacity"] == set()
