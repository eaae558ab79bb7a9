"""Your own tables: sampled fields (config `fields`) and value lists for prompt-defined nodes.

A **field table** is a CSV in `tables_dir` with a column named after each field drawn from it,
a `weight` column, and one column per `given` ticket column. A row applies to a ticket when,
for every given column, its cell is empty or lists the ticket's value (`;`-separated). One
applying row is drawn by weight; fields of the same table with the same `given` take their
values from that one row, so they fit together (a regional variant and its formality).
Draws are seeded by (seed, ticket id, table, given), so adding a field never changes the
values of the others, and the same seed gives the same values in any process.

A **vocabulary** is the list of values of one column of any table, with the summed `weight`
of each value where the table has that column: what a prompt-defined node's enum or list
may answer, and how often the offline provider answers it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticket_assets.config import SUPPORTED_LANGUAGES
from ticket_assets.core.randomness import stable_rng
from ticket_assets.tables.reader import CsvTable, TablesError
from ticket_assets.tables.sampling import Weighted
from ticket_assets.tables.taxonomy import Tables

WEIGHT_COLUMN = "weight"
# Ticket columns a field may be given, besides earlier fields, with the Tables labels they take.
LABEL_DOMAINS = {
    "type": "types",
    "queue": "queues",
    "priority": "priorities",
    "business_type": "business_types",
    "product": "products",
    "persona": "personas",
    "tone": "tones",
}
GIVEN_COLUMNS = ("language", *LABEL_DOMAINS)


@dataclass(frozen=True)
class Vocabulary:
    """Allowed values, and their relative weights for the offline provider."""

    values: tuple[str, ...]
    weights: tuple[float, ...]

    def weighted(self) -> Weighted:
        return Weighted.of(zip(self.values, self.weights, strict=True))


@functools.cache
def read_vocabulary(directory: Path, table: str, column: str) -> Vocabulary:
    """The distinct values of `column` in `table`, weighted by its `weight` column if any."""
    rows = CsvTable.read(directory, table, (column,), extra_columns=True)
    weights: dict[str, float] = {}
    for row in rows:
        weight = row.weight(WEIGHT_COLUMN) if WEIGHT_COLUMN in rows.header else 1.0
        weights[row[column]] = weights.get(row[column], 0.0) + weight
    return Vocabulary(tuple(weights), tuple(weights.values()))


@dataclass(frozen=True, eq=False)
class _Draw:
    """The fields drawn together from one row of one table."""

    table: str
    given: tuple[str, ...]
    rows: tuple[dict[str, str], ...]  # field values of each row
    conditions: tuple[tuple[frozenset[str], ...], ...]  # per row, per given: allowed (empty: any)
    weights: tuple[float, ...]
    path: Path
    _by_key: dict[tuple[str, ...], Weighted] = field(default_factory=dict, repr=False)

    def pick(self, seed: int, ticket: Mapping[str, Any]) -> dict[str, str]:
        key = tuple(str(ticket[column]) for column in self.given)
        weighted = self._by_key.get(key)
        if weighted is None:
            weighted = self._by_key[key] = self._applying(key)
        rng = stable_rng(seed, ticket["ticket_id"], "field", self.table, *self.given)
        return self.rows[int(weighted.pick(rng))]

    def _applying(self, key: tuple[str, ...]) -> Weighted:
        weighted = Weighted.of(
            (str(index), weight)
            for index, (allowed, weight) in enumerate(
                zip(self.conditions, self.weights, strict=True)
            )
            if all(
                not values or value in values for values, value in zip(allowed, key, strict=True)
            )
        )
        if not weighted:
            ticket = ", ".join(f"{c} {v!r}" for c, v in zip(self.given, key, strict=True))
            raise TablesError(
                f"{self.path}: no row with a positive weight applies to a ticket with {ticket}"
            )
        return weighted


@dataclass(frozen=True)
class SampledFields:
    """The configured fields, drawn per ticket after the built-in labels."""

    names: tuple[str, ...]
    draws: tuple[_Draw, ...]
    vocabularies: Mapping[str, Vocabulary]

    def draw(self, seed: int, ticket: Mapping[str, Any]) -> dict[str, str]:
        """Every field's value for one ticket (`ticket` holds its id and built-in labels)."""
        known = dict(ticket)
        drawn: dict[str, str] = {}
        for group in self.draws:
            values = group.pick(seed, known)
            known.update(values)
            drawn.update(values)
        return {name: drawn[name] for name in self.names}


def load_fields(
    tables: Tables, fields: Sequence[tuple[str, str, tuple[str, ...]]], languages: Sequence[str]
) -> SampledFields:
    """Read and check the tables of `fields` ((name, table, given) in config order)."""
    return _load_fields(tables, tuple(fields), tuple(languages))


@functools.cache
def _load_fields(
    tables: Tables, fields: tuple[tuple[str, str, tuple[str, ...]], ...], languages: tuple[str, ...]
) -> SampledFields:
    # Values a given cell may list; every configured language needs a row, others may have one.
    domains: dict[str, tuple[str, ...]] = {"language": tuple(SUPPORTED_LANGUAGES)}
    domains.update({column: tuple(getattr(tables, name)) for column, name in LABEL_DOMAINS.items()})
    covered = {**domains, "language": languages}
    groups: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    for name, table, given in fields:
        groups.setdefault((table, given), []).append(name)
    draws = []
    vocabularies: dict[str, Vocabulary] = {}
    for (table, given), names in groups.items():
        draw = _read_draw(tables.directory, table, given, tuple(names), domains, covered)
        draws.append(draw)
        for name in names:
            values = tuple(dict.fromkeys(row[name] for row in draw.rows))
            domains[name] = covered[name] = values
            vocabularies[name] = read_vocabulary(tables.directory, table, name)
    return SampledFields(tuple(name for name, _, _ in fields), tuple(draws), vocabularies)


def _read_draw(
    directory: Path,
    table: str,
    given: tuple[str, ...],
    names: tuple[str, ...],
    domains: Mapping[str, Sequence[str]],
    covered: Mapping[str, Sequence[str]],
) -> _Draw:
    rows = CsvTable.read(directory, table, (*names, WEIGHT_COLUMN, *given), extra_columns=True)
    values, conditions, weights = [], [], []
    for row in rows:
        values.append({name: row[name] for name in names})
        allowed = []
        for column in given:
            domain = domains[column]
            allowed.append(frozenset(row.choices(column, domain, f"a {column}")))
        conditions.append(tuple(allowed))
        weights.append(row.weight(WEIGHT_COLUMN))
    draw = _Draw(table, given, tuple(values), tuple(conditions), tuple(weights), rows.path)
    for index, column in enumerate(given):
        for value in covered[column]:
            if not any(
                weight > 0 and (not allowed[index] or value in allowed[index])
                for allowed, weight in zip(draw.conditions, draw.weights, strict=True)
            ):
                raise rows.error(
                    f"no row with a positive weight applies to {column} {value!r}; "
                    f"every {column} needs one (an empty {column} cell applies to all)"
                )
    return draw
