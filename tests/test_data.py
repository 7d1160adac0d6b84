"""Loading and validation (csm_lib.data): one test per contract rule, lenient quarantine,
type casts, sources, money conversion and the as-of date."""

from __future__ import annotations

import copy
import time
from datetime import UTC, date, datetime

import duckdb
import polars as pl
import pytest
from conftest import SAMPLE_DIR

from csm_lib.contract import TABLES
from csm_lib.data import (
    MissingTableError,
    ValidationError,
    Workbook,
    load,
    table_frame,
    validate,
)

# A small, valid workbook: every optional table, one referral, one EUR subscription.
GOOD: dict[str, list[dict]] = {
    "accounts": [
        {"account_id": "A1", "segment": "SMB", "business_model": "B2B", "created_at": "2023-12-01"},
        {"account_id": "A2", "segment": "SMB", "business_model": "B2B", "referred_by": "A1"},
        {"account_id": "A3", "segment": "Enterprise", "business_model": "B2C"},
    ],
    "subscriptions": [
        {
            "subscription_id": "S1",
            "account_id": "A1",
            "start_date": "2024-01-01",
            "end_date": "2024-03-01",
            "mrr": 100.0,
            "quantity": 10,
            "one_time_fees": 0.0,
            "billing_interval": "month",
            "unit": "seat",
            "is_trial": False,
            "currency": "USD",
        },
        {
            "subscription_id": "S1",
            "account_id": "A1",
            "start_date": "2024-03-01",
            "mrr": 120.0,
            "quantity": 12,
            "billing_interval": "month",
            "unit": "seat",
            "currency": "USD",
        },
        {
            "subscription_id": "S2",
            "account_id": "A2",
            "start_date": "2024-02-10",
            "mrr": 50.0,
            "one_time_fees": 200.0,
            "term_months": 12,
            "billing_interval": "year",
            "unit": "flat",
            "currency": "EUR",
        },
        {
            "subscription_id": "S3",
            "account_id": "A3",
            "start_date": "2024-01-15",
            "end_date": "2025-01-15",
            "mrr": 10.0,
            "currency": None,
        },
    ],
    "users": [
        {"user_id": "U1", "account_id": "A1", "created_at": "2024-01-02"},
        {"user_id": "U2", "account_id": "A2", "created_at": "2024-02-11"},
    ],
    "events": [
        {"event_at": "2024-03-01T09:00:00Z", "account_id": "A1", "user_id": "U1", "event": "login"},
        {"event_at": "2024-03-02T10:00:00Z", "account_id": "A1", "user_id": "U1", "event": "login"},
        {"event_at": "2024-03-03T11:00:00Z", "account_id": "A2", "user_id": "U2", "event": "login"},
    ],
    "onboarding": [
        {"account_id": "A1", "milestone": "kickoff", "reached_at": "2024-01-03"},
        {"account_id": "A1", "milestone": "trained", "reached_at": "2024-01-20"},
    ],
    "surveys": [
        {
            "response_id": "R1",
            "account_id": "A1",
            "survey": "nps",
            "score": 9,
            "responded_at": "2024-02-01",
        },
        {
            "response_id": "R2",
            "account_id": "A2",
            "survey": "csat",
            "score": 4,
            "responded_at": "2024-02-20",
        },
    ],
    "tickets": [
        {
            "ticket_id": "T1",
            "account_id": "A1",
            "opened_at": "2024-02-01T08:00:00Z",
            "first_response_at": "2024-02-01T09:00:00Z",
            "resolved_at": "2024-02-02T08:00:00Z",
            "contacts": 1,
        },
    ],
    "leads": [
        {"lead_id": "L1", "created_at": "2023-11-01", "account_id": "A1"},
        {"lead_id": "L2", "created_at": "2024-01-05", "referred_by": "A2"},
    ],
    "costs": [{"month": "2024-01-01", "category": "sales", "amount": 1000.0}],
    "fx_rates": [{"month": "2024-02-01", "currency": "EUR", "rate_to_reporting": 1.1}],
}


def good() -> dict[str, list[dict]]:
    return copy.deepcopy(GOOD)


