"""Reading the files of `tables/`: CSV tables and YAML documents, with errors that name the file,
the line and the column (`TablesError`, one line each).

CSV files have a header row; blank lines are skipped; lists inside a cell are `;`-separated,
weights are numbers >= 0. `CsvRow` checks one cell at a time (a label, a weight, a choice among
allowed labels, tags of tags.csv) and fails naming its file, line and column.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ANY = "*"

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class TablesError(ValueError):
    """A problem in the tables directory, as one line naming the file, line/column and the fix."""


@dataclass(frozen=True)
class CsvRow:
    source: Path
    line: int
    values: Mapping[str, str]

    def fail(self, column: str, message: str) -> TablesError:
        return TablesError(f"{self.source}: line {self.line}, column {column}: {message}")

    def __getitem__(self, column: str) -> str:
        value = self.values.get(column, "").strip()
        if not value:
            raise self.fail(column, "must not be empty")
        return value

    def weight(self, column: str) -> float:
        raw = self.values.get(column, "").strip()
        try:
            value = float(raw)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise self.fail(column, f"weight {raw!r} must be a number >= 0")
        return value

    def choice(self, column: str, allowed: Sequence[str], what: str) -> str:
        value = self[column]
        if value not in allowed:
            raise self.fail(column, f"{value!r} is not {what}; allowed: {', '.join(allowed)}")
        return value

    def choices(
        self,
        column: str,
        allowed: Sequence[str],
        what: str,
        *,
        required: bool = False,
        wildcard: bool = False,
    ) -> tuple[str, ...]:
        """A ';'-separated list of allowed labels; empty (or '*' where allowed) means all."""
        raw = self.values.get(column, "").strip()
        if wildcard and raw == ANY:
            return ()
        values = tuple(part.strip() for part in raw.split(";") if part.strip())
        if required and not values:
            raise self.fail(column, f"must list at least one ({', '.join(allowed)})")
        for value in values:
            if value not in allowed:
                raise self.fail(column, f"{value!r} is not {what}; allowed: {', '.join(allowed)}")
        if len(set(values)) != len(values):
            raise self.fail(column, "lists a value twice")
        return values

    def tags(self, column: str, vocabulary: frozenset[str]) -> tuple[str, ...]:
        values = tuple(part.strip() for part in self.values.get(column, "").split(";"))
        for value in values:
            if value and value not in vocabulary:
                raise self.fail(column, f"tag {value!r} is not in tags.csv; add it there first")
        return tuple(value for value in dict.fromkeys(values) if value)


@dataclass(frozen=True)
class CsvTable:
    path: Path
    header: tuple[str, ...]
    rows: tuple[CsvRow, ...]

    @classmethod
    def read(
        cls,
        directory: Path,
        name: str,
        required: Sequence[str],
        optional: Sequence[str] = (),
        *,
        extra_columns: bool = False,
    ) -> CsvTable:
        path = directory / name
        expected = ", ".join([*required, *(f"{column} (optional)" for column in optional)])
        try:
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise TablesError(f"{path}: file not found; expected columns: {expected}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise TablesError(f"{path}: cannot read as UTF-8 text: {error}") from None
        reader = csv.reader(io.StringIO(text))
        try:
            header = tuple(cell.strip() for cell in next(reader, []))
            if not any(header):
                raise TablesError(f"{path}: empty file; expected columns: {expected}")
            for column in header:
                if not column or header.count(column) > 1:
                    raise TablesError(f"{path}: line 1: empty or repeated column {column!r}")
            for column in required:
                if column not in header:
                    raise TablesError(f"{path}: missing column {column!r}; expected: {expected}")
            if not extra_columns:
                for column in header:
                    if column not in required and column not in optional:
                        raise TablesError(
                            f"{path}: line 1: unknown column {column!r}; allowed: {expected}"
                        )
            rows = []
            for cells in reader:
                if not any(cell.strip() for cell in cells):
                    continue
                if len(cells) != len(header):
                    raise TablesError(
                        f"{path}: line {reader.line_num}: has {len(cells)} cells but the header "
                        f"has {len(header)} (quote values that contain commas)"
                    )
                rows.append(CsvRow(path, reader.line_num, dict(zip(header, cells, strict=True))))
        except csv.Error as error:
            raise TablesError(f"{path}: line {reader.line_num}: not valid CSV: {error}") from None
        if not rows:
            raise TablesError(f"{path}: has no rows")
        return cls(path, header, tuple(rows))

    def __iter__(self) -> Iterator[CsvRow]:
        return iter(self.rows)

    def error(self, message: str) -> TablesError:
        return TablesError(f"{self.path}: {message}")


def unique_labels(table: CsvTable, column: str) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    for row in table:
        label = row[column]
        if label in seen:
            raise row.fail(column, f"duplicate {label!r} (first on line {seen[label]})")
        seen[label] = row.line
    return tuple(seen)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TablesError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TablesError(f"{path}: cannot read as UTF-8 text: {error}") from None
    try:
        return yaml.load(text, Loader=_YAML_LOADER)  # a safe loader (the C one when built)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark is not None else ""
        problem = getattr(error, "problem", None) or "syntax error"
        raise TablesError(f"{path}: {where}not valid YAML: {problem}") from None


def weighted_choices(
    row: CsvRow, column: str, allowed: Sequence[str], what: str
) -> dict[str, float]:
    """A ';'-separated list of `label:weight` (weight 0-1, default 0.5) of allowed labels."""
    chosen: dict[str, float] = {}
    for part in row.values.get(column, "").split(";"):
        label, _, raw = part.strip().partition(":")
        label = label.strip()
        if not label:
            continue
        if label not in allowed:
            raise row.fail(column, f"{label!r} is not {what}; allowed: {', '.join(allowed)}")
        try:
            weight = float(raw) if raw.strip() else 0.5
        except ValueError:
            weight = -1.0
        if not 0 <= weight <= 1:
            raise row.fail(column, f"{part.strip()!r}: the weight after ':' must be 0-1")
        chosen[label] = weight
    return chosen
