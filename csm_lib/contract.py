"""The data contract (DATA_CONTRACT.md v1) as data: tables, columns, types, rules.

This module is the single source of truth for table and column names; the
loader, the validator, the sample generator and the docs read it.

>>> TABLES["accounts"].required
True
>>> TABLES["subscriptions"].columns["mrr"].dtype
Float64
"""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl


@dataclass(frozen=True)
class Column:
    dtype: pl.DataType
    nullable: bool = True
    unique: bool = False
    allowed: tuple[str, ...] | None = None  # allowed string values
    min: float | None = None  # inclusive lower bound
    max: float | None = None  # inclusive upper bound
    gt: float | None = None  # strict lower bound
    fk_accounts: bool = False  # must exist in accounts.account_id
    required: bool = True  # the column must be present when the table is


@dataclass(frozen=True)
class Table:
    name: str
    required: bool
    key: tuple[str, ...]  # unique key (used for examples in error messages)
    columns: dict[str, Column] = field(default_factory=dict)
    description: str = ""


S, D, DT, F, I32, B = pl.String, pl.Date, pl.Datetime("us", "UTC"), pl.Float64, pl.Int32, pl.Boolean

TABLES: dict[str, Table] = {
    "accounts": Table(
        "accounts",
        True,
        ("account_id",),
        {
            "account_id": Column(S, nullable=False, unique=True),
            "account_name": Column(S),
            "segment": Column(S),
            "business_model": Column(S, allowed=("B2B", "B2C")),
            "region": Column(S),
            "industry": Column(S),
            "acquisition_channel": Column(S),
            "referred_by": Column(S),
            "created_at": Column(D),
            "csm": Column(S),
        },
        "one row per customer (a logo)",
    ),
    "subscriptions": Table(
        "subscriptions",
        True,
        ("subscription_id", "start_date"),
        {
            "subscription_id": Column(S, nullable=False),
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "product_line": Column(S),
            "plan": Column(S),
            "start_date": Column(D, nullable=False),
            "end_date": Column(D),
            "billing_interval": Column(S, allowed=("month", "year", "multi_year")),
            "term_months": Column(I32, min=1),
            "mrr": Column(F, nullable=False, min=0),
            "quantity": Column(I32, min=0),
            "unit": Column(S, allowed=("seat", "gb", "flat")),
            "one_time_fees": Column(F, min=0),
            "is_trial": Column(B),
            "currency": Column(S),
        },
        "one row per priced period of a subscription",
    ),
    "users": Table(
        "users",
        False,
        ("user_id",),
        {
            "user_id": Column(S, nullable=False, unique=True),
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "created_at": Column(D),
            "deactivated_at": Column(D),
            "role": Column(S),
        },
        "licensed users of customer accounts",
    ),
    "events": Table(
        "events",
        False,
        (),
        {
            "event_at": Column(DT, nullable=False),
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "user_id": Column(S),
            "session_id": Column(S),
            "event": Column(S, nullable=False),
            "feature": Column(S),
        },
        "product usage events (the large table)",
    ),
    "onboarding": Table(
        "onboarding",
        False,
        ("account_id", "milestone"),
        {
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "milestone": Column(
                S, nullable=False, allowed=("kickoff", "provisioned", "trained", "first_value")
            ),
            "reached_at": Column(D, nullable=False),
        },
        "onboarding milestones reached",
    ),
    "surveys": Table(
        "surveys",
        False,
        ("response_id",),
        {
            "response_id": Column(S, nullable=False, unique=True),
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "user_id": Column(S),
            "survey": Column(S, nullable=False, allowed=("nps", "csat", "ces")),
            "score": Column(I32, nullable=False),  # range depends on survey: checked by rule
            "responded_at": Column(D, nullable=False),
            "touchpoint": Column(S),
            "comment": Column(S),
        },
        "NPS, CSAT and CES responses",
    ),
    "tickets": Table(
        "tickets",
        False,
        ("ticket_id",),
        {
            "ticket_id": Column(S, nullable=False, unique=True),
            "account_id": Column(S, nullable=False, fk_accounts=True),
            "opened_at": Column(DT, nullable=False),
            "first_response_at": Column(DT),
            "resolved_at": Column(DT),
            "contacts": Column(I32, min=1),
            "priority": Column(S),
            "channel": Column(S),
            "category": Column(S),
        },
        "support cases",
    ),
    "leads": Table(
        "leads",
        False,
        ("lead_id",),
        {
            "lead_id": Column(S, nullable=False, unique=True),
            "created_at": Column(D, nullable=False),
            "channel": Column(S),
            "trial_started_at": Column(D),
            "converted_at": Column(D),
            "account_id": Column(S, fk_accounts=True),
            "referred_by": Column(S),
        },
        "acquisition funnel and trials",
    ),
    "costs": Table(
        "costs",
        False,
        ("month", "category"),
        {
            "month": Column(D, nullable=False),
            "category": Column(
                S,
                nullable=False,
                allowed=(
                    "sales",
                    "marketing",
                    "customer_success",
                    "support",
                    "onboarding",
                    "training",
                ),
            ),
            "amount": Column(F, nullable=False, min=0),
        },
        "spend per month and category",
    ),
    "fx_rates": Table(
        "fx_rates",
        False,
        ("month", "currency"),
        {
            "month": Column(D, nullable=False),
            "currency": Column(S, nullable=False),
            "rate_to_reporting": Column(F, nullable=False, gt=0),
        },
        "monthly exchange rates to the reporting currency",
    ),
}

SURVEY_SCALES = {"nps": (0, 10), "csat": (1, 5), "ces": (1, 7)}
REPORTING_CURRENCY = "USD"
FAR_FUTURE = "9999-12-31"