def issues(report) -> list[tuple[str, str, str, int]]:
    return [(i.table, i.column, i.rule, i.count) for i in report.issues]


# --------------------------------------------------------------------------- baseline


def test_good_source_loads_with_every_table(write_tables):
    wb = load(write_tables(good()))
    assert isinstance(wb, Workbook)
    assert set(wb.tables) == set(TABLES)
    assert wb.report.ok and wb.report.issues == [] and wb.quarantined == {}
    assert wb.report.row_counts == {name: len(rows) for name, rows in GOOD.items()}
    for name, spec in TABLES.items():
        schema = wb.table(name).collect_schema()
        assert {c: schema[c] for c in spec.columns} == {
            c: col.dtype for c, col in spec.columns.items()
        }


def test_load_keeps_the_two_argument_form(write_tables):
    src = write_tables(good())
    assert load(src, date(2024, 6, 30)).as_of == date(2024, 6, 30)
    assert load(str(src), as_of=date(2024, 6, 30)).as_of == date(2024, 6, 30)


def test_workbook_source_is_returned_as_is(write_tables):
    wb = load(write_tables(good()))
    assert load(wb) is wb
    assert load(wb, as_of=date(2024, 5, 1)).as_of == date(2024, 5, 1)


def test_missing_optional_table_is_absent_and_says_so(write_tables):
    tables = good()
    del tables["surveys"]
    wb = load(write_tables(tables))
    assert not wb.has("surveys")
    with pytest.raises(MissingTableError, match="^needs table surveys$"):
        wb.table("surveys")


def test_unknown_files_are_ignored_and_extra_columns_kept(write_tables):
    tables = good()
    for row in tables["accounts"]:
        row["tier"] = "gold"
    src = write_tables(tables)
    (src / "notes.csv").write_text("a,b\n1,2\n")
    (src / "README.txt").write_text("hello")
    wb = load(src)
    assert "notes" not in wb.tables
    assert wb.table("accounts").collect()["tier"].to_list() == ["gold"] * 3


def test_parquet_wins_over_csv_of_the_same_table(write_tables):
    src = write_tables(good())
    (src / "costs.csv").write_text("month,category,amount\nnot a date,x,-1\n")
    assert load(src).table("costs").collect()["amount"].to_list() == [1000.0]


# --------------------------------------------------------------------------- structure


def test_missing_required_table_is_an_error_in_both_modes(write_tables):
    tables = good()
    del tables["subscriptions"]
    src = write_tables(tables)
    assert issues(validate(src)) == [("subscriptions", "", "missing_table", 0)]
    for strict in (True, False):
        with pytest.raises(ValidationError, match=r"subscriptions \[missing_table\]: missing"):
            load(src, strict=strict)


def test_missing_column_is_an_error_in_both_modes(write_tables):
    tables = good()
    tables["tickets"] = table_frame("tickets", tables["tickets"]).drop("contacts")
    src = write_tables(tables)
    assert issues(validate(src)) == [("tickets", "contacts", "missing_column", 0)]
    for strict in (True, False):
        with pytest.raises(ValidationError) as err:
            load(src, strict=strict, quarantine_dir=src / "q")
        assert (
            "tickets.contacts [missing_column]: missing, expected a column contacts of type Int32"
            in str(err.value)
        )
        assert "cannot be quarantined" in str(err.value)


def test_unusable_column_type_is_an_error(write_tables):
    tables = good()
    tables["costs"] = table_frame("costs", tables["costs"]).with_columns(month=pl.lit(True))
    report = validate(write_tables(tables))
    assert issues(report) == [("costs", "month", "column_type", 0)]
    assert report.issues[0].found == ["column of type Boolean"]


# --------------------------------------------------------------------------- one test per rule


def _set(table, index, **values):
    def mutate(t):
        t[table][index].update(values)

    return mutate


def _append(table, row):
    def mutate(t):
        t[table].append(row)

    return mutate


