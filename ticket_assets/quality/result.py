"""What every quality check returns: a verdict, its figures, and the rows it points at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

# Offending rows (or clusters, or classes) shown in check metadata and the dataset card.
SAMPLE_ROWS = 10
SNIPPET_CHARS = 80


def snippet(text: object, limit: int = SNIPPET_CHARS) -> str:
    """One line of at most `limit` characters, for tables."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def percent(rate: float) -> str:
    return f"{rate * 100:.2f} %"


@dataclass(frozen=True, kw_only=True)
class CheckResult:
    """One check over the dataset. `flagged` are the ticket ids it points at (mismatched,
    duplicated, leaking or unfaithful rows); `samples` shows some of them with the reason.
    `name` and `title` are the check's entry in quality/registry.py (set when it is run)."""

    passed: bool
    summary: str  # one sentence with the figures that decided it
    headline: str  # the key figure in a few words, for the CLI
    figures: Mapping[str, float | int]
    flagged: tuple[str, ...] = ()
    samples: pd.DataFrame = field(default_factory=pd.DataFrame)
    name: str = ""
    title: str = ""

    def markdown(self) -> str:
        verdict = "passed" if self.passed else "FAILED"
        text = f"**{self.title}: {verdict}.** {self.summary}"
        if not self.samples.empty:
            text += "\n\n" + self.samples.to_markdown(index=False)
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the samples as records (the figures count the flagged rows)."""
        return {
            "name": self.name,
            "title": self.title,
            "passed": self.passed,
            "summary": self.summary,
            "headline": self.headline,
            "figures": dict(self.figures),
            "samples": self.samples.to_dict("records"),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CheckResult:
        return cls(
            name=data["name"],
            title=data["title"],
            passed=data["passed"],
            summary=data["summary"],
            headline=data["headline"],
            figures=data["figures"],
            samples=pd.DataFrame.from_records(data["samples"]),
        )
