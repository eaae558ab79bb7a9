"""What a ticket's e-mail describes (`tables/situations.csv`): one value per fact, drawn by the
ticket's type and priority.

A row is a fact's value (`when,yesterday`) with a weight per type phrasing key (Incident,
Request, ...) and per priority level (low, medium, high); a missing column or empty cell is 1,
and the value's weight for a ticket is the product of its type's and its level's. No value
should belong to a single label: the text then hints at labels, as real tickets do, without
giving them away. `tags` are tags the situation earns (a recurring fault: Recurring Issue).
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ticket_assets.tables.phrases import PRIORITY_LEVELS
from ticket_assets.tables.reader import CsvRow, CsvTable
from ticket_assets.tables.sampling import Weighted

SITUATIONS_FILE = "situations.csv"
# The facts the offline e-mail writer reads, and the e-mail shapes it knows.
FACTS = (
    "shape",
    "flag",
    "intent",
    "when",
    "recurrence",
    "scope",
    "effect",
    "workaround",
    "deadline",
    "tried",
    "ask",
)
SHAPES = ("brief", "standard", "report", "forwarded")
# tried=own: the queue's own list of what was tried (its `tried` phrases, faults only).
OWN_TRIED = "own"


@dataclass(frozen=True)
class SituationValue:
    value: str
    type_weights: Mapping[str, float]  # by type phrasing key; missing: 1
    level_weights: Mapping[str, float]  # by priority level; missing: 1
    tags: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Situations:
    values: Mapping[str, tuple[SituationValue, ...]]  # fact -> its values, in file order

    @functools.cache  # noqa: B019 - a few (type, level) pairs per Tables, which live for a run
    def samplers(self, type_key: str, level: str) -> tuple[tuple[str, Weighted], ...]:
        return tuple(
            (
                fact,
                Weighted.of(
                    (
                        choice.value,
                        choice.type_weights.get(type_key, 1.0)
                        * choice.level_weights.get(level, 1.0),
                    )
                    for choice in choices
                ),
            )
            for fact, choices in self.values.items()
        )

    def draw(self, rng: random.Random, type_key: str, level: str) -> dict[str, str]:
        """fact -> value for one ticket; a fact whose values all weigh 0 here is absent."""
        return {
            fact: weighted.pick(rng)
            for fact, weighted in self.samplers(type_key, level)
            if weighted
        }

    def tags(self, facts: Mapping[str, str]) -> list[str]:
        found: list[str] = []
        for fact, value in facts.items():
            for choice in self.values.get(fact, ()):
                if choice.value == value:
                    found += choice.tags
        return found


def load_situations(
    directory: Path, type_keys: Sequence[str], vocabulary: frozenset[str]
) -> Situations:
    weight_columns = (*dict.fromkeys(type_keys), *PRIORITY_LEVELS)
    table = CsvTable.read(directory, SITUATIONS_FILE, ("fact", "value"), (*weight_columns, "tags"))
    values: dict[str, list[SituationValue]] = {}
    for row in table:
        fact = row.choice("fact", FACTS, "a fact the offline writer knows")
        value = row["value"]
        if fact == "shape" and value not in SHAPES:
            raise row.fail("value", f"{value!r} is not a shape; allowed: {', '.join(SHAPES)}")
        if any(known.value == value for known in values.get(fact, ())):
            raise row.fail("value", f"duplicate {fact} {value!r}")

        values.setdefault(fact, []).append(
            SituationValue(
                value=value,
                type_weights=_weights(row, type_keys),
                level_weights=_weights(row, PRIORITY_LEVELS),
                tags=row.tags("tags", vocabulary),
            )
        )
    for fact in FACTS:
        if fact not in values:
            raise table.error(f"no row for fact {fact!r}; every fact needs at least one value")
    return Situations({fact: tuple(choices) for fact, choices in values.items()})


def _weights(row: CsvRow, columns: Sequence[str]) -> dict[str, float]:
    """The row's weights in `columns`; an empty cell is left out (weight 1)."""
    return {column: row.weight(column) for column in columns if row.values.get(column, "").strip()}