RULE_CASES = {
    "not_null": (_set("subscriptions", 1, mrr=None), ("subscriptions", "mrr", "not_null", 1)),
    "unique_single_key": (
        _append("accounts", {"account_id": "A3"}),
        ("accounts", "account_id", "unique", 2),
    ),
    "unique_subscription_key": (
        _append(
            "subscriptions",
            {
                "subscription_id": "S3",
                "account_id": "A3",
                "start_date": "2024-01-15",
                "end_date": "2024-01-20",
                "mrr": 1.0,
            },
        ),
        ("subscriptions", "subscription_id,start_date", "unique", 2),
    ),
    "unique_costs_key": (
        _append("costs", {"month": "2024-01-01", "category": "sales", "amount": 1.0}),
        ("costs", "month,category", "unique", 2),
    ),
    "unique_fx_key": (
        _append("fx_rates", {"month": "2024-02-01", "currency": "EUR", "rate_to_reporting": 1.2}),
        ("fx_rates", "month,currency", "unique", 2),
    ),
    "unique_onboarding_key": (
        _append(
            "onboarding", {"account_id": "A1", "milestone": "kickoff", "reached_at": "2024-01-04"}
        ),
        ("onboarding", "account_id,milestone", "unique", 2),
    ),
    "unique_users": (_set("users", 1, user_id="U1"), ("users", "user_id", "unique", 2)),
    "unique_surveys": (
        _set("surveys", 1, response_id="R1"),
        ("surveys", "response_id", "unique", 2),
    ),
    "unique_tickets": (
        _append(
            "tickets", {"ticket_id": "T1", "account_id": "A2", "opened_at": "2024-02-03T08:00:00Z"}
        ),
        ("tickets", "ticket_id", "unique", 2),
    ),
    "unique_leads": (_set("leads", 1, lead_id="L1"), ("leads", "lead_id", "unique", 2)),
    "fk_subscriptions": (
        _set("subscriptions", 2, account_id="A9"),
        ("subscriptions", "account_id", "fk", 1),
    ),
    "fk_users": (_set("users", 0, account_id="A9"), ("users", "account_id", "fk", 1)),
    "fk_events": (_set("events", 2, account_id="A9"), ("events", "account_id", "fk", 1)),
    "fk_onboarding": (
        _set("onboarding", 0, account_id="A9"),
        ("onboarding", "account_id", "fk", 1),
    ),
    "fk_surveys": (_set("surveys", 0, account_id="A9"), ("surveys", "account_id", "fk", 1)),
    "fk_tickets": (_set("tickets", 0, account_id="A9"), ("tickets", "account_id", "fk", 1)),
    "fk_leads_account": (_set("leads", 1, account_id="A9"), ("leads", "account_id", "fk", 1)),
    "fk_leads_referred_by": (_set("leads", 0, referred_by="A9"), ("leads", "referred_by", "fk", 1)),
    "fk_accounts_referred_by": (
        _set("accounts", 2, referred_by="A9"),
        ("accounts", "referred_by", "fk", 1),
    ),
    "allowed_business_model": (
        _set("accounts", 0, business_model="b2b"),
        ("accounts", "business_model", "allowed", 1),
    ),
    "allowed_billing_interval": (
        _set("subscriptions", 0, billing_interval="weekly"),
        ("subscriptions", "billing_interval", "allowed", 1),
    ),
    "allowed_unit": (
        _set("subscriptions", 0, unit="seats"),
        ("subscriptions", "unit", "allowed", 1),
    ),
    "allowed_milestone": (
        _set("onboarding", 1, milestone="done"),
        ("onboarding", "milestone", "allowed", 1),
    ),
    "allowed_survey": (_set("surveys", 1, survey="ces7"), ("surveys", "survey", "allowed", 1)),
    "allowed_category": (_set("costs", 0, category="rent"), ("costs", "category", "allowed", 1)),
    "min_mrr": (_set("subscriptions", 0, mrr=-1.0), ("subscriptions", "mrr", "min", 1)),
    "min_quantity": (
        _set("subscriptions", 1, quantity=-2),
        ("subscriptions", "quantity", "min", 1),
    ),
    "min_one_time_fees": (
        _set("subscriptions", 2, one_time_fees=-200.0),
        ("subscriptions", "one_time_fees", "min", 1),
    ),
    "min_term_months": (
        _set("subscriptions", 2, term_months=0),
        ("subscriptions", "term_months", "min", 1),
    ),
    "min_contacts": (_set("tickets", 0, contacts=0), ("tickets", "contacts", "min", 1)),
    "min_amount": (_set("costs", 0, amount=-5.0), ("costs", "amount", "min", 1)),
    "gt_rate": (
        _set("fx_rates", 0, rate_to_reporting=0.0),
        ("fx_rates", "rate_to_reporting", "gt", 1),
    ),
    "score_scale_nps": (_set("surveys", 0, score=11), ("surveys", "score", "score_scale", 1)),
    "score_scale_csat": (_set("surveys", 1, score=0), ("surveys", "score", "score_scale", 1)),
    "end_after_start": (
        _set("subscriptions", 3, end_date="2024-01-15"),
        ("subscriptions", "end_date", "end_after_start", 1),
    ),
    "first_response_after_opened": (
        _set("tickets", 0, first_response_at="2024-02-01T07:59:59Z"),
        ("tickets", "first_response_at", "after_opened", 1),
    ),
    "resolved_after_opened": (
        _set("tickets", 0, resolved_at="2024-01-31T23:00:00Z"),
        ("tickets", "resolved_at", "after_opened", 1),
    ),
    "costs_first_of_month": (
        _set("costs", 0, month="2024-01-15"),
        ("costs", "month", "first_of_month", 1),
    ),
    "fx_first_of_month": (
        _set("fx_rates", 0, month="2024-02-10"),
        ("fx_rates", "month", "first_of_month", 1),
    ),
    "overlap": (
        _set("subscriptions", 0, end_date="2024-04-01"),
        ("subscriptions", "start_date", "overlap", 1),
    ),
    "fx_missing": (
        _set("subscriptions", 2, currency="GBP"),
        ("subscriptions", "currency", "fx_missing", 1),
    ),
    "not_null_event_at": (_set("events", 0, event_at=None), ("events", "event_at", "not_null", 1)),
}


