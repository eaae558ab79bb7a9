"""All quality checks over the dataset, the rows they leave out of the export, and the
report that the export writes as quality.json (read by the quality_report asset and the CLI).

Row checks (language, duplicates, leaks, fidelity) measure every generated row; what the
configuration says to drop (language: drop or regenerate; duplicates: drop) is then left out
of the export, never out of the node tables; label balance is measured on what is exported.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ticket_assets.config import QualityConfig
from ticket_assets.export import atomic_write
from ticket_assets.quality.balance import check_label_balance
from ticket_assets.quality.duplicates import Cluster, check_duplicates, find_clusters
from ticket_assets.quality.fidelity import Kind, check_fidelity
from ticket_assets.quality.language import check_language
from ticket_assets.quality.leaks import check_leaks
from ticket_assets.quality.result import CheckResult

QUALITY_FILE = "quality.json"
# Check names in report order; fidelity checks only where the pipeline rewrites text.
CHECK_ORDER = (
    "language",
    "duplicates",
    "label_balance",
    "paraphrase_fidelity",
    "translate_fidelity",
    "leaks",
)


@dataclass(frozen=True)
class QualityInputs:
    """What the checks compare against: the configured class shares, and for each rewriting
    node (paraphrase, translate) the pairs of source and rewritten text (fidelity.py)."""

    expected: Mapping[str, Mapping[str, float]]
    rewritten: Mapping[Kind, pd.DataFrame] = field(default_factory=dict)


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


def _duplicates_to_drop(
    rows: pd.DataFrame, clusters: list[Cluster], already: set[str]
) -> list[str]:
    """Every member of a cluster but the first one that is still exported."""
    ids = rows["ticket_id"].tolist()
    dropped = []
    for cluster in clusters:
        kept = [ids[p] for p in cluster.positions if ids[p] not in already]
        dropped += kept[1:]
    return dropped


def assess(
    rows: pd.DataFrame, config: QualityConfig, inputs: QualityInputs
) -> tuple[pd.DataFrame, QualityReport]:
    """Run every check over `rows` (the dataset, sorted by ticket id); return the rows to
    export and the report."""
    rows = rows.reset_index(drop=True)
    language = check_language(rows, config.language)
    clusters = find_clusters(rows, config.duplicates.near_threshold)
    duplicates = check_duplicates(rows, config.duplicates, clusters)
    in_dataset = set(rows["ticket_id"])
    fidelity = [
        check_fidelity(pairs[pairs["ticket_id"].isin(in_dataset)], kind, config.fidelity)
        for kind, pairs in inputs.rewritten.items()
    ]
    leaks = check_leaks(rows, config.leaks)

    dropped: dict[str, list[str]] = {"language": [], "duplicates": []}
    if config.language.action in ("drop", "regenerate"):
        dropped["language"] = list(language.flagged)
    if config.duplicates.action == "drop":
        dropped["duplicates"] = _duplicates_to_drop(rows, clusters, set(dropped["language"]))
    left_out = {ticket for ids in dropped.values() for ticket in ids}
    exported = rows[~rows["ticket_id"].isin(left_out)].reset_index(drop=True)

    balance = check_label_balance(exported, inputs.expected, config.label_balance)
    by_name = {check.name: check for check in (language, duplicates, balance, leaks, *fidelity)}
    report = QualityReport(
        checks=tuple(by_name[name] for name in CHECK_ORDER if name in by_name),
        generated_rows=len(rows),
        exported_rows=len(exported),
        dropped={name: len(ids) for name, ids in dropped.items()},
    )
    return exported, report
