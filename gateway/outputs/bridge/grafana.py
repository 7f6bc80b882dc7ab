"""Grafana provisioning generated from one place: dashboards and alert rules as JSON.

Queries are raw InfluxQL so the same panels run on InfluxDB 1.8, 2.x (DBRP mapping of the
bucket) and 3.x. The generated files are committed under deploy/grafana/; regenerate with
`python -m gateway.outputs.bridge.grafana deploy/grafana --capacity "Corner Shop=120"`
after changing
capacities (a test checks the committed files equal this module's output for the defaults).
"""

# ruff: noqa: S608 - the InfluxQL here is built from constants, never from outside input

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.outputs.bridge import schema

DATASOURCE_UID = "doorcount-influxdb"
DATASOURCE = {"type": "influxdb", "uid": DATASOURCE_UID}
FOLDER = "Doorcount"
SCHEMA_VERSION = 39

SITE = '"site" =~ /^$site$/'
DOOR = '"door" =~ /^$door$/'

Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Query:
    """One panel target: raw InfluxQL with Grafana macros ($timeFilter, $__interval, $site...)."""

    text: str
    result: str = "time_series"  # or "table"
    alias: str = ""  # Grafana's series name pattern ($col, $tag_door)


@dataclass(frozen=True, slots=True)
class Panel:
    title: str
    kind: str
    queries: tuple[Query, ...]
    width: int = 12
    height: int = 8
    description: str = ""
    options: Json = field(default_factory=dict)
    field_config: Json = field(default_factory=dict)
    transformations: tuple[Json, ...] = ()
    interval: str | None = None


def _q(text: str, result: str = "time_series") -> tuple[Query, ...]:
    return (Query(text, result),)