@pytest.mark.parametrize("case", list(RULE_CASES))
def test_each_rule_is_reported_with_table_column_rule_and_count(write_tables, case):
    mutate, (table, column, rule, count) = RULE_CASES[case]
    tables = good()
    mutate(tables)
    src = write_tables(tables)
    report = validate(src)
    assert issues(report) == [(table, column, rule, count)]
    assert not report.ok
    with pytest.raises(ValidationError) as err:
        load(src)
    message = str(err.value)
    assert f"{table}.{column} [{rule}]: {count} row" in message
    assert err.value.report.issues == report.issues
    assert message.splitlines()[-1].endswith("load(..., strict=False) / csm validate --lenient")


def test_error_message_lists_every_broken_rule_with_examples_and_fixes(write_tables):
    tables = good()
    tables["subscriptions"][0]["mrr"] = -1.0
    tables["subscriptions"][2]["account_id"] = "A9"
    tables["events"][1]["account_id"] = "A8"
    with pytest.raises(ValidationError) as err:
        load(write_tables(tables))
    lines = str(err.value).splitlines()
    assert lines[0].endswith("does not meet the data contract (3 problems):")
    assert lines[1:4] == [
        "  subscriptions.mrr [min]: 1 row, expected mrr >= 0; e.g. S1/2024-01-01 (mrr=-1.0); "
        "fix: correct mrr so that it is >= 0",
        "  subscriptions.account_id [fk]: 1 row, expected account_id to exist in "
        "accounts.account_id; e.g. S2/2024-02-10 (account_id=A9); "
        "fix: add the missing accounts to accounts, or correct account_id",
        "  events.account_id [fk]: 1 row, expected account_id to exist in accounts.account_id; "
        "e.g. row 2 (account_id=A8); fix: add the missing accounts to accounts, or correct account_id",
    ]
    assert lines[4].startswith("Fix the source, or use lenient mode")


