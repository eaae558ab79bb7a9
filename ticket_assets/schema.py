"""The pandera schema of tickets, and a validator that turns failures into one clear message.

The same schema guards every node's output before it is written and runs as a blocking
asset check over the whole table afterwards; it covers the columns present at that stage.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ticket_assets.config import RunConfig
from ticket_assets.ids import TICKET_ID_PATTERN
from ticket_assets.nodes.outputs import MAX_TAGS, MIN_TAGS
from ticket_assets.tables import Tables

TEXT_COLUMNS = ("subject", "body", "first_response", "topic")


def _tag_count_ok(tags: object) -> bool:
    if tags is None or isinstance(tags, str):
        return False
    values = list(tags)  # type: ignore[call-overload]
    return MIN_TAGS <= len(values) <= MAX_TAGS and len(set(values)) == len(values)


def ticket_schema(config: RunConfig, tables: Tables, columns: Iterable[str]) -> pa.DataFrameSchema:
    present = set(columns)
    rules: dict[str, pa.Column] = {
        "ticket_id": pa.Column(
            str, pa.Check.str_matches(TICKET_ID_PATTERN.pattern), unique=True, nullable=False
        ),
        "language": pa.Column(str, pa.Check.isin(list(config.languages)), nullable=False),
        "batch": pa.Column(str, pa.Check.str_matches(r"^b\d{4}$"), nullable=False),
        "type": pa.Column(str, pa.Check.isin(list(tables.types)), nullable=False),
        "queue": pa.Column(str, pa.Check.isin(list(tables.queues)), nullable=False),
        "priority": pa.Column(str, pa.Check.isin(list(tables.priorities)), nullable=False),
        "tags": pa.Column(
            object,
            pa.Check(
                _tag_count_ok,
                element_wise=True,
                error=f"{MIN_TAGS}-{MAX_TAGS} distinct tags",
            ),
            nullable=False,
        ),
    }
    for column in TEXT_COLUMNS:
        rules[column] = pa.Column(
            str, pa.Check(lambda s: s.str.strip().str.len() > 0, error="non-empty"), nullable=False
        )
    return pa.DataFrameSchema(
        {name: rule for name, rule in rules.items() if name in present},
        name="tickets",
        strict=False,
        coerce=False,
    )


@dataclass(frozen=True)
class SchemaReport:
    passed: bool
    failures: int
    failed_rows: int
    summary: str
    samples: pd.DataFrame

    def markdown(self) -> str:
        if self.passed:
            return "All rows pass the ticket schema."
        return self.summary + "\n\n" + self.samples.to_markdown(index=False)


def check_frame(schema: pa.DataFrameSchema, frame: pd.DataFrame, samples: int = 10) -> SchemaReport:
    """Validate every rule on every row (lazy) and summarize what failed where."""
    try:
        schema.validate(frame, lazy=True)
    except SchemaErrors as errors:
        cases = errors.failure_cases
        rows = cases["index"].dropna()
        counts = cases.groupby(["column", "check"], dropna=False).size()
        summary = "; ".join(f"{column} {check}: {n} rows" for (column, check), n in counts.items())
        sample = cases.head(samples)[["column", "check", "failure_case", "index"]].copy()
        ids = frame.get("ticket_id")
        if ids is not None:
            sample["ticket_id"] = [
                ids.iloc[int(i)] if pd.notna(i) and int(i) < len(ids) else None
                for i in sample["index"]
            ]
        sample["failure_case"] = sample["failure_case"].astype(str).str.slice(0, 80)
        return SchemaReport(False, len(cases), rows.nunique(), summary, sample)
    return SchemaReport(True, 0, 0, "", pd.DataFrame())


class SchemaViolation(ValueError):
    """Rows that break the ticket schema; they are never written."""


def validate_or_raise(schema: pa.DataFrameSchema, frame: pd.DataFrame, what: str) -> None:
    report = check_frame(schema, frame.reset_index(drop=True))
    if not report.passed:
        raise SchemaViolation(
            f"{what}: {report.failed_rows} rows break the ticket schema ({report.summary}); "
            "nothing was written"
        )
