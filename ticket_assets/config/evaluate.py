"""`evaluate:`: how `python -m ticket_assets evaluate --real FILE` reads a user's own labelled
tickets (quality/evaluation.py). Flags (`--column`, `--labels`) override these settings."""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator

from ticket_assets.config.base import StrictModel

# The labels a classifier is trained on, and every column of ours a user's file can map.
EVALUATE_LABELS = ("type", "priority", "queue")
EVALUATE_COLUMNS = ("subject", "body", "language", *EVALUATE_LABELS)


def check_column_names(columns: dict[str, str]) -> dict[str, str]:
    """`columns` (ours -> theirs) if every key is one of ours; ValueError naming the first
    that is not."""
    for ours, theirs in columns.items():
        if ours not in EVALUATE_COLUMNS:
            raise ValueError(
                f"{ours!r} is not a column of the tickets; allowed: {', '.join(EVALUATE_COLUMNS)}"
            )
        if not str(theirs).strip():
            raise ValueError(f"{ours}: the column name in your file is empty")
    return columns


def check_label_names(labels: tuple[str, ...]) -> tuple[str, ...]:
    """`labels` if each is one the classifier can learn; ValueError otherwise."""
    if not labels:
        raise ValueError(f"name at least one label; allowed: {', '.join(EVALUATE_LABELS)}")
    for label in labels:
        if label not in EVALUATE_LABELS:
            raise ValueError(f"{label!r} is not a label; allowed: {', '.join(EVALUATE_LABELS)}")
    return labels


class EvaluateConfig(StrictModel):
    """`columns`: our column -> the column of that meaning in your file (e.g. `body: text`;
    columns named like ours need no entry). `labels`: the labels to compare (default: those
    of type, priority, queue found in both files)."""

    columns: dict[str, str] = Field(default_factory=dict)
    labels: tuple[str, ...] | None = None

    @field_validator("columns")
    @classmethod
    def _check_columns(cls, columns: dict[str, str]) -> dict[str, str]:
        return check_column_names(columns)

    @field_validator("labels", mode="before")
    @classmethod
    def _check_labels(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return None if value is None else check_label_names(tuple(value))