def test_examples_are_at_most_five_keys(write_tables):
    tables = good()
    tables["users"] = [{"user_id": f"U{i}", "account_id": "A9"} for i in range(8)]
    (issue,) = validate(write_tables(tables)).issues
    assert (issue.rule, issue.count) == ("fk", 8)
    assert issue.examples == ["U0", "U1", "U2", "U3", "U4"]


# --------------------------------------------------------------------------- lenient mode


def test_lenient_quarantines_exactly_the_bad_rows_and_keeps_the_good(write_tables, tmp_path):
    tables = good()
    tables["subscriptions"][0]["mrr"] = -1.0  # S1/2024-01-01
    tables["subscriptions"][2]["account_id"] = "A9"  # S2/2024-02-10
    tables["subscriptions"][2]["mrr"] = -3.0  # same row, two reasons
    tables["events"][1]["account_id"] = "A8"
    qdir = tmp_path / "q"
    wb = load(write_tables(tables), strict=False, quarantine_dir=qdir)

    kept = wb.table("subscriptions").collect()
    assert kept.select("subscription_id", "start_date").rows() == [
        ("S1", date(2024, 3, 1)),
        ("S3", date(2024, 1, 15)),
    ]
    assert wb.quarantined == {"subscriptions/min": 2, "subscriptions/fk": 1, "events/fk": 1}
    assert wb.report.ok
    assert wb.report.rows_quarantined == {"subscriptions": 2, "events": 1}
    assert wb.report.row_counts["subscriptions"] == kept.height + 2
    assert wb.table("events").collect().height == 2

    q = pl.read_parquet(qdir / "subscriptions.parquet")
    assert q.select("subscription_id", "source_row").rows() == [("S1", 1), ("S2", 3)]
    assert q["reason"].to_list() == [
        "mrr [min] expected mrr >= 0",
        "mrr [min] expected mrr >= 0; account_id [fk] expected account_id to exist in accounts.account_id",
    ]
    qe = pl.read_parquet(qdir / "events.parquet")
    assert qe.select("account_id", "source_row").rows() == [("A8", 2)]
    assert sorted(p.name for p in qdir.iterdir()) == ["events.parquet", "subscriptions.parquet"]


def test_lenient_quarantines_rows_of_quarantined_accounts(write_tables, tmp_path):
    tables = good()
    tables["accounts"][0]["business_model"] = "b2b"  # A1 is bad; A2 was referred by A1
    wb = load(write_tables(tables), strict=False, quarantine_dir=tmp_path / "q")
    assert wb.table("accounts").collect()["account_id"].to_list() == ["A3"]
    assert wb.quarantined == {
        "accounts/allowed": 1,
        "accounts/account_quarantined": 1,
        "subscriptions/account_quarantined": 3,
        "users/account_quarantined": 2,
        "events/account_quarantined": 3,
        "onboarding/account_quarantined": 2,
        "surveys/account_quarantined": 2,
        "tickets/account_quarantined": 1,
        "leads/account_quarantined": 2,
    }
    qa = pl.read_parquet(tmp_path / "q" / "accounts.parquet")
    assert qa.select("account_id", "reason").rows() == [
        ("A1", "business_model [allowed] expected one of B2B, B2C"),
        (
            "A2",
            "referred_by [account_quarantined] expected referred_by to be an account that "
            "loaded (it was quarantined)",
        ),
    ]
    for name, rows in GOOD.items():  # nothing dropped silently
        assert wb.report.row_counts[name] == len(rows)
        kept = wb.table(name).collect().height
        assert kept + wb.report.rows_quarantined.get(name, 0) == len(rows)


def test_lenient_default_quarantine_dir_is_outputs_quarantine(write_tables, tmp_path, monkeypatch):
    tables = good()
    tables["costs"][0]["amount"] = -1.0
    src = write_tables(tables)
    monkeypatch.chdir(tmp_path)
    wb = load(src, strict=False)
    assert wb.table("costs").collect().height == 0
    path = tmp_path / "outputs" / "quarantine" / "costs.parquet"
    assert pl.read_parquet(path)["reason"].to_list() == ["amount [min] expected amount >= 0"]
    assert wb.report.quarantine_files == {"costs": str(path)}


