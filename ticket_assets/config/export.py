"""Sampled fields (your own columns) and the export's files."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator

from ticket_assets.config.base import StrictModel


class FieldConfig(StrictModel):
    """A sampled column: one value per ticket drawn from `table` (a CSV in tables_dir with a
    column named after the field and a `weight` column); with `given`, a row applies to the
    tickets whose values of those columns its cells list (ticket_assets/tables/fields.py)."""

    table: str
    given: tuple[str, ...] = ()

    @field_validator("given", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("table")
    @classmethod
    def _csv_file(cls, table: str) -> str:
        if not table.endswith(".csv") or Path(table).is_absolute() or ".." in Path(table).parts:
            raise ValueError(f"{table!r} must be a .csv file inside tables_dir")
        return table


EXPORT_FORMATS = ("parquet", "csv", "jsonl", "wide")


class ExportConfig(StrictModel):
    """The files the export writes (export.py): `formats`, and with `splits` each format
    again per split, stratified by queue and language."""

    formats: tuple[Literal["parquet", "csv", "jsonl", "wide"], ...] = ("parquet", "csv")
    splits: dict[str, float] = Field(default_factory=dict)
    version: str = "1"

    @field_validator("formats")
    @classmethod
    def _check_formats(cls, formats: tuple[str, ...]) -> tuple[str, ...]:
        if "parquet" not in formats:
            raise ValueError("must include parquet (the dataset card and the CLI read it)")
        if len(set(formats)) != len(formats):
            raise ValueError("lists a format twice")
        return formats

    @field_validator("splits")
    @classmethod
    def _check_splits(cls, splits: dict[str, float]) -> dict[str, float]:
        for name, share in splits.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(f"{name!r} is not a split name; use lower-case letters and _")
            if share <= 0:
                raise ValueError(f"share of {name} must be positive, got {share}")
        if splits and abs(sum(splits.values()) - 1) > 1e-6:
            raise ValueError(f"shares must add up to 1, got {sum(splits.values()):g}")
        return splits

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value
