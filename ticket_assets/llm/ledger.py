"""Cost and token accounting: collects call records and sums them per node and model."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import pandas as pd

from ticket_assets.config import CurrencyConfig
from ticket_assets.llm.types import CallRecord

LEDGER_COLUMNS = [
    "language",
    "batch",
    "node",
    "key",
    "model",
    "provider",
    "prompt_version",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_s",
    "cache_hit",
    "attempt",
    "tickets",
    "cached_tokens",
    "http_attempts",
    "batch_api",
    "price_source",
    "call_id",
]


@dataclass
class Ledger:
    records: list[CallRecord] = field(default_factory=list)

    def add(self, record: CallRecord) -> None:
        self.records.append(record)

    def extend(self, records: Iterable[CallRecord]) -> None:
        self.records.extend(records)

    def frame(self) -> pd.DataFrame:
        return pd.DataFrame([r.__dict__ for r in self.records], columns=LEDGER_COLUMNS)

    def table_rows(self, *, run_id: str, mode: str) -> pd.DataFrame:
        """The rows of the `llm_calls` table in DuckDB: the records plus run and time."""
        return self.frame().assign(run_id=run_id, mode=mode, recorded_at=pd.Timestamp.now(tz="UTC"))


@dataclass(frozen=True)
class UsageTotals:
    calls: int
    cache_hits: int
    input_tokens: int
    output_tokens: int
    cost_usd: float

    @classmethod
    def of(cls, records: Iterable[CallRecord]) -> UsageTotals:
        rows = list(records)
        return cls(
            calls=sum(not r.cache_hit for r in rows),
            cache_hits=sum(r.cache_hit for r in rows),
            input_tokens=sum(r.input_tokens for r in rows if not r.cache_hit),
            output_tokens=sum(r.output_tokens for r in rows if not r.cache_hit),
            cost_usd=sum(r.cost_usd for r in rows),
        )

    def metadata(self, currency: CurrencyConfig) -> dict[str, float | int]:
        """Stable numeric keys, so the Dagster UI plots them across materializations. Costs
        unrounded: a partition's cost is often below a cent and must equal the ledger's sum."""
        values: dict[str, float | int] = {
            "llm/calls": self.calls,
            "llm/cache_hits": self.cache_hits,
            "llm/input_tokens": self.input_tokens,
            "llm/output_tokens": self.output_tokens,
            "llm/cost_usd": self.cost_usd,
        }
        for code, rate in currency.rates.items():
            values[f"llm/cost_{code.lower()}"] = self.cost_usd * rate
        return values


def summarize(frame: pd.DataFrame, by: list[str], currency: CurrencyConfig) -> pd.DataFrame:
    """Calls, tokens and cost grouped by `by`, with a cost column per configured currency."""
    if frame.empty:
        columns = [*by, "calls", "cache_hits", "input_tokens", "output_tokens", "cost_usd"]
        return pd.DataFrame(columns=columns + [f"cost_{c.lower()}" for c in currency.rates])
    paid = frame.assign(
        paid_calls=~frame["cache_hit"].astype(bool),
        paid_input=frame["input_tokens"].where(~frame["cache_hit"].astype(bool), 0),
        paid_output=frame["output_tokens"].where(~frame["cache_hit"].astype(bool), 0),
    )
    summary = (
        paid.groupby(by, dropna=False)
        .agg(
            calls=("paid_calls", "sum"),
            cache_hits=("cache_hit", "sum"),
            input_tokens=("paid_input", "sum"),
            output_tokens=("paid_output", "sum"),
            cost_usd=("cost_usd", "sum"),
        )
        .reset_index()
    )
    for code, rate in currency.rates.items():
        summary[f"cost_{code.lower()}"] = summary["cost_usd"] * rate
    return summary