def test_validate_lenient_reports_without_writing(write_tables, tmp_path, monkeypatch):
    tables = good()
    tables["costs"][0]["amount"] = -1.0
    monkeypatch.chdir(tmp_path)
    report = validate(write_tables(tables), strict=False)
    assert report.ok and report.quarantined == {"costs/min": 1}
    assert not (tmp_path / "outputs").exists()
    d = report.to_dict()
    assert d["mode"] == "lenient" and d["issues"][0]["rule"] == "min"


# --------------------------------------------------------------------------- types


CSV_SUBSCRIPTIONS = """\
subscription_id,account_id,product_line,plan,start_date,end_date,billing_interval,term_months,mrr,quantity,unit,one_time_fees,is_trial,currency
S1,A1,Core,Pro,2024-01-01,,month,,100,3,seat,0,false,USD
S2,A2,Core,Pro, 2024-02-01 ,2025-02-01T00:00:00,year,12.0,50.5,4,seat,1.5,YES,USD
S3,A3,Core,Pro,2024-03-01,,month,,0,0,flat,,0,
S4,A1,Core,Pro,2024-13-01,,month,1.5,abc,x,seat,,maybe,USD
"""


def test_csv_text_is_cast_to_contract_types(write_tables):
    tables = good()
    tables["subscriptions"] = CSV_SUBSCRIPTIONS.replace(
        "S4,A1,Core,Pro,2024-13-01,,month,1.5,abc,x,seat,,maybe,USD\n", ""
    )
    tables["tickets"] = (
        "ticket_id,account_id,opened_at,first_response_at,resolved_at,contacts,priority,channel,category\n"
        "T1,A1,2024-02-01T08:00:00Z,2024-02-01 10:30:00+02:00,2024-02-01T09:00:00,1,p1,email,\n"
        "T2,A1,2024-02-01,,,2,p2,chat,\n"
    )
    wb = load(write_tables(tables, fmt="csv"))
    subs = wb.table("subscriptions").collect()
    assert subs.rows() == [
        (
            "S1",
            "A1",
            "Core",
            "Pro",
            date(2024, 1, 1),
            None,
            "month",
            None,
            100.0,
            3,
            "seat",
            0.0,
            False,
            "USD",
        ),
        (
            "S2",
            "A2",
            "Core",
            "Pro",
            date(2024, 2, 1),
            date(2025, 2, 1),
            "year",
            12,
            50.5,
            4,
            "seat",
            1.5,
            True,
            "USD",
        ),
        (
            "S3",
            "A3",
            "Core",
            "Pro",
            date(2024, 3, 1),
            None,
            "month",
            None,
            0.0,
            0,
            "flat",
            None,
            False,
            None,
        ),
    ]
    t = wb.table("tickets").collect()
    utc = UTC
    assert t["opened_at"].to_list() == [
        datetime(2024, 2, 1, 8, tzinfo=utc),
        datetime(2024, 2, 1, tzinfo=utc),
    ]
    assert t["first_response_at"].to_list() == [datetime(2024, 2, 1, 8, 30, tzinfo=utc), None]
    assert t["resolved_at"].to_list() == [datetime(2024, 2, 1, 9, tzinfo=utc), None]
    assert t["contacts"].dtype == pl.Int32


def test_csv_values_that_do_not_parse_are_type_violations_not_nulls(write_tables):
    tables = good()
    tables["subscriptions"] = CSV_SUBSCRIPTIONS
    report = validate(write_tables(tables, fmt="csv"))
    assert issues(report) == [
        ("subscriptions", "start_date", "type", 1),
        ("subscriptions", "term_months", "type", 1),
        ("subscriptions", "mrr", "type", 1),
        ("subscriptions", "quantity", "type", 1),
        ("subscriptions", "is_trial", "type", 1),
    ]
    by_col = {i.column: i for i in report.issues}
    assert by_col["mrr"].examples == ["S4/null"]  # start_date did not parse either
    assert by_col["mrr"].found == ["mrr=abc"]
    assert by_col["start_date"].found == ["start_date=2024-13-01"]
    assert by_col["term_months"].found == ["term_months=1.5"]
    assert by_col["is_trial"].found == ["is_trial=maybe"]
    assert "a whole number" in by_col["quantity"].fix