def traffic_panels() -> list[Panel]:
    m = schema
    return [
        Panel(
            "Occupancy now",
            "stat",
            _q(
                f'SELECT last("occupancy") AS "occupancy" FROM "{m.SITE_OCCUPANCY}" '
                f'WHERE {SITE} AND $timeFilter GROUP BY "site"'
            ),
            width=8,
            description="People inside each site (never negative; corrected at the daily reset).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "colorMode": "background"},
        ),
        Panel(
            "Net through each door",
            "bargauge",
            _q(
                f'SELECT last("net") AS "net" FROM "{m.DOOR_OCCUPANCY}" '
                f'WHERE {SITE} AND {DOOR} AND $timeFilter GROUP BY "site", "door"'
            ),
            width=16,
            description="Entries minus exits through each door since the last reset; one door "
            "can be negative when people leave by another.",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}, "orientation": "horizontal"},
        ),
        Panel(
            "Occupancy",
            "timeseries",
            _q(
                f'SELECT last("occupancy") AS "occupancy" FROM "{m.SITE_OCCUPANCY}" '
                f'WHERE {SITE} AND $timeFilter GROUP BY time($__interval), "site" fill(previous)'
            ),
            width=24,
            field_config={"defaults": {"custom": {"lineInterpolation": "stepAfter"}}},
        ),
        Panel(
            "Entries and exits per interval",
            "timeseries",
            _q(
                'SELECT sum("entries") AS "entries", sum("exits") AS "exits" '
                f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND {DOOR} AND $timeFilter '
                'GROUP BY time($__interval), "door" fill(0)'
            ),
            width=24,
            interval="1m",
            field_config={"defaults": {"custom": {"drawStyle": "bars", "fillOpacity": 60}}},
        ),
        Panel(
            "Visitors, staff and out of hours",
            "timeseries",
            _q(
                'SELECT sum("visitors_in") AS "visitors", sum("staff_in") AS "staff", '
                'sum("out_of_hours_in") AS "out of hours" '
                f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND {DOOR} AND $timeFilter '
                "GROUP BY time($__interval) fill(0)"
            ),
            width=12,
            interval="1m",
            description="Entries split by who they were: visitors (the figure to report), "
            "staff (staff doors and badges) and crossings outside opening hours.",
            field_config={"defaults": {"custom": {"drawStyle": "bars", "fillOpacity": 60}}},
        ),
        Panel(
            "Zone occupancy",
            "timeseries",
            _q(
                f'SELECT last("occupancy") AS "occupancy" FROM "{m.ZONE_OCCUPANCY}" '
                f"WHERE {SITE} AND $timeFilter "
                'GROUP BY time($__interval), "site", "zone" fill(previous)'
            ),
            width=12,
            description="People inside each configured zone (never negative).",
            field_config={"defaults": {"custom": {"lineInterpolation": "stepAfter"}}},
        ),
        Panel(
            "Daily totals",
            "timeseries",
            _q(
                'SELECT sum("entries") AS "entries", sum("exits") AS "exits" '
                f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND {DOOR} AND $timeFilter '
                "GROUP BY time(1d), \"door\" fill(0) tz('$tz')"
            ),
            width=12,
            field_config={"defaults": {"custom": {"drawStyle": "bars", "fillOpacity": 80}}},
        ),
        Panel(
            "Busiest hours of the week",
            "heatmap",
            (
                Query(
                    f'SELECT sum("entries") AS "entries" FROM "{m.HOUR_OF_WEEK}" '
                    f"WHERE {SITE} AND {DOOR} AND $timeFilter "
                    "GROUP BY time(1d), \"hour\" fill(0) tz('$tz')",
                    alias="$tag_hour",
                ),
            ),
            width=12,
            description="Entries per day (across) and hour of the day (up; the bridge's site "
            "time zone) over the selected range: a week shows the hour-of-week peaks.",
            options={
                "calculate": False,
                "rowsFrame": {"layout": "unknown", "value": "entries"},
                "yAxis": {"axisPlacement": "left", "axisLabel": "hour of the day"},
                "color": {
                    "mode": "scheme",
                    "scheme": "YlOrRd",
                    "steps": 64,
                    "scale": "exponential",
                    "exponent": 0.5,
                },
                "cellGap": 1,
                "showValue": "never",
                "legend": {"show": True},
                "tooltip": {"mode": "single", "yHistogram": False},
            },
        ),
        Panel(
            "Doors ranked by entries",
            "table",
            _q(
                'SELECT sum("entries") AS "entries", sum("exits") AS "exits" '
                f'FROM "{m.DOOR_INTERVAL}" '
                f'WHERE {SITE} AND $timeFilter GROUP BY "site", "door"',
                "table",
            ),
            width=12,
            transformations=(
                {"id": "sortBy", "options": {"sort": [{"field": "entries", "desc": True}]}},
            ),
        ),
        Panel(
            "Audit corrections",
            "table",
            _q(
                'SELECT sum("entries") AS "entries raw", sum("entries_corrected") AS '
                '"entries corrected", sum("exits") AS "exits raw", sum("exits_corrected") AS '
                '"exits corrected", last("correction_in") AS "factor in", '
                'last("correction_out") AS "factor out", last("corrected_since") * 1000 AS "since" '
                f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND {DOOR} AND $timeFilter '
                'AND "correction_in" > 0 GROUP BY "site", "door"',
                "table",
            ),
            description="Doors with an accepted audit (doorcount audit): the published counts "
            "times the door's factor (hand / device count), the raw counts beside them, and "
            "since when the factor applies",
            width=12,
            field_config={
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "since"},
                        "properties": [{"id": "unit", "value": "dateTimeAsIso"}],
                    }
                ]
            },
        ),
        Panel(
            "Sites ranked by entries",
            "table",
            _q(
                'SELECT sum("entries") AS "entries", sum("exits") AS "exits" '
                f'FROM "{m.DOOR_INTERVAL}" '
                'WHERE $timeFilter GROUP BY "site"',
                "table",
            ),
            width=12,
            transformations=(
                {"id": "sortBy", "options": {"sort": [{"field": "entries", "desc": True}]}},
            ),
        ),
    ]


def _band(low: str, high: str, forecast: str) -> Json:
    """The forecast dashed, its interval as a shaded band between `low` and `high`."""
    return {
        "defaults": {"custom": {"lineInterpolation": "stepAfter"}},
        "overrides": [
            {
                "matcher": {"id": "byRegexp", "options": f"/{forecast}$/"},
                "properties": [
                    {"id": "custom.lineStyle", "value": {"fill": "dash", "dash": [10, 10]}},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}},
                ],
            },
            {
                "matcher": {"id": "byRegexp", "options": f"/{low}$|{high}$/"},
                "properties": [
                    {"id": "custom.lineWidth", "value": 0},
                    {"id": "custom.fillOpacity", "value": 20},
                    {"id": "color", "value": {"mode": "fixed", "fixedColor": "orange"}},
                    {
                        "id": "custom.hideFrom",
                        "value": {"legend": True, "tooltip": False, "viz": False},
                    },
                ],
            },
            {
                "matcher": {"id": "byRegexp", "options": f"/{high}$/"},
                "properties": [{"id": "custom.fillBelowTo", "value": low}],
            },
        ],
    }


