"""Output types: what each column a node writes may hold, declared once per node.

Every node has `outputs`, a map from the columns it writes to one of four types:

- `Text`: non-empty text (optionally at most `max_length` characters);
- `Choice`: one value of a vocabulary (an enum);
- `Choices`: a list of `min_items`..`max_items` distinct values of a vocabulary;
- `Integer`: a whole number in `minimum`..`maximum`.

A vocabulary is listed where it is declared (with optional weights), read from a column of a
table in `tables/`, or (built-in nodes) one of the label sets `Tables` loads. A model is sent
it as the JSON schema's `enum`; its answers are matched to it tolerantly and unknown list
values dropped while `min_items` known ones remain (ticket_assets/tables/vocabulary.py). The pandera
rules (schema.py), the answer models of prompt-defined nodes, the offline provider's answers
for them and the export's columns all come from these declarations. Prompt files and plug-in
nodes write them as mappings, parsed by `parse_outputs`; built-in nodes use the classes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ticket_assets.config import ConfigError
from ticket_assets.tables import Tables
from ticket_assets.tables.fields import Vocabulary, read_vocabulary

COLUMN_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
TYPE_NAMES = ("string", "enum", "list", "integer")


@dataclass(frozen=True)
class Listed:
    """Values written out in the declaration, with weights (all 1 unless given)."""

    vocabulary: Vocabulary

    def resolve(self, tables: Tables) -> Vocabulary:
        return self.vocabulary


@dataclass(frozen=True)
class FromTable:
    """The values of `column` in `table` (a CSV in tables/), weighted by its `weight` column."""

    table: str
    column: str

    def resolve(self, tables: Tables) -> Vocabulary:
        return read_vocabulary(tables.directory, self.table, self.column)


@dataclass(frozen=True)
class Labels:
    """A label set of the loaded tables (`types`, `queues`, `tag_vocabulary`, ...)."""

    attribute: str

    def resolve(self, tables: Tables) -> Vocabulary:
        values = tuple(getattr(tables, self.attribute))
        return Vocabulary(values, (1.0,) * len(values))


Source = Listed | FromTable | Labels


@dataclass(frozen=True)
class Text:
    description: str = ""
    max_length: int | None = None
    examples: tuple[str, ...] = ()  # Jinja templates the offline provider answers with
    export: bool = True


@dataclass(frozen=True)
class Choice:
    values: Source
    description: str = ""
    export: bool = True


@dataclass(frozen=True)
class Choices:
    values: Source
    min_items: int
    max_items: int
    description: str = ""
    export: bool = True


@dataclass(frozen=True)
class Integer:
    minimum: int
    maximum: int
    description: str = ""
    export: bool = True


Output = Text | Choice | Choices | Integer

_KEYS = {
    "string": ("type", "description", "max_length", "examples", "export"),
    "enum": ("type", "description", "values", "export"),
    "list": ("type", "description", "values", "min", "max", "export"),
    "integer": ("type", "description", "min", "max", "export"),
}


def parse_outputs(raw: Any, where: str) -> dict[str, Output]:
    """Output declarations written as mappings (prompt files, plug-in nodes), checked.

    ```yaml
    urgency: {type: enum, values: [Low, Medium, High, Critical]}
    systems: {type: list, values: {table: tags.csv, column: tag}, min: 1, max: 3}
    users_affected: {type: integer, min: 1, max: 500}
    summary: {type: string, max_length: 200, examples: ["{{ product }} fails"]}
    ```
    """
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(f"{where}: outputs: expected a mapping of column names to types")
    return {
        str(name): _parse_output(str(name), spec, f"{where}: outputs.{name}")
        for name, spec in raw.items()
    }


def _parse_output(name: str, spec: Any, where: str) -> Output:
    if not COLUMN_NAME.fullmatch(name):
        raise ConfigError(f"{where}: not a column name; use lower-case letters, digits and _")
    if not isinstance(spec, Mapping) or spec.get("type") not in TYPE_NAMES:
        raise ConfigError(f"{where}: needs a type; allowed: {', '.join(TYPE_NAMES)}")
    kind = spec["type"]
    unknown = [key for key in spec if key not in _KEYS[kind]]
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r} for type {kind}; "
            f"allowed: {', '.join(_KEYS[kind])}"
        )
    description = str(spec.get("description", ""))
    export = spec.get("export", True)
    if not isinstance(export, bool):
        raise ConfigError(f"{where}: export must be true or false")
    if kind == "string":
        examples = spec.get("examples", [])
        if not isinstance(examples, list) or not all(isinstance(e, str) and e for e in examples):
            raise ConfigError(f"{where}: examples must be a list of non-empty texts")
        max_length = spec.get("max_length")
        if max_length is not None:
            max_length = _integer(max_length, f"{where}: max_length", minimum=1)
        return Text(description, max_length, tuple(examples), export)
    if kind == "integer":
        low = _integer(spec.get("min"), f"{where}: min")
        high = _integer(spec.get("max"), f"{where}: max")
        if low > high:
            raise ConfigError(f"{where}: min ({low}) must not exceed max ({high})")
        return Integer(low, high, description, export)
    values = _source(name, spec.get("values"), f"{where}: values")
    if kind == "enum":
        return Choice(values, description, export)
    low = _integer(spec.get("min", 1), f"{where}: min", minimum=0)
    high = _integer(spec.get("max"), f"{where}: max", minimum=1)
    if low > high:
        raise ConfigError(f"{where}: min ({low}) must not exceed max ({high})")
    if isinstance(values, Listed) and high > len(values.vocabulary.values):
        raise ConfigError(
            f"{where}: max ({high}) exceeds the {len(values.vocabulary.values)} values listed"
        )
    return Choices(values, low, high, description, export)


def _integer(value: Any, where: str, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ConfigError(f"{where}: must be at least {minimum}, got {value}")
    return value


def _source(name: str, raw: Any, where: str) -> Source:
    """[a, b], {a: 3, b: 1} (weights for the offline provider) or {table: x.csv, column: y}."""
    if (
        isinstance(raw, Mapping)
        and "table" in raw
        and all(isinstance(v, str) for v in raw.values())
    ):
        unknown = set(raw) - {"table", "column"}
        if unknown:
            raise ConfigError(
                f"{where}: unknown key {sorted(unknown)[0]!r}; allowed: table, column"
            )
        return FromTable(raw["table"], raw.get("column", name))
    if isinstance(raw, list):
        raw = dict.fromkeys(raw, 1.0) if len(set(map(str, raw))) == len(raw) else None
        if raw is None:
            raise ConfigError(f"{where}: lists a value twice")
    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError(
            f"{where}: expected a list of values, a map of values to weights, "
            "or {table: <file>.csv, column: <column>}"
        )
    values, weights = [], []
    for value, weight in raw.items():
        if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
            raise ConfigError(f"{where}: {value!r} is not a text value")
        if isinstance(weight, bool) or not isinstance(weight, int | float) or weight < 0:
            raise ConfigError(f"{where}: weight of {value!r} must be a number >= 0")
        values.append(str(value).strip())
        weights.append(float(weight))
    if sum(weights) <= 0:
        raise ConfigError(f"{where}: at least one weight must be positive")
    return Listed(Vocabulary(tuple(values), tuple(weights)))