def test_lenient_quarantine_keeps_the_original_text(write_tables, tmp_path):
    tables = good()
    tables["subscriptions"] = CSV_SUBSCRIPTIONS
    wb = load(write_tables(tables, fmt="csv"), strict=False, quarantine_dir=tmp_path / "q")
    assert wb.table("subscriptions").collect()["subscription_id"].to_list() == ["S1", "S2", "S3"]
    q = pl.read_parquet(tmp_path / "q" / "subscriptions.parquet")
    assert q.row(0, named=True)["mrr"] == "abc"
    assert q.row(0, named=True)["start_date"] == "2024-13-01"
    assert q["source_row"].to_list() == [4]
    assert q["reason"][0].count("[type]") == 5


def test_nan_money_is_a_type_violation(write_tables):
    tables = good()
    tables["subscriptions"][0]["mrr"] = float("nan")
    assert issues(validate(write_tables(tables))) == [("subscriptions", "mrr", "type", 1)]


def test_parquet_compatible_types_are_cast_safely(write_tables):
    tables = good()
    subs = table_frame("subscriptions", tables["subscriptions"]).with_columns(
        pl.col("quantity").cast(pl.Int64),
        pl.col("term_months").cast(pl.Int16),
        pl.col("start_date").cast(pl.Datetime("ns")),  # a Date stored as Datetime
        pl.col("plan").cast(pl.Categorical),
    )
    events = table_frame("events", tables["events"]).with_columns(
        pl.col("event_at").dt.replace_time_zone(None).dt.cast_time_unit("ns")  # naive ns
    )
    tickets = table_frame("tickets", tables["tickets"]).with_columns(
        pl.col("opened_at").dt.convert_time_zone("Europe/Paris").dt.cast_time_unit("ms"),
        pl.col("contacts").cast(pl.Float64),
    )
    wb = load(write_tables({**tables, "subscriptions": subs, "events": events, "tickets": tickets}))
    want = load(write_tables(good()))
    for name in ("subscriptions", "events", "tickets"):
        assert wb.table(name).collect().equals(want.table(name).collect()), name


def test_parquet_int_overflow_and_fractional_ints_are_type_violations(write_tables):
    tables = good()
    subs = table_frame("subscriptions", tables["subscriptions"]).with_columns(
        quantity=pl.Series([10, 2**40, 1, None], dtype=pl.Int64),
        term_months=pl.Series([None, None, 12.5, None], dtype=pl.Float64),
    )
    report = validate(write_tables({**tables, "subscriptions": subs}))
    assert issues(report) == [
        ("subscriptions", "term_months", "type", 1),
        ("subscriptions", "quantity", "type", 1),
    ]


# --------------------------------------------------------------------------- sources


def test_duckdb_source(write_tables, tmp_path):
    db = tmp_path / "crm.duckdb"
    con = duckdb.connect(str(db))
    for name, rows in GOOD.items():
        df = table_frame(name, rows)  # noqa: F841 (read by duckdb's replacement scan)
        con.execute(f"create table {name} as select * from df")
    con.execute("create table unrelated as select 1 as x")
    con.close()
    wb = load(db)
    want = load(write_tables(good()))
    assert set(wb.tables) == set(want.tables)
    for name in TABLES:
        assert wb.table(name).collect().equals(want.table(name).collect()), name
    assert wb.as_of == want.as_of