def insight_panels() -> list[Panel]:
    """Forecast overlaid on the actual counts, and the latest four weeks against the four
    before; both written by `doorcount forecast publish` (gateway/insight/publish.py)."""
    m = schema
    return [
        Panel(
            "Entries per hour: forecast and actual",
            "timeseries",
            (
                Query(
                    f'SELECT sum("entries") AS "actual" FROM "{m.DOOR_INTERVAL}" '
                    f"WHERE {SITE} AND \"role\" != 'perimeter' AND $timeFilter "
                    'GROUP BY time(1h), "site" fill(none)',
                    alias="$tag_site $col",
                ),
                Query(
                    'SELECT last("mean") AS "forecast", last("lower") AS "low 80%", '
                    f'last("upper") AS "high 80%" FROM "{m.SITE_FORECAST}" '
                    f'WHERE {SITE} AND $timeFilter GROUP BY time(1h), "site" fill(none)',
                    alias="$col",
                ),
            ),
            width=24,
            height=9,
            description="Entries per hour at the site with the latest forecast and its 80 % "
            "prediction interval (doorcount forecast publish; intervals of the hour-of-week "
            "model). The dashboard opens two days back and two ahead.",
            field_config=_band("low 80%", "high 80%", "forecast"),
        ),
        Panel(
            "Entries per hour by door: forecast and actual",
            "timeseries",
            (
                Query(
                    f'SELECT sum("entries") AS "actual" FROM "{m.DOOR_INTERVAL}" '
                    f"WHERE {SITE} AND {DOOR} AND $timeFilter "
                    'GROUP BY time(1h), "door" fill(none)',
                    alias="$tag_door $col",
                ),
                Query(
                    f'SELECT last("mean") AS "forecast" FROM "{m.DOOR_FORECAST}" '
                    f"WHERE {SITE} AND {DOOR} AND $timeFilter "
                    'GROUP BY time(1h), "door" fill(none)',
                    alias="$tag_door $col",
                ),
            ),
            width=24,
            field_config=_band("low 80%", "high 80%", "forecast"),
        ),
        Panel(
            "Visitors per hour: forecast and actual",
            "timeseries",
            (
                Query(
                    f'SELECT sum("visitors_in") AS "actual" FROM "{m.DOOR_INTERVAL}" '
                    f"WHERE {SITE} AND \"role\" != 'perimeter' AND $timeFilter "
                    'GROUP BY time(1h), "site" fill(none)',
                    alias="$tag_site $col",
                ),
                Query(
                    'SELECT last("visitors_mean") AS "forecast", last("visitors_lower") AS '
                    f'"low 80%", last("visitors_upper") AS "high 80%" FROM "{m.SITE_FORECAST}" '
                    f'WHERE {SITE} AND $timeFilter GROUP BY time(1h), "site" fill(none)',
                    alias="$col",
                ),
            ),
            width=12,
            description="Visitor entries per hour (not staff, not out of hours) with the "
            "latest forecast and its 80 % prediction interval.",
            field_config=_band("low 80%", "high 80%", "forecast"),
        ),
        Panel(
            "Occupancy per hour: forecast and actual",
            "timeseries",
            (
                Query(
                    'SELECT sum("occupancy_seconds") / 3600 AS "actual" '
                    f'FROM "{m.VISITS}" WHERE {SITE} AND "zone" = \'{m.SITE_ZONE}\' '
                    'AND $timeFilter GROUP BY time(1h), "site" fill(none)',
                    alias="$tag_site $col",
                ),
                Query(
                    'SELECT last("occupancy_mean") AS "forecast", last("occupancy_lower") AS '
                    f'"low 80%", last("occupancy_upper") AS "high 80%" FROM "{m.SITE_FORECAST}" '
                    f'WHERE {SITE} AND $timeFilter GROUP BY time(1h), "site" fill(none)',
                    alias="$col",
                ),
            ),
            width=12,
            description="Mean people inside the site per hour (person-hours per hour: what "
            "staff per customer plans by) with the latest forecast and its 80 % interval, "
            "never below 0.",
            field_config=_band("low 80%", "high 80%", "forecast"),
        ),
        Panel(
            "Zone occupancy per hour: forecast and actual",
            "timeseries",
            (
                Query(
                    'SELECT sum("occupancy_seconds") / 3600 AS "actual" '
                    f'FROM "{m.VISITS}" WHERE {SITE} AND "zone" != \'{m.SITE_ZONE}\' '
                    'AND $timeFilter GROUP BY time(1h), "zone" fill(none)',
                    alias="$tag_zone $col",
                ),
                Query(
                    'SELECT last("occupancy_mean") AS "forecast" '
                    f'FROM "{m.ZONE_FORECAST}" WHERE {SITE} AND $timeFilter '
                    'GROUP BY time(1h), "zone" fill(none)',
                    alias="$tag_zone $col",
                ),
            ),
            width=24,
            description="Mean people inside each configured zone per hour, with the latest "
            "forecast (doorcount forecast publish; zones with two weeks of visits).",
            field_config=_band("low 80%", "high 80%", "forecast"),
        ),
        Panel(
            "Last four weeks against the four before",
            "table",
            _q(
                'SELECT last("change") * 100 AS "change %", last("ci_low") * 100 AS "95% low %", '
                'last("ci_high") * 100 AS "95% high %", last("p_value") AS "p", '
                'last("days_needed") AS "days needed for 10%" '
                f'FROM "{m.SITE_COMPARISON}" WHERE {SITE} AND $timeFilter GROUP BY "site"',
                "table",
            ),
            width=24,
            height=6,
            description="Daily entries of the latest four whole weeks against the four before "
            "(negative-binomial model with weekday effects, doorcount compare): the change, "
            "its 95 % interval, the p-value, and the days of each period needed to detect a "
            "10 % change. p below 0.05 and an interval that excludes 0: a real change.",
            field_config={
                "defaults": {"decimals": 1},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "p"},
                        "properties": [{"id": "decimals", "value": 3}],
                    }
                ],
            },
        ),
    ]


