"""POS CSV import: column mapping, export shapes, clear errors per line, idempotent re-import."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateway.cli import main
from gateway.outputs.bridge.store import LocalStore
from gateway.sources.pos import ColumnMap, PosImportError, read_pos_csv, transactions_in

UTC = ZoneInfo("UTC")
BERLIN = ZoneInfo("Europe/Berlin")
H9 = 1_767_603_600  # Mon 2026-01-05 09:00 UTC

SQUARE = """Date,Time,Time Zone,Gross Sales,Net Sales,Transaction ID,Device Name
2026-01-05,09:05:10,UTC,12.00,12.00,tx1,Till 1
2026-01-05,09:40:00,UTC,3.50,3.50,tx2,Till 2
2026-01-05,09:59:59,UTC,8.00,8.00,tx3,Till 1
2026-01-05,11:15:00,UTC,8.00,8.00,tx4,Till 1
"""

HOURLY = """Hour;Transactions;Net sales
2026-01-05 10:00;17;340,50
2026-01-05 11:00;0;0
2026-01-05 12:00;25;512,00
"""


def test_one_row_per_transaction_with_a_till_column() -> None:
    mapping = ColumnMap.parse("date=Date, time=Time, till=Device Name")
    got = read_pos_csv(SQUARE, mapping, site="Corner Shop", tz=UTC)
    assert (got.rows, got.transactions, got.tills) == (4, 4, ["Till 1", "Till 2"])
    by = {(p.till, p.start): p.transactions for p in got.payloads}
    assert by == {
        ("Till 1", H9): 2,
        ("Till 1", H9 + 3600): 0,  # the quiet hour is a stored zero, not a gap
        ("Till 1", H9 + 7200): 1,
        ("Till 2", H9): 1,
        ("Till 2", H9 + 3600): 0,
        ("Till 2", H9 + 7200): 0,
    }
    assert transactions_in(got.payloads, H9, H9 + 3600) == 3


def test_hourly_report_with_semicolons_and_a_local_time_zone() -> None:
    mapping = ColumnMap.parse("time=Hour,count=Transactions")
    got = read_pos_csv(HOURLY, mapping, site="Shop", tz=BERLIN, zone="Food hall")
    assert [(p.start, p.transactions, p.zone, p.till) for p in got.payloads] == [
        (H9, 17, "Food hall", "pos"),  # 10:00 in Berlin is 09:00 UTC
        (H9 + 3600, 0, "Food hall", "pos"),
        (H9 + 7200, 25, "Food hall", "pos"),
    ]


def test_a_time_format_for_other_shapes() -> None:
    text = "Created at,Total\n01/05/2026 09:12 AM,5\n01/05/2026 02:30 PM,7\n"
    got = read_pos_csv(
        text,
        ColumnMap.parse("time=Created at"),
        site="s",
        tz=UTC,
        seconds=86400,
        time_format="%m/%d/%Y %I:%M %p",
    )
    assert [(p.start, p.transactions) for p in got.payloads] == [(H9 - 9 * 3600, 2)]


@pytest.mark.parametrize(
    ("text", "mapping", "message"),
    [
        (
            "Hour,Transactions\n2026-01-05 10:00,3\n2026-01-05 11:00,-1\n",
            "time=Hour,count=Transactions",
            "line 3: column 'Transactions': -1 transactions cannot be negative",
        ),
        (
            "Hour,Transactions\n2026-01-05 10:00,three\n",
            "time=Hour,count=Transactions",
            "line 2: column 'Transactions': 'three' is not a whole number",
        ),
        (
            "Hour,Transactions\n2026-01-05 10:00,3\n\n2026-13-05 11:00,4\n",
            "time=Hour,count=Transactions",
            "line 4: column 'Hour': '2026-13-05 11:00' is not a time in ISO 8601",
        ),
        (
            "Hour,Transactions\n2026-01-05 10:00,3,9\n",
            "time=Hour,count=Transactions",
            "line 2: 3 fields, the header has 2",
        ),
        (
            "Hour,Sales\n2026-01-05 10:00,3\n",
            "time=Hour,count=Transactions",
            "line 1: no column 'Transactions' in the header",
        ),
        ("Hour,Transactions\n", "time=Hour,count=Transactions", "a header but no rows"),
        ("", "time=Hour", "the file is empty"),
    ],
)
def test_bad_files_name_the_line_and_the_fault(text: str, mapping: str, message: str) -> None:
    with pytest.raises(PosImportError, match=message):
        read_pos_csv(text, ColumnMap.parse(mapping), site="s", tz=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("count=Transactions", "must name the time column"),
        ("time=Hour,time=Day", "gives 'time' twice"),
        ("time=Hour,amount=Total", "key 'amount' is not one of"),
        ("time", "KEY=COLUMN"),
    ],
)
def test_bad_maps_are_refused(text: str, message: str) -> None:
    with pytest.raises(PosImportError, match=message):
        ColumnMap.parse(text)


def test_cli_import_is_idempotent_and_a_corrected_export_replaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_path, csv_path = tmp_path / "series.sqlite", tmp_path / "square.csv"
    csv_path.write_text(SQUARE, encoding="utf-8")
    argv = [
        "pos",
        "import",
        str(csv_path),
        "--map",
        "date=Date,time=Time,till=Device Name",
        "--site",
        "Corner Shop",
        "--tz",
        "UTC",
        "--store",
        str(store_path),
    ]

    def stored() -> list[tuple[str, int, object]]:
        store = LocalStore(store_path)
        try:
            points = store.query("till_transactions")
        finally:
            store.close()
        return sorted(
            (p.tags["till"], p.time_ns // 10**9, p.fields["transactions"]) for p in points
        )

    assert main(argv) == 0
    first = stored()
    assert (
        "4 rows: 4 transactions in 3 intervals of 3600 s for 2 till(s)" in capsys.readouterr().out
    )
    assert main(argv) == 0  # the same file again: nothing doubles
    assert stored() == first
    assert sum(int(str(n)) for _, _, n in first) == 4
    # a corrected export (tx3 was voided) replaces the hour it covers
    csv_path.write_text(SQUARE.replace("2026-01-05,09:59:59,UTC,8.00,8.00,tx3,Till 1\n", ""))
    assert main(argv) == 0
    assert ("Till 1", H9, 1) in stored()
    assert sum(int(str(n)) for _, _, n in stored()) == 3


def test_cli_bad_row_is_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    csv_path = tmp_path / "bad.csv"
    csv_path.write_text("Hour,Transactions\n2026-01-05 10:00,x\n", encoding="utf-8")
    argv = ["pos", "import", str(csv_path), "--map", "time=Hour,count=Transactions"]
    argv += ["--site", "s", "--tz", "UTC", "--store", str(tmp_path / "s.sqlite")]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err == "doorcount pos: line 2: column 'Transactions': 'x' is not a whole number\n"