def test_duckdb_source_is_validated_too(tmp_path):
    db = tmp_path / "crm.db"
    con = duckdb.connect(str(db))
    accounts = table_frame("accounts", GOOD["accounts"])  # noqa: F841
    subs = table_frame("subscriptions", GOOD["subscriptions"]).with_columns(mrr=pl.lit(-1.0))  # noqa: F841
    events = table_frame("events", GOOD["events"]).with_columns(  # noqa: F841
        account_id=pl.Series(["A1", "A7", "A2"])
    )
    con.execute("create table accounts as select * from accounts")
    con.execute("create table subscriptions as select * from subs")
    con.execute("create table events as select * from events")
    con.close()
    report = validate(db)
    assert issues(report) == [
        ("subscriptions", "mrr", "min", 4),
        ("subscriptions", "currency", "fx_missing", 1),
        ("events", "account_id", "fk", 1),
    ]
    assert report.issues[-1].examples == ["row 2"]
    wb = load(db, strict=False, quarantine_dir=tmp_path / "q")
    assert wb.table("events").collect()["account_id"].to_list() == ["A1", "A2"]
    assert pl.read_parquet(tmp_path / "q" / "events.parquet")["source_row"].to_list() == [2]


def test_missing_source_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="workbook source not found"):
        load(tmp_path / "nope")


# --------------------------------------------------------------------------- money and as-of


def test_fx_conversion_of_non_reporting_currency_rows(write_tables):
    tables = good()
    tables["subscriptions"][2].update(mrr=33.333, one_time_fees=200.0)  # EUR, starts 2024-02-10
    tables["fx_rates"].append({"month": "2024-03-01", "currency": "EUR", "rate_to_reporting": 2.0})
    subs = load(write_tables(tables)).table("subscriptions").collect()
    assert subs.select("subscription_id", "mrr", "one_time_fees", "currency").rows() == [
        ("S1", 100.0, 0.0, "USD"),
        ("S1", 120.0, None, "USD"),
        ("S2", 36.67, pytest.approx(220.0), "EUR"),  # 33.333 * 1.1 = 36.6663 -> 36.67
        ("S3", 10.0, None, None),  # null currency = reporting currency
    ]


def test_reporting_currency_parameter(write_tables):
    tables = good()
    tables["subscriptions"] = [r for r in tables["subscriptions"] if r["currency"] == "EUR"]
    tables["fx_rates"] = []
    wb = load(write_tables(tables), reporting_currency="EUR")
    assert wb.table("subscriptions").collect()["mrr"].to_list() == [50.0]
    assert wb.reporting_currency == "EUR"


def test_as_of_defaults_to_latest_activity_date_not_end_dates(write_tables):
    tables = good()
    assert load(write_tables(tables)).as_of == date(2024, 3, 3)  # last event (2024-03-03)
    tables["events"][2]["event_at"] = "2024-03-31T23:30:00-05:00"  # = 2024-04-01 04:30 UTC
    assert load(write_tables(tables)).as_of == date(2024, 4, 1)
    del tables["events"]
    tables["leads"].append({"lead_id": "L3", "created_at": "2024-03-20"})
    assert load(write_tables(tables)).as_of == date(2024, 3, 20)  # S3 ends 2025-01-15: ignored


# --------------------------------------------------------------------------- report


def test_report_format_is_aligned_per_table(write_tables):
    tables = good()
    tables["costs"][0]["amount"] = -1.0
    src = write_tables(tables)
    text = validate(src).format()
    lines = text.splitlines()
    header = lines.index("table          rows read  status")
    assert lines[header + 1 : header + 4] == [
        "accounts               3  OK",
        "subscriptions          4  OK",
        "users                  2  OK",
    ]
    assert "costs                  1  1 problem (1 row)" in lines
    assert lines[-1].startswith("FAILED: 1 problem.")
    lenient = validate(src, strict=False).format()
    assert "costs                  1  OK, 1 row quarantined" in lenient.splitlines()
    assert lenient.splitlines()[-1] == "OK: 1 row quarantined"


# --------------------------------------------------------------------------- bundled sample


@pytest.mark.skipif(
    not SAMPLE_DIR.is_dir(), reason="data/sample not generated yet (csm_lib.sample)"
)
def test_bundled_sample_validates_with_no_issues():
    start = time.perf_counter()
    report = validate(SAMPLE_DIR)
    elapsed = time.perf_counter() - start
    assert report.issues == [], report.format()
    wb = load(SAMPLE_DIR)
    assert {"accounts", "subscriptions"} <= set(wb.tables)
    assert elapsed < 5  # target well under 2 s; generous bound for slow CI machines