def _ratio(left: str, right: str, alias: str) -> tuple[Json, ...]:
    """Grafana joins a panel's two daily series by time (inner: both must have the day) and
    divides them; a query that drops its zero days keeps the ratio blank there."""
    return (
        {"id": "joinByField", "options": {"byField": "Time", "mode": "inner"}},
        {
            "id": "calculateField",
            "options": {
                "mode": "binary",
                "binary": {"left": left, "operator": "/", "right": right},
                "alias": alias,
                "replaceFields": True,
            },
        },
    )


def visitor_panels() -> list[Panel]:
    """Capture rate and conversion per day, visitors against passers-by and till counts.

    Visitor entries are the `visitors_in` of entrance doors (visitors also cross internal
    doors); passers-by are what perimeter beams count both ways. Ratios are computed per day
    from summed parts, never averaged, and a day whose denominator is zero is blank, never 0:
    the denominator's query leaves such days out, and the inner join leaves them undivided.
    Mean visit length is the site's summed occupancy-seconds over its summed entries (Little's
    law, docs/visits.md), blank where nobody came in.
    """
    m = schema
    daily = "GROUP BY time(1d) fill(none) tz('$tz')"
    visitors = (
        f'SELECT sum("visitors_in") AS "visitors" FROM "{m.DOOR_INTERVAL}" '
        f"WHERE {SITE} AND \"role\" = 'entrance' AND $timeFilter"
    )
    passers = (
        'SELECT sum("passersby_in") + sum("passersby_out") AS "passers" '
        f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND $timeFilter'
    )
    return [
        Panel(
            "Visitors and passers-by",
            "timeseries",
            (
                Query(f"{visitors} GROUP BY time($__interval) fill(0)"),
                Query(f"{passers} GROUP BY time($__interval) fill(0)"),
            ),
            width=24,
            interval="1m",
            description="Visitor entries (entrance doors) and people passing the perimeter "
            "beams (both ways).",
            field_config={"defaults": {"custom": {"drawStyle": "bars", "fillOpacity": 60}}},
        ),
        Panel(
            "Capture rate per day",
            "timeseries",
            (
                Query(f"{visitors} {daily}"),
                Query(f'SELECT "passers" FROM ({passers} {daily}) WHERE "passers" > 0'),
            ),
            width=12,
            description="Visitor entries / passers-by per day; blank on days without passers-by.",
            transformations=_ratio("visitors", "passers", "capture rate"),
            field_config={"defaults": {"unit": "percentunit"}},
        ),
        Panel(
            "Conversion per day",
            "timeseries",
            (
                Query(
                    'SELECT sum("transactions") AS "transactions" '
                    f'FROM "{m.TILL_TRANSACTIONS}" WHERE {SITE} AND $timeFilter {daily}'
                ),
                Query(f'SELECT "visitors" FROM ({visitors} {daily}) WHERE "visitors" > 0'),
            ),
            width=12,
            description="Till transactions / visitor entries per day (POS import or the "
            "transactions topic); blank on days without visitor entries.",
            transformations=_ratio("transactions", "visitors", "conversion"),
            field_config={"defaults": {"unit": "percentunit"}},
        ),
        *visit_length_panels(),
    ]


