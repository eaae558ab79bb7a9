"""The pandera schema of tickets, and a validator that turns failures into one clear message.

The same schema guards every node's output before it is written and runs as a blocking
asset check over the whole table afterwards; it covers the columns present at that stage.
Its rules come from the types the pipeline's nodes declare for their outputs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
import pandera.pandas as pa
from pandera.errors import SchemaErrors

from ticket_assets.config import RunConfig
from ticket_assets.core.ids import TICKET_ID_PATTERN
from ticket_assets.nodes import column_outputs
from ticket_assets.tables import Tables
from ticket_assets.tables.spec import Choice, Choices, Integer, Output, Text


def _non_empty(texts: pd.Series) -> pd.Series:
    return texts.str.strip().str.len() > 0


def _list_check(output: Choices, allowed: frozenset[str]) -> pa.Check:
    def valid(values: object) -> bool:
        if values is None or isinstance(values, str):
            return False
        items = list(values)  # type: ignore[call-overload]
        return (
            output.min_items <= len(items) <= output.max_items
            and len(set(items)) == len(items)
            and all(item in allowed for item in items)
        )

    return pa.Check(
        valid,
        element_wise=True,
        error=f"{output.min_items}-{output.max_items} distinct values from its vocabulary",
    )


def _rule(output: Output, tables: Tables) -> pa.Column:
    """The pandera rule of a column of declared type `output`."""
    if isinstance(output, Text):
        checks = [pa.Check(_non_empty, error="non-empty")]
        if output.max_length is not None:
            checks.append(pa.Check.str_length(max_value=output.max_length))
        return pa.Column(str, checks, nullable=False)
    if isinstance(output, Integer):
        return pa.Column("int64", pa.Check.in_range(output.minimum, output.maximum), nullable=False)
    allowed = output.values.resolve(tables).values
    if isinstance(output, Choice):
        return pa.Column(str, pa.Check.isin(list(allowed)), nullable=False)
    return pa.Column(object, _list_check(output, frozenset(allowed)), nullable=False)


def ticket_schema(config: RunConfig, tables: Tables, columns: Iterable[str]) -> pa.DataFrameSchema:
    """Rules for the plan columns and every column the pipeline's nodes declare (see
    tables/spec.py), restricted to `columns`: the columns present at that stage."""
    present = set(columns)
    rules: dict[str, pa.Column] = {
        "ticket_id": pa.Column(
            str, pa.Check.str_matches(TICKET_ID_PATTERN.pattern), unique=True, nullable=False
        ),
        "language": pa.Column(str, pa.Check.isin(list(config.languages)), nullable=False),
        "batch": pa.Column(str, pa.Check.str_matches(r"^b\d{4}$"), nullable=False),
    }
    for column, output in column_outputs(config).items():
        if column in present:
            rules[column] = _rule(output, tables)
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
    if frame.empty:
        return  # e.g. every ticket quarantined: no row to break a rule (columns may be untyped)
    report = check_frame(schema, frame.reset_index(drop=True))
    if not report.passed:
        raise SchemaViolation(
            f"{what}: {report.failed_rows} rows break the ticket schema ({report.summary}); "
            "nothing was written"
        )
