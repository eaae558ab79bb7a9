"""All quality checks over the dataset (the registry's, quality/registry.py), the rows they
leave out of the export, and the report that the export writes as quality.json (read by the
quality_report asset and the CLI).

Row checks (language, duplicates, leaks, fidelity) measure every generated row; what the
configuration says to drop (language: drop or regenerate; duplicates: drop) is then left out
of the export, never out of the node tables; label balance is measured on what is exported.
"""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pandas as pd

from ticket_assets.config import QualityConfig
from ticket_assets.core.files import atomic_write
from ticket_assets.core.progress import Stages
from ticket_assets.quality.registry import (
    CHECKS,
    CheckData,
    QualityCheck,
    QualityInputs,
    Verdict,
)
from ticket_assets.quality.result import CheckResult

__all__ = ["QUALITY_FILE", "QualityInputs", "QualityReport", "assess", "check_order"]

QUALITY_FILE = "quality.json"
# Below this many rows, starting a worker process costs more than running beside saves.
WORKER_MIN_ROWS = 2000


@dataclass(frozen=True)
class QualityReport:
    checks: tuple[CheckResult, ...]
    generated_rows: int
    exported_rows: int
    dropped: Mapping[str, int]  # check name -> rows it left out of the export

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def failed(self) -> list[str]:
        return [check.name for check in self.checks if not check.passed]

    def check(self, name: str) -> CheckResult | None:
        return next((check for check in self.checks if check.name == name), None)

    def dropped_line(self) -> str:
        if not any(self.dropped.values()):
            return "No rows were left out of the export."
        parts = ", ".join(f"{count} by {name}" for name, count in self.dropped.items() if count)
        return (
            f"{self.generated_rows - self.exported_rows} of {self.generated_rows} generated rows "
            f"were left out of the export ({parts}); the node tables keep them."
        )

    def summary_table(self) -> pd.DataFrame:
        return pd.DataFrame(
            [
                {
                    "check": check.title,
                    "result": "passed" if check.passed else "FAILED",
                    "figures": check.headline,
                }
                for check in self.checks
            ],
            columns=["check", "result", "figures"],
        )

    def markdown(self) -> str:
        details = "\n\n".join(check.markdown() for check in self.checks)
        table = self.summary_table().to_markdown(index=False)
        return f"{table}\n\n{self.dropped_line()}\n\n{details}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "generated_rows": self.generated_rows,
            "exported_rows": self.exported_rows,
            "dropped": dict(self.dropped),
            "checks": [check.to_dict() for check in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> QualityReport:
        return cls(
            checks=tuple(CheckResult.from_dict(check) for check in data["checks"]),
            generated_rows=data["generated_rows"],
            exported_rows=data["exported_rows"],
            dropped=data["dropped"],
        )

    def write(self, path: Path) -> None:
        text = json.dumps(self.to_dict(), indent=2, ensure_ascii=False, default=str)
        atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))

    @classmethod
    def read(cls, path: Path) -> QualityReport:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))


def check_order(config: QualityConfig, rows: int) -> list[QualityCheck]:
    """The order in which `assess` runs the checks over `rows` rows: those of the generated
    rows in registry order, then those of the export, then the ones in a worker process
    (their results are collected last: they leave nothing out, so nothing waits for them)."""
    beside = [check for check in CHECKS if _in_worker(check, config, rows)]
    own = [check for check in CHECKS if check not in beside]
    return sorted(own, key=lambda check: check.measures != "generated") + beside


def _in_worker(check: QualityCheck, config: QualityConfig, rows: int) -> bool:
    return (
        check.in_worker
        and rows >= WORKER_MIN_ROWS
        and not check.leaves_out(getattr(config, check.section))
    )


def _worker(needed: bool) -> AbstractContextManager[ProcessPoolExecutor | None]:
    # spawn, not fork: the parent has threads (Dagster's, DuckDB's) that a fork would copy
    # half-way.
    if not needed:
        return nullcontext()
    return ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))


def assess(
    rows: pd.DataFrame, config: QualityConfig, inputs: QualityInputs, stages: Stages | None = None
) -> tuple[pd.DataFrame, QualityReport]:
    """Run every check of the registry over `rows` (the dataset, sorted by ticket id); return
    the rows to export and the report. Checks of the generated rows run first, in registry
    order, each knowing what the ones before it leave out; then the checks of the export.
    A check marked `in_worker` that leaves nothing out runs in a worker process meanwhile
    (check_order)."""
    rows = rows.reset_index(drop=True)
    verdicts: dict[str, Verdict | None] = {}
    left_out: dict[str, None] = {}  # ticket ids, in the order they were dropped
    order = check_order(config, len(rows))
    beside = [check for check in order if _in_worker(check, config, len(rows))]
    with _worker(bool(beside)) as pool:
        pending = {
            check.name: pool.submit(
                check.function, CheckData(rows, inputs), getattr(config, check.section)
            )
            for check in (beside if pool is not None else ())
        }
        for check in order:
            if check.measures != "generated" or check.name in pending:
                continue
            if stages is not None:
                stages.start(check.title)
            data = CheckData(rows, inputs, frozenset(left_out))
            verdicts[check.name] = verdict = check.function(data, getattr(config, check.section))
            if verdict is not None:
                left_out.update(dict.fromkeys(verdict.drop))
        exported = rows[~rows["ticket_id"].isin(list(left_out))].reset_index(drop=True)
        for check in order:
            if check.measures != "exported" or check.name in pending:
                continue
            if stages is not None:
                stages.start(check.title)
            data = CheckData(exported, inputs)
            verdicts[check.name] = check.function(data, getattr(config, check.section))
        for check in beside:
            if stages is not None:
                stages.start(check.title)
            verdicts[check.name] = pending[check.name].result()
    report = QualityReport(
        checks=tuple(
            replace(verdict.result, name=check.name, title=check.title)
            for check in CHECKS
            if (verdict := verdicts.get(check.name)) is not None
        ),
        generated_rows=len(rows),
        exported_rows=len(exported),
        dropped={
            check.name: len(verdict.drop) if (verdict := verdicts.get(check.name)) else 0
            for check in CHECKS
            if check.drops
        },
    )
    return exported, report