VISIT_CONDITION = (
    "Mean visit length = occupancy-seconds / entries (Little's law) over the period shown: "
    "exact when the period starts and ends with nobody inside (a whole day of a shop that "
    "closes empty); otherwise visits cut by the period's edges count only their part inside "
    "it. Counting errors the zero floor or the daily reset corrected make it an estimate "
    "(docs/visits.md). The site's figure counts everyone who entered it, staff at staff doors "
    "included. Blank where nobody came in."
)


def visit_length_panels() -> list[Panel]:
    """Mean visit length from the site's per-interval occupancy-seconds (`visits`,
    zone `(site)`): one figure for the selected period and one per day, each the ratio of the
    summed parts, blank where the period had no entry (the denominator's query drops it)."""
    m = schema
    where = f"{SITE} AND \"zone\" = '{m.SITE_ZONE}' AND $timeFilter"
    occupied = f'SELECT sum("occupancy_seconds") AS "occupancy_s" FROM "{m.VISITS}" WHERE {where}'
    entries = f'SELECT sum("entries") AS "entries" FROM "{m.VISITS}" WHERE {where}'
    daily = "GROUP BY time(1d) fill(none) tz('$tz')"
    return [
        Panel(
            "Mean visit length over the period",
            "stat",
            (
                Query(occupied),
                Query(f'SELECT "entries" FROM ({entries}) WHERE "entries" > 0'),
            ),
            width=6,
            description=VISIT_CONDITION,
            transformations=_ratio("occupancy_s", "entries", "mean visit"),
            field_config={"defaults": {"unit": "s", "decimals": 0}},
        ),
        Panel(
            "Mean visit length per day",
            "timeseries",
            (
                Query(f"{occupied} {daily}"),
                Query(f'SELECT "entries" FROM ({entries} {daily}) WHERE "entries" > 0'),
            ),
            width=18,
            description=VISIT_CONDITION,
            transformations=_ratio("occupancy_s", "entries", "mean visit"),
            field_config={"defaults": {"unit": "s", "decimals": 0}},
        ),
    ]


