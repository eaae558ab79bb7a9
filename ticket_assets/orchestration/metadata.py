"""Materialization metadata shared by node assets, checks and the export."""

from __future__ import annotations

from typing import Any

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import UsageTotals
from ticket_assets.llm.types import CallRecord

PREVIEW_ROWS = 5
PREVIEW_CHARS = 120


def column_schema(frame: pd.DataFrame) -> dg.TableSchema:
    def type_name(column: str) -> str:
        if column == "tags":
            return "list[str]"
        return "str" if frame[column].dtype == object else str(frame[column].dtype)

    return dg.TableSchema(
        columns=[dg.TableColumn(name=column, type=type_name(column)) for column in frame.columns]
    )


def preview(frame: pd.DataFrame, rows: int = PREVIEW_ROWS) -> str:
    shown = frame.head(rows).copy()
    for column in shown.columns:
        shown[column] = [
            ", ".join(v)
            if isinstance(v, list | tuple)
            else str(v).replace("\n", " ")[:PREVIEW_CHARS]
            for v in shown[column]
        ]
    return shown.to_markdown(index=False)


def node_metadata(
    frame: pd.DataFrame, records: list[CallRecord], config: RunConfig, model: str
) -> dict[str, Any]:
    return {
        "dagster/row_count": len(frame),
        "dagster/column_schema": column_schema(frame),
        **UsageTotals.of(records).metadata(config.currency),
        "llm/model": model,
        "mode": config.mode,
        "preview": dg.MetadataValue.md(preview(frame)),
    }
