"""Label balance: the achieved share of every class versus the share the configuration asks
for (label weights in tables/, raised by `balance`; language weights), overall and within
each language.

A class is out of balance when its share misses the expected one by more than `tolerance`
plus `noise_z` standard errors of a sample of that size (sqrt(p(1-p)/n)): 50 French tickets
cannot match the weights as closely as 10,000 tickets, and a check that fails small runs by
chance would be ignored.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from ticket_assets.config import LabelBalanceQualityConfig, RunConfig
from ticket_assets.nodes.topic import sampling_tables
from ticket_assets.quality.result import SAMPLE_ROWS, CheckResult
from ticket_assets.tables import Tables

BALANCE_COLUMNS = ("language", "type", "queue", "priority", "business_type")
ALL_LANGUAGES = "all"


def expected_shares(config: RunConfig, tables: Tables) -> dict[str, dict[str, float]]:
    """Column -> class -> share the configuration asks for (what the topic node samples)."""
    total = sum(config.languages.values())
    return {
        "language": {code: weight / total for code, weight in config.languages.items()},
        **sampling_tables(config, tables).label_shares(),
    }


def balance_table(
    frame: pd.DataFrame,
    expected: Mapping[str, Mapping[str, float]],
    config: LabelBalanceQualityConfig,
) -> pd.DataFrame:
    """One row per (column, scope, class): expected and achieved share, allowed deviation."""
    records = []
    for column in BALANCE_COLUMNS:
        if column not in frame or column not in expected:
            continue
        scopes = [(ALL_LANGUAGES, frame)]
        if column != "language":
            scopes += [(code, part) for code, part in frame.groupby("language", sort=True)]
        for scope, part in scopes:
            rows = len(part)
            if rows == 0:
                continue
            counts = part[column].value_counts()
            for label in [
                *expected[column],
                *(c for c in counts.index if c not in expected[column]),
            ]:
                share = expected[column].get(label, 0.0)
                achieved = counts.get(label, 0) / rows
                allowed = config.tolerance + config.noise_z * math.sqrt(share * (1 - share) / rows)
                records.append(
                    {
                        "column": column,
                        "scope": scope,
                        "class": label,
                        "rows": int(counts.get(label, 0)),
                        "expected": share,
                        "achieved": achieved,
                        "deviation": achieved - share,
                        "allowed": allowed,
                    }
                )
    table = pd.DataFrame.from_records(
        records,
        columns=[
            "column",
            "scope",
            "class",
            "rows",
            "expected",
            "achieved",
            "deviation",
            "allowed",
        ],
    )
    table["within"] = table["deviation"].abs() <= table["allowed"]
    return table


def check_label_balance(
    frame: pd.DataFrame,
    expected: Mapping[str, Mapping[str, float]],
    config: LabelBalanceQualityConfig,
) -> CheckResult:
    table = balance_table(frame, expected, config)
    outside = table[~table["within"]]
    # The failing classes; when all pass, the largest deviations for reference.
    shown = (
        outside
        if len(outside)
        else table.reindex(table["deviation"].abs().sort_values(ascending=False).index)
    )
    samples = shown.head(SAMPLE_ROWS).round(
        {"expected": 3, "achieved": 3, "deviation": 3, "allowed": 3}
    )
    worst = table["deviation"].abs().max() if len(table) else 0.0
    columns = ", ".join(dict.fromkeys(table["column"]))
    return CheckResult(
        passed=outside.empty,
        summary=(
            f"{len(outside)} of {len(table)} class shares ({columns}; overall and per language) "
            f"miss the configured share by more than {config.tolerance} + {config.noise_z} "
            f"standard errors; largest deviation {worst:.3f}. Listed: "
            + ("the classes outside." if len(outside) else "the largest deviations.")
        ),
        headline=(
            f"{len(outside)} of {len(table)} class shares outside tolerance, "
            f"largest deviation {worst:.3f}"
        ),
        figures={
            "classes_checked": len(table),
            "classes_outside": len(outside),
            "max_deviation": float(worst),
        },
        samples=samples.reset_index(drop=True),
    )