def health_panels() -> list[Panel]:
    m = schema
    return [
        Panel(
            "Nodes",
            "table",
            _q(
                'SELECT last("connected") AS "connected", last("battery_pct") AS "battery %", '
                'last("battery_mv") AS "battery mV", last("rssi") AS "rssi", '
                'last("last_seen") * 1000 AS "last seen", last("reconnects") AS "reconnects", '
                'last("gaps") AS "gaps", last("beam_stuck") AS "beam stuck" '
                f'FROM "{m.NODE_HEALTH}" WHERE {SITE} AND $timeFilter '
                'GROUP BY "site", "node", "door"',
                "table",
            ),
            width=24,
            field_config={
                "defaults": {},
                "overrides": [
                    {
                        "matcher": {"id": "byName", "options": "last seen"},
                        "properties": [{"id": "unit", "value": "dateTimeFromNow"}],
                    }
                ],
            },
        ),
        Panel(
            "Battery",
            "timeseries",
            _q(
                f'SELECT last("battery_pct") AS "battery" FROM "{m.NODE_HEALTH}" WHERE {SITE} '
                'AND $timeFilter GROUP BY time($__interval), "node" fill(previous)'
            ),
            field_config={"defaults": {"unit": "percent", "min": 0, "max": 100}},
        ),
        Panel(
            "Sequence gaps and reconnects",
            "timeseries",
            _q(
                'SELECT non_negative_difference(max("gaps")) AS "gaps", '
                'non_negative_difference(max("reconnects")) AS "reconnects" '
                f'FROM "{m.NODE_HEALTH}" WHERE {SITE} AND $timeFilter '
                'GROUP BY time($__interval), "node" fill(none)'
            ),
            description="New gaps (ticks that never arrived) and reconnects per interval.",
            field_config={"defaults": {"custom": {"drawStyle": "bars"}}},
        ),
        Panel(
            "Gateway data quality",
            "table",
            _q(
                'SELECT last("duplicates_dropped") AS "duplicates dropped", '
                'last("seq_gaps") AS "sequence gaps", last("late_ticks") AS "late ticks", '
                'last("corrected_intervals") AS "corrected intervals", '
                'last("occupancy_corrected") AS "occupancy corrected", '
                'last("outbox_depth") AS "outbox depth", '
                'last("outbox_dropped") AS "outbox dropped", '
                'last("bad_frames") AS "bad frames" '
                f'FROM "{m.GATEWAY_QUALITY}" WHERE {SITE} AND $timeFilter GROUP BY "site"',
                "table",
            ),
            width=24,
        ),
        Panel(
            "Corrected intervals",
            "stat",
            _q(
                f'SELECT count("revision") AS "corrected" FROM "{m.DOOR_INTERVAL}" '
                f'WHERE "revision" > 0 AND {SITE} AND $timeFilter GROUP BY "site"'
            ),
            width=8,
            description="Intervals republished with late crossings (revision > 0).",
            options={"reduceOptions": {"calcs": ["lastNotNull"]}},
        ),
        Panel(
            "Duplicates dropped",
            "timeseries",
            _q(
                'SELECT non_negative_difference(last("duplicates_dropped")) AS "duplicates" '
                f'FROM "{m.GATEWAY_QUALITY}" WHERE {SITE} AND $timeFilter '
                'GROUP BY time($__interval), "site" fill(none)'
            ),
            width=8,
            field_config={"defaults": {"custom": {"drawStyle": "bars"}}},
        ),
        Panel(
            "Occupancy imbalance per day",
            "timeseries",
            _q(
                'SELECT sum("entries") - sum("exits") AS "imbalance" '
                f'FROM "{m.DOOR_INTERVAL}" WHERE {SITE} AND $timeFilter '
                "GROUP BY time(1d), \"site\" tz('$tz')"
            ),
            width=8,
            description="Entries minus exits over a whole day; far from 0 means missed counts "
            "at some door (or people still inside at midnight).",
            field_config={"defaults": {"custom": {"drawStyle": "bars"}}},
        ),
        Panel(
            "Occupancy corrections",
            "timeseries",
            _q(
                f'SELECT last("corrected") AS "corrected" FROM "{m.SITE_OCCUPANCY}" '
                f'WHERE {SITE} AND $timeFilter GROUP BY time($__interval), "site" fill(previous)'
            ),
            description="People the never-negative floor and the reset had to correct.",
        ),
        Panel(
            "Gateway online",
            "timeseries",
            _q(
                f'SELECT last("online") AS "online" FROM "{m.GATEWAY_STATUS}" '
                'WHERE $timeFilter GROUP BY time($__interval), "site" fill(previous)'
            ),
            description="Sites appear by their topic name here (lowercase slug).",
            field_config={
                "defaults": {"min": 0, "max": 1, "custom": {"lineInterpolation": "stepAfter"}}
            },
        ),
    ]


def _variables() -> list[Json]:
    def query_var(name: str, label: str, query: str) -> Json:
        return {
            "name": name,
            "label": label,
            "type": "query",
            "datasource": DATASOURCE,
            "query": query,
            "definition": query,
            "refresh": 2,
            "multi": True,
            "includeAll": True,
            "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
            "sort": 1,
        }

    return [
        query_var(
            "site", "Site", f'SHOW TAG VALUES FROM "{schema.DOOR_INTERVAL}" WITH KEY = "site"'
        ),
        query_var(
            "door",
            "Door",
            f'SHOW TAG VALUES FROM "{schema.DOOR_INTERVAL}" WITH KEY = "door" WHERE {SITE}',
        ),
        {
            "name": "tz",
            "label": "Time zone for days",
            "type": "textbox",
            "query": "UTC",
            "current": {"text": "UTC", "value": "UTC"},
        },
    ]


