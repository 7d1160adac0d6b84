"""Periods and segments: parsing, boundaries, neighbours, errors."""

from datetime import date

import polars as pl
import pytest
from hypothesis import given
from hypothesis import strategies as st

from csm_lib.periods import (
    Period,
    PeriodError,
    Segment,
    SegmentError,
    latest_full_quarter,
    period_options,
)


@pytest.mark.parametrize(
    "text, start, end, kind",
    [
        ("2024-05", date(2024, 5, 1), date(2024, 5, 31), "month"),
        ("2024-02", date(2024, 2, 1), date(2024, 2, 29), "month"),
        ("2024-Q2", date(2024, 4, 1), date(2024, 6, 30), "quarter"),
        ("2024-q4", date(2024, 10, 1), date(2024, 12, 31), "quarter"),
        ("2024", date(2024, 1, 1), date(2024, 12, 31), "year"),
        ("2024-01-15..2024-03-31", date(2024, 1, 15), date(2024, 3, 31), "range"),
    ],
)
def test_parse_forms(text, start, end, kind):
    p = Period.parse(text)
    assert (p.start, p.end, p.kind) == (start, end, kind)


def test_year_given_as_int_is_accepted():
    assert Period.parse(2025).label == "2025"


def test_opening_is_the_day_before_and_closing_the_last_day():
    p = Period.parse("2024-05")
    assert p.opening_date == date(2024, 4, 30)
    assert p.closing_date == date(2024, 5, 31)


@pytest.mark.parametrize(
    "text, prev", [("2024-01", "2023-12"), ("2024-Q1", "2023-Q4"), ("2024", "2023")]
)
def test_previous(text, prev):
    assert Period.parse(text).previous().label == prev
    assert Period.parse(prev).next().label == text


def test_previous_of_a_range_has_the_same_length_and_ends_the_day_before():
    p = Period.parse("2024-01-15..2024-03-31")
    q = p.previous()
    assert q.days == p.days and q.end == date(2024, 1, 14)


def test_months_and_quarters_inside_a_range():
    p = Period.parse("2024-01-15..2024-04-02")
    assert [m.label for m in p.months()] == ["2024-01", "2024-02", "2024-03", "2024-04"]
    assert [q.label for q in p.quarters()] == ["2024-Q1", "2024-Q2"]
    assert [m.label for m in Period.parse("2024").quarters()] == [
        "2024-Q1",
        "2024-Q2",
        "2024-Q3",
        "2024-Q4",
    ]


@pytest.mark.parametrize(
    "bad",
    [
        "2024-13",
        "2024-Q5",
        "24",
        "May 2024",
        "2024-03-31..2024-01-01",
        "2024-02-30..2024-03-01",
        "",
    ],
)
def test_malformed_periods_name_the_accepted_forms(bad):
    with pytest.raises(PeriodError) as err:
        Period.parse(bad)
    msg = str(err.value)
    assert "2024-Q2" in msg or "ends before" in msg


def test_clip_to_as_of():
    p = Period.parse("2025-Q4").clip(date(2025, 11, 15))
    assert p.end == date(2025, 11, 15) and p.label == "2025-Q4"
    with pytest.raises(PeriodError, match="after the data's as-of date"):
        Period.parse("2026-Q1").clip(date(2025, 12, 31))


def test_latest_full_quarter():
    assert latest_full_quarter(date(2025, 12, 31)).label == "2025-Q4"
    assert latest_full_quarter(date(2025, 12, 30)).label == "2025-Q3"


def test_period_options_are_parseable_and_end_by_as_of():
    opts = period_options(date(2023, 1, 1), date(2025, 12, 31))
    assert opts[0] == "2025-Q4" and "2023-Q1" in opts and "2025" in opts and "2023-01" in opts
    assert all(Period.parse(o).end <= date(2025, 12, 31) for o in opts)


@given(st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)))
def test_month_and_quarter_contain_their_date_and_tile(d):
    m = Period.month(d.year, d.month)
    assert m.contains(d)
    assert m.next().start == date.fromordinal(m.end.toordinal() + 1)
    q = Period.quarter(d.year, (d.month - 1) // 3 + 1)
    assert q.contains(d) and q.previous().end == q.opening_date


ACCOUNTS = pl.DataFrame(
    {
        "account_id": ["a", "b", "c", "d"],
        "segment": ["SMB", "SMB", "Enterprise", "Mid-Market"],
        "region": ["EMEA", "NA", "EMEA", "EMEA"],
        "fit": ["good", "bad", "good", "good"],  # an extra column
    }
)


@pytest.mark.parametrize(
    "text, ids",
    [
        ("All", ["a", "b", "c", "d"]),
        ("segment=SMB", ["a", "b"]),
        ("segment=SMB,region=EMEA", ["a"]),
        ("segment=SMB|Mid-Market", ["a", "b", "d"]),
        ("fit=bad", ["b"]),
    ],
)
def test_segments_filter_accounts(text, ids):
    seg = Segment.parse(text)
    assert seg.apply(ACCOUNTS)["account_id"].to_list() == ids
    assert Segment.parse(seg.label) == seg


def test_unknown_segment_column_lists_the_available_columns():
    with pytest.raises(SegmentError) as err:
        Segment.parse("tier=gold").apply(ACCOUNTS)
    assert (
        "tier" in str(err.value) and "region" in str(err.value) and "segment=SMB" in str(err.value)
    )


@pytest.mark.parametrize("bad", ["segment", "segment=", "=SMB"])
def test_malformed_segments(bad):
    with pytest.raises(SegmentError, match="Use 'All'"):
        Segment.parse(bad)