def dashboard(
    uid: str, title: str, panels: Sequence[Panel], time_range: tuple[str, str] = ("now-24h", "now")
) -> Json:
    """A Grafana dashboard model (schemaVersion 39) laid out on the 24-column grid."""
    out: list[Json] = []
    x = y = row_height = 0
    for number, panel in enumerate(panels, start=1):
        if x + panel.width > 24:
            x, y, row_height = 0, y + row_height, 0
        item: Json = {
            "id": number,
            "type": panel.kind,
            "title": panel.title,
            "description": panel.description,
            "datasource": DATASOURCE,
            "gridPos": {"h": panel.height, "w": panel.width, "x": x, "y": y},
            "targets": [
                {
                    "refId": chr(ord("A") + index),
                    "datasource": DATASOURCE,
                    "rawQuery": True,
                    "query": query.text,
                    "resultFormat": query.result,
                    **({"alias": query.alias} if query.alias else {}),
                }
                for index, query in enumerate(panel.queries)
            ],
            "options": panel.options,
            "fieldConfig": panel.field_config or {"defaults": {}, "overrides": []},
            "transformations": list(panel.transformations),
        }
        item["fieldConfig"].setdefault("overrides", [])
        if panel.interval:
            item["interval"] = panel.interval
        out.append(item)
        x += panel.width
        row_height = max(row_height, panel.height)
    return {
        "uid": uid,
        "title": title,
        "tags": ["doorcount"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "time": {"from": time_range[0], "to": time_range[1]},
        "timezone": "browser",
        "refresh": "30s",
        "templating": {"list": _variables()},
        "annotations": {"list": []},
        "panels": out,
    }


def dashboards() -> dict[str, Json]:
    """File name -> dashboard model."""
    return {
        "doorcount-traffic.json": dashboard(
            "doorcount-traffic", "Doorcount: traffic", traffic_panels()
        ),
        "doorcount-health.json": dashboard(
            "doorcount-health", "Doorcount: node health and data quality", health_panels()
        ),
        "doorcount-insight.json": dashboard(
            "doorcount-insight",
            "Doorcount: forecast and comparison",
            insight_panels(),
            ("now-2d", "now+2d"),
        ),
        "doorcount-visitors.json": dashboard(
            "doorcount-visitors", "Doorcount: visitor KPIs", visitor_panels()
        ),
    }


# -- alert rules (Grafana unified alerting, file provisioning format) ------------------------


@dataclass(frozen=True, slots=True)
class AlertSpec:
    uid: str
    title: str
    query: str
    seconds: int  # query window (relativeTimeRange.from)
    evaluator: str  # gt / lt
    threshold: float
    pending: str  # "for"
    summary: str
    no_data: str = "OK"


def alert_specs(capacities: Mapping[str, int], default_capacity: int) -> list[AlertSpec]:
    """Occupancy above capacity (one rule per configured site + one for all others), node
    offline, beam stuck, gateway offline."""
    m = schema
    occupancy = f'SELECT last("occupancy") FROM "{m.SITE_OCCUPANCY}" WHERE $timeFilter'
    specs = []
    for index, (site, capacity) in enumerate(sorted(capacities.items()), start=1):
        specs.append(
            AlertSpec(
                f"doorcount-capacity-{index}",
                f"Occupancy above capacity at {site}",
                f'{occupancy} AND "site" = {_literal(site)} GROUP BY "site"',
                600,
                "gt",
                capacity,
                "1m",
                f"More than {capacity} people inside {{{{ $labels.site }}}}.",
            )
        )
    others = "".join(f' AND "site" != {_literal(site)}' for site in sorted(capacities))
    specs += [
        AlertSpec(
            "doorcount-capacity",
            "Occupancy above capacity",
            f'{occupancy}{others} GROUP BY "site"',
            600,
            "gt",
            default_capacity,
            "1m",
            f"More than {default_capacity} people inside {{{{ $labels.site }}}}.",
        ),
        AlertSpec(
            "doorcount-node-offline",
            "Node offline",
            f'SELECT last("connected") FROM "{m.NODE_HEALTH}" WHERE $timeFilter '
            'GROUP BY "site", "node"',
            30 * 86400,  # health is published on change: a quiet node's last point can be old
            "lt",
            1,
            "5m",
            "Node {{ $labels.node }} at {{ $labels.site }} is not connected to the gateway.",
        ),
        AlertSpec(
            "doorcount-beam-stuck",
            "Beam stuck",
            f'SELECT last("beam_stuck") FROM "{m.NODE_HEALTH}" WHERE $timeFilter '
            'GROUP BY "site", "node", "door"',
            30 * 86400,
            "gt",
            0,
            "2m",
            "A beam of node {{ $labels.node }} ({{ $labels.door }}) stays broken: "
            "that door counts nothing.",
        ),
        AlertSpec(
            "doorcount-gateway-offline",
            "Gateway offline",
            f'SELECT last("online") FROM "{m.GATEWAY_STATUS}" WHERE $timeFilter GROUP BY "site"',
            30 * 86400,
            "lt",
            1,
            "5m",
            "The gateway of {{ $labels.site }} is offline (its MQTT last will).",
        ),
    ]
    return specs


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def alert_rules(capacities: Mapping[str, int], default_capacity: int) -> Json:
    rules = []
    for spec in alert_specs(capacities, default_capacity):
        rules.append(
            {
                "uid": spec.uid,
                "title": spec.title,
                "condition": "C",
                "data": [
                    {
                        "refId": "A",
                        "relativeTimeRange": {"from": spec.seconds, "to": 0},
                        "datasourceUid": DATASOURCE_UID,
                        "model": {
                            "refId": "A",
                            "rawQuery": True,
                            "query": spec.query,
                            "resultFormat": "time_series",
                            "intervalMs": 60000,
                            "maxDataPoints": 43200,
                        },
                    },
                    {
                        "refId": "B",
                        "relativeTimeRange": {"from": 0, "to": 0},
                        "datasourceUid": "__expr__",
                        "model": {
                            "refId": "B",
                            "type": "reduce",
                            "expression": "A",
                            "reducer": "last",
                            "settings": {"mode": "dropNN"},
                        },
                    },
                    {
                        "refId": "C",
                        "relativeTimeRange": {"from": 0, "to": 0},
                        "datasourceUid": "__expr__",
                        "model": {
                            "refId": "C",
                            "type": "threshold",
                            "expression": "B",
                            "conditions": [
                                {"evaluator": {"type": spec.evaluator, "params": [spec.threshold]}}
                            ],
                        },
                    },
                ],
                "noDataState": spec.no_data,
                "execErrState": "Error",
                "for": spec.pending,
                "annotations": {"summary": spec.summary},
                "labels": {"service": "doorcount"},
                "isPaused": False,
            }
        )
    return {
        "apiVersion": 1,
        "groups": [
            {"orgId": 1, "name": "doorcount", "folder": FOLDER, "interval": "1m", "rules": rules}
        ],
    }


def write_provisioning(
    directory: Path, capacities: Mapping[str, int] | None = None, default_capacity: int = 100
) -> list[Path]:
    """Write dashboards/*.json and provisioning/alerting/doorcount.json under `directory`."""
    written = []
    for name, model in dashboards().items():
        written.append(_dump(directory / "dashboards" / name, model))
    rules = alert_rules(capacities or {}, default_capacity)
    written.append(_dump(directory / "provisioning" / "alerting" / "doorcount.json", rules))
    return written


def _dump(path: Path, model: Json) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(model, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Generate doorcount's Grafana provisioning")
    parser.add_argument("directory", type=Path, help="e.g. deploy/grafana")
    parser.add_argument(
        "--capacity", action="append", default=[], metavar="SITE=N", help="per-site capacity"
    )
    parser.add_argument("--default-capacity", type=int, default=100)
    args = parser.parse_args(argv)
    capacities: dict[str, int] = {}
    for item in args.capacity:
        site, sep, number = item.rpartition("=")
        if not sep or not site or not number.isdigit():
            parser.error(f"--capacity wants SITE=N, got {item!r}")
        capacities[site] = int(number)
    for path in write_provisioning(args.directory, capacities, args.default_capacity):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
