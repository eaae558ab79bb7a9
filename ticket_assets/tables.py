"""Randomization tables: load and validate `tables/`, and sample the labels of one ticket.

The taxonomy (types, queues, priorities, topics, products, tags, personas, tones, names) and
the offline provider's phrase banks are data files, so users change them without touching
code; tables/README.md documents every file. `Tables.load` checks everything up front and
reports a problem as one line naming the file, the line and the column. Sampling draws from
precomputed cumulative weights, so one ticket costs a handful of bisects.
"""

from __future__ import annotations

import bisect
import csv
import functools
import io
import math
import random
import string
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ticket_assets.vocabulary import match_key

ANY = "*"
OFFLINE_DIR = "offline"
REFERENCE_LANGUAGE = "EN"
# Phrase banks word priorities by level; priorities.csv lists labels from least to most urgent.
PRIORITY_LEVELS = ("low", "medium", "high")
# Sections of a phrase bank whose keys may differ between languages (missing topics fall back
# to the queue's generic phrasing), every other section must mirror the reference language.
PARTIAL_SECTIONS = frozenset({"topics"})
NAME_KEYS = ("customer_first", "customer_last", "agent_first", "agent_last")
TAG_FIELDS = ("type", "queue", "priority", "any")
TAG_SYNONYMS = "tag_synonyms.csv"  # optional: what models write -> a tag of tags.csv

_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_FORMATTER = string.Formatter()


class TablesError(ValueError):
    """A problem in the tables directory, as one line naming the file, line/column and the fix."""


@dataclass(frozen=True)
class Weighted:
    """Labels with cumulative weights; zero-weight labels are left out so they are never drawn."""

    items: tuple[str, ...]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, weights: Iterable[tuple[str, float]]) -> Weighted:
        items: list[str] = []
        cumulative: list[float] = []
        total = 0.0
        for item, weight in weights:
            if weight > 0:
                total += weight
                items.append(item)
                cumulative.append(total)
        return cls(tuple(items), tuple(cumulative))

    def __bool__(self) -> bool:
        return bool(self.items)

    def pick(self, rng: random.Random) -> str:
        point = rng.random() * self.cumulative[-1]
        # `hi` guards against rounding pushing the point onto the total.
        return self.items[bisect.bisect_right(self.cumulative, point, 0, len(self.items) - 1)]

    def shares(self) -> dict[str, float]:
        """Each label's probability of being drawn."""
        total = self.cumulative[-1]
        previous = (0.0, *self.cumulative[:-1])
        return {
            item: (upper - lower) / total
            for item, lower, upper in zip(self.items, previous, self.cumulative, strict=True)
        }

    def scaled(self, factors: Mapping[str, float]) -> Weighted:
        """The same labels with each weight multiplied by its factor (1 where none is given)."""
        return Weighted.of(
            (item, share * factors.get(item, 1.0)) for item, share in self.shares().items()
        )


@dataclass(frozen=True)
class Product:
    name: str
    kinds: tuple[str, ...]
    business_types: tuple[str, ...]  # empty: any business type
    weight: float
    tags: tuple[str, ...]


@dataclass(frozen=True)
class Topic:
    name: str
    queue: str
    types: tuple[str, ...]  # empty: any type
    product_kinds: tuple[str, ...]  # empty: fits any product
    weight: float
    tags: tuple[str, ...]


@dataclass(frozen=True)
class TagAssociation:
    tags: tuple[str, ...]
    weight: float  # how strongly a ticket with this label draws these tags


@dataclass(frozen=True)
class _Sampling:
    type: Weighted
    queue_by_type: Mapping[str, Weighted]
    priority_by_queue: Mapping[str, Weighted]
    business_type: Weighted
    product_by_business_queue: Mapping[tuple[str, str], Weighted]
    persona_by_queue: Mapping[str, Weighted]
    tone_by_priority: Mapping[str, Weighted]
    topics_by_queue_type: Mapping[tuple[str, str], tuple[str, ...]]
    names: Mapping[str, tuple[tuple[str, ...], ...]]


# eq=False keeps identity hashing, so a Tables object can be an argument of cached functions.
@dataclass(frozen=True, eq=False)
class Tables:
    """The loaded, validated tables. Build with `Tables.load(directory)`."""

    directory: Path
    types: tuple[str, ...]
    queues: tuple[str, ...]
    priorities: tuple[str, ...]
    tag_vocabulary: tuple[str, ...]
    tag_synonyms: Mapping[str, str]  # synonym -> tag (tag_synonyms.csv), see vocabulary.py
    business_types: tuple[str, ...]
    personas: tuple[str, ...]
    tones: tuple[str, ...]
    languages: tuple[str, ...]  # languages with names (names.yaml)
    products: Mapping[str, Product]
    topics: Mapping[str, Topic]
    type_phrasing: Mapping[str, str]
    queue_phrasing: Mapping[str, str]
    tone_phrasing: Mapping[str, str]
    priority_levels: Mapping[str, str]  # priority label -> one of PRIORITY_LEVELS
    tag_associations: Mapping[str, Mapping[str, TagAssociation]]  # field -> value -> tags
    phrases: Mapping[str, Mapping[str, Any]]  # language -> phrase bank (tables/offline)
    _sampling: _Sampling = field(repr=False)

    @classmethod
    def load(cls, directory: Path) -> Tables:
        """Read and validate every table under `directory`; TablesError on the first problem."""
        directory = Path(directory)
        if not directory.is_dir():
            raise TablesError(f"{directory}: tables directory not found")
        phrases = _load_phrase_banks(directory / OFFLINE_DIR)
        reference = _reference_bank(phrases)

        type_rows = CsvTable.read(directory, "types.csv", ("type", "weight"), ("phrasing",))
        types = unique_labels(type_rows, "type")
        type_weights = {row["type"]: row.weight("weight") for row in type_rows}
        _require_positive_total(type_rows, "weight", type_weights.values())
        type_phrasing = _phrasing(type_rows, "type", reference, "types")

        queue_rows = CsvTable.read(directory, "queues.csv", ("queue", *types), ("phrasing",))
        queues = unique_labels(queue_rows, "queue")
        queue_phrasing = _phrasing(queue_rows, "queue", reference, "queues")
        queue_by_type = {}
        for type_ in types:
            weights = [(row["queue"], row.weight(type_)) for row in queue_rows]
            _require_positive_total(queue_rows, type_, (weight for _, weight in weights))
            queue_by_type[type_] = Weighted.of(weights)

        priority_rows = CsvTable.read(directory, "priorities.csv", ("queue",), extra_columns=True)
        priorities = tuple(name for name in priority_rows.header if name != "queue")
        if not priorities:
            raise priority_rows.error("needs one column per priority after 'queue'")
        priority_by_queue = {}
        for row in priority_rows:
            queue = row.choice("queue", queues, "a queue in queues.csv")
            if queue in priority_by_queue:
                raise row.fail("queue", f"duplicate {queue!r}")
            weights = [(name, row.weight(name)) for name in priorities]
            if sum(weight for _, weight in weights) <= 0:
                raise row.fail(priorities[-1], "the weights of a row must not all be 0")
            priority_by_queue[queue] = Weighted.of(weights)
        for queue in queues:
            if queue not in priority_by_queue:
                raise priority_rows.error(f"no row for queue {queue!r}; every queue needs one")

        tone_rows = CsvTable.read(directory, "tones.csv", ("tone", *priorities), ("phrasing",))
        tones = unique_labels(tone_rows, "tone")
        tone_phrasing = _phrasing(tone_rows, "tone", reference, "tones")
        tone_by_priority = {}
        for priority in priorities:
            weights = [(row["tone"], row.weight(priority)) for row in tone_rows]
            _require_positive_total(tone_rows, priority, (weight for _, weight in weights))
            tone_by_priority[priority] = Weighted.of(weights)

        business_rows = CsvTable.read(directory, "business_types.csv", ("business_type", "weight"))
        business_types = unique_labels(business_rows, "business_type")
        business_weights = [(row["business_type"], row.weight("weight")) for row in business_rows]
        _require_positive_total(business_rows, "weight", (w for _, w in business_weights))

        tag_rows = CsvTable.read(directory, "tags.csv", ("tag",), ("category",))
        tag_vocabulary = unique_labels(tag_rows, "tag")
        vocabulary = frozenset(tag_vocabulary)

        kind_rows = CsvTable.read(directory, "product_kinds.csv", ("kind", "queues"))
        kinds = unique_labels(kind_rows, "kind")
        kind_queues = {row["kind"]: row.choices("queues", queues, "a queue") for row in kind_rows}

        product_rows = CsvTable.read(
            directory, "products.csv", ("product", "kinds", "business_types", "weight"), ("tags",)
        )
        unique_labels(product_rows, "product")
        products = {
            row["product"]: Product(
                name=row["product"],
                kinds=row.choices("kinds", kinds, "a kind in product_kinds.csv", required=True),
                business_types=row.choices(
                    "business_types", business_types, "a business type", wildcard=True
                ),
                weight=row.weight("weight"),
                tags=row.tags("tags", vocabulary),
            )
            for row in product_rows
        }
        product_by_business_queue = _product_samplers(
            product_rows, products, queues, business_types, kind_queues
        )

        persona_rows = CsvTable.read(directory, "personas.csv", ("persona", "weight"), ("queues",))
        personas = unique_labels(persona_rows, "persona")
        persona_by_queue = {}
        for queue in queues:
            weights = [
                (row["persona"], row.weight("weight"))
                for row in persona_rows
                if queue in (row.choices("queues", queues, "a queue") or queues)
            ]
            persona_by_queue[queue] = Weighted.of(weights)
            if not persona_by_queue[queue]:
                raise persona_rows.error(f"no persona with a positive weight for queue {queue!r}")

        topic_rows = CsvTable.read(
            directory,
            "topics.csv",
            ("topic", "queue", "weight"),
            ("types", "product_kinds", "tags"),
        )
        unique_labels(topic_rows, "topic")
        topics = {
            row["topic"]: Topic(
                name=row["topic"],
                queue=row.choice("queue", queues, "a queue in queues.csv"),
                types=row.choices("types", types, "a type in types.csv"),
                product_kinds=row.choices("product_kinds", kinds, "a kind in product_kinds.csv"),
                weight=row.weight("weight"),
                tags=row.tags("tags", vocabulary),
            )
            for row in topic_rows
        }
        topics_by_queue_type = _topic_index(topic_rows, topics, queues, types)

        association_rows = CsvTable.read(
            directory, "tag_associations.csv", ("field", "value", "tags"), ("weight",)
        )
        allowed_values = {"type": types, "queue": queues, "priority": priorities, "any": ("",)}
        tag_associations: dict[str, dict[str, TagAssociation]] = {name: {} for name in TAG_FIELDS}
        for row in association_rows:
            field_name = row.choice("field", TAG_FIELDS, "a field")
            value = row.values.get("value", "").strip()
            if value not in allowed_values[field_name]:
                allowed = ", ".join(allowed_values[field_name]) or "(empty)"
                raise row.fail("value", f"{value!r} is not a {field_name}; allowed: {allowed}")
            if value in tag_associations[field_name]:
                raise row.fail("value", f"duplicate {field_name} {value!r}")
            tag_associations[field_name][value] = TagAssociation(
                tags=row.tags("tags", vocabulary),
                weight=row.weight("weight") if row.values.get("weight", "").strip() else 1.0,
            )

        names = _load_names(directory / "names.yaml")
        return cls(
            directory=directory,
            types=types,
            queues=queues,
            priorities=priorities,
            tag_vocabulary=tag_vocabulary,
            tag_synonyms=_load_tag_synonyms(directory, tag_vocabulary),
            business_types=business_types,
            personas=personas,
            tones=tones,
            languages=tuple(names),
            products=products,
            topics=topics,
            type_phrasing=type_phrasing,
            queue_phrasing=queue_phrasing,
            tone_phrasing=tone_phrasing,
            priority_levels=_priority_levels(priorities),
            tag_associations=tag_associations,
            phrases=phrases,
            _sampling=_Sampling(
                type=Weighted.of(type_weights.items()),
                queue_by_type=queue_by_type,
                priority_by_queue=priority_by_queue,
                business_type=Weighted.of(business_weights),
                product_by_business_queue=product_by_business_queue,
                persona_by_queue=persona_by_queue,
                tone_by_priority=tone_by_priority,
                topics_by_queue_type=topics_by_queue_type,
                names=names,
            ),
        )

    def sample_ticket(self, rng: random.Random, language: str) -> dict[str, str]:
        """The labels of one ticket: type, then queue given type, priority given queue, ..."""
        sampling = self._sampling
        names = sampling.names.get(language.upper())
        if names is None:
            raise TablesError(
                f"{self.directory / 'names.yaml'}: no names for language {language!r}; "
                f"available: {', '.join(self.languages)}"
            )
        type_ = sampling.type.pick(rng)
        queue = sampling.queue_by_type[type_].pick(rng)
        priority = sampling.priority_by_queue[queue].pick(rng)
        business_type = sampling.business_type.pick(rng)
        customer_first, customer_last, agent_first, agent_last = names
        return {
            "type": type_,
            "queue": queue,
            "priority": priority,
            "business_type": business_type,
            "product": sampling.product_by_business_queue[business_type, queue].pick(rng),
            "persona": sampling.persona_by_queue[queue].pick(rng),
            "tone": sampling.tone_by_priority[priority].pick(rng),
            "customer_name": f"{rng.choice(customer_first)} {rng.choice(customer_last)}",
            "agent_name": f"{rng.choice(agent_first)} {rng.choice(agent_last)}",
        }

    def label_shares(self) -> dict[str, dict[str, float]]:
        """How often `sample_ticket` draws each type, queue, priority and business type."""
        sampling = self._sampling
        types = sampling.type.shares()
        queues = _mixture(types, sampling.queue_by_type)
        return {
            "type": types,
            "queue": queues,
            "priority": _mixture(queues, sampling.priority_by_queue),
            "business_type": sampling.business_type.shares(),
        }

    def balanced(self, target_share: float, columns: Iterable[str]) -> Tables:
        """These tables sampling every class of `columns` at least `target_share` of the time
        (uniformly where a column has more than 1 / target_share classes); the other classes
        keep their relative weights, and conditionals (queue given type, priority given queue)
        keep their shape. Zero-weight classes stay undrawn."""
        wanted = frozenset(columns)
        if target_share <= 0 or not wanted:
            return self
        return _balanced(self, target_share, wanted)

    def topics_for(self, queue: str, type_: str) -> tuple[str, ...]:
        """English topics of `queue` allowed for `type_` (all of the queue's if none is)."""
        found = self._sampling.topics_by_queue_type.get((queue, type_))
        if found is None:
            raise TablesError(
                f"no topics for queue {queue!r} and type {type_!r}; queues: "
                f"{', '.join(self.queues)}; types: {', '.join(self.types)}"
            )
        return found


# --- balancing ----------------------------------------------------------------------------

# Rounds of iterative proportional fitting for conditional columns; converges in a few dozen.
_FITTING_ROUNDS = 200


def _mixture(parents: Mapping[str, float], conditional: Mapping[str, Weighted]) -> dict[str, float]:
    """P(child) = sum over parents of P(parent) * P(child | parent)."""
    shares: dict[str, float] = {}
    for parent, weight in parents.items():
        for child, share in conditional[parent].shares().items():
            shares[child] = shares.get(child, 0.0) + weight * share
    return shares


def _raised(shares: Mapping[str, float], target: float) -> dict[str, float]:
    """Shares with every class at `target` or more (capped at uniform), the rest scaled down
    proportionally (water-filling)."""
    floor = min(target, 1.0 / len(shares))
    raised: set[str] = set()
    while True:
        rest = {label: share for label, share in shares.items() if label not in raised}
        if not rest:
            return dict.fromkeys(shares, floor)
        scale = (1.0 - floor * len(raised)) / sum(rest.values())
        low = {label for label, share in rest.items() if share * scale < floor}
        if not low:
            return {label: floor if label in raised else shares[label] * scale for label in shares}
        raised |= low


def _fitted(
    parents: Mapping[str, float], conditional: Mapping[str, Weighted], target: float
) -> dict[str, Weighted]:
    """The conditional with one factor per child, fitted so that the children's marginal
    reaches the raised shares (iterative proportional fitting)."""
    goal = _raised(_mixture(parents, conditional), target)
    factors = dict.fromkeys(goal, 1.0)
    fitted = dict(conditional)
    for _ in range(_FITTING_ROUNDS):
        fitted = {parent: weighted.scaled(factors) for parent, weighted in conditional.items()}
        marginal = _mixture(parents, fitted)
        if all(abs(marginal[label] - goal[label]) < 1e-6 for label in goal):
            break
        factors = {label: factors[label] * goal[label] / marginal[label] for label in goal}
    return fitted


@functools.cache
def _balanced(tables: Tables, target_share: float, columns: frozenset[str]) -> Tables:
    sampling = tables._sampling
    type_ = sampling.type
    if "type" in columns:
        type_ = Weighted.of(_raised(type_.shares(), target_share).items())
    queue_by_type = sampling.queue_by_type
    if "queue" in columns:
        queue_by_type = _fitted(type_.shares(), queue_by_type, target_share)
    priority_by_queue = sampling.priority_by_queue
    if "priority" in columns:
        queues = _mixture(type_.shares(), queue_by_type)
        priority_by_queue = _fitted(queues, priority_by_queue, target_share)
    business_type = sampling.business_type
    if "business_type" in columns:
        business_type = Weighted.of(_raised(business_type.shares(), target_share).items())
    return replace(
        tables,
        _sampling=replace(
            sampling,
            type=type_,
            queue_by_type=queue_by_type,
            priority_by_queue=priority_by_queue,
            business_type=business_type,
        ),
    )


# --- CSV reading --------------------------------------------------------------------------


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


def _load_tag_synonyms(directory: Path, vocabulary: tuple[str, ...]) -> dict[str, str]:
    """tag_synonyms.csv (optional): `synonym,tag` rows, every tag one of tags.csv."""
    if not (directory / TAG_SYNONYMS).exists():
        return {}
    rows = CsvTable.read(directory, TAG_SYNONYMS, ("synonym", "tag"))
    # Synonyms match ignoring case and separators, so they must differ in that form too.
    taken = {match_key(tag): f"the tag {tag!r}" for tag in vocabulary}
    synonyms = {}
    for row in rows:
        synonym, tag = row["synonym"], row["tag"]
        if tag not in vocabulary:
            raise row.fail("tag", f"{tag!r} is not a tag in tags.csv; add it there first")
        clash = taken.get(match_key(synonym))
        if clash is not None:
            raise row.fail("synonym", f"{synonym!r} already matches {clash}")
        taken[match_key(synonym)] = f"the synonym on line {row.line}"
        synonyms[synonym] = tag
    return synonyms


def _require_positive_total(table: CsvTable, column: str, weights: Iterable[float]) -> None:
    if sum(weights) <= 0:
        raise table.error(f"column {column}: weights sum to 0; at least one must be positive")


def _phrasing(
    table: CsvTable, column: str, reference: Mapping[str, Any] | None, section: str
) -> dict[str, str]:
    """Label -> the phrase-bank entry that words it (the `phrasing` column, else the label)."""
    phrasing = {}
    available = reference.get(section, {}) if reference is not None else None
    for row in table:
        label = row[column]
        key = row.values.get("phrasing", "").strip() or label
        if available is not None and key not in available:
            raise row.fail(
                "phrasing",
                f"{key!r} has no phrase set in {OFFLINE_DIR}/ ({section}); "
                f"allowed: {', '.join(available)}",
            )
        phrasing[label] = key
    return phrasing


def _priority_levels(priorities: Sequence[str]) -> dict[str, str]:
    top = len(PRIORITY_LEVELS) - 1
    if len(priorities) == 1:
        return {priorities[0]: PRIORITY_LEVELS[1]}
    return {
        name: PRIORITY_LEVELS[int(index * top / (len(priorities) - 1) + 0.5)]
        for index, name in enumerate(priorities)
    }


def _product_samplers(
    table: CsvTable,
    products: Mapping[str, Product],
    queues: Sequence[str],
    business_types: Sequence[str],
    kind_queues: Mapping[str, Sequence[str]],
) -> dict[tuple[str, str], Weighted]:
    """P(product | business type, queue); a business type without a fitting product for the
    queue borrows the queue's products of all business types."""
    samplers = {}
    for queue in queues:
        fitting = [p for p in products.values() if any(queue in kind_queues[k] for k in p.kinds)]
        everyone = Weighted.of((p.name, p.weight) for p in fitting)
        if not everyone:
            raise table.error(
                f"no product with a positive weight can appear in queue {queue!r}; give one a "
                "kind whose queues in product_kinds.csv include it"
            )
        for business in business_types:
            own = Weighted.of(
                (p.name, p.weight)
                for p in fitting
                if not p.business_types or business in p.business_types
            )
            samplers[business, queue] = own or everyone
    return samplers


def _topic_index(
    table: CsvTable, topics: Mapping[str, Topic], queues: Sequence[str], types: Sequence[str]
) -> dict[tuple[str, str], tuple[str, ...]]:
    index = {}
    for queue in queues:
        in_queue = [topic for topic in topics.values() if topic.queue == queue]
        if not in_queue:
            raise table.error(f"queue {queue!r} has no topics; every queue needs at least one")
        for type_ in types:
            fitting = [t.name for t in in_queue if not t.types or type_ in t.types]
            index[queue, type_] = tuple(fitting or (t.name for t in in_queue))
    return index


# --- YAML reading -------------------------------------------------------------------------


def _read_yaml(path: Path) -> Any:
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


def _load_names(path: Path) -> dict[str, tuple[tuple[str, ...], ...]]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise TablesError(f"{path}: expected a mapping of language codes (DE, EN, ...) to names")
    names = {}
    for language, block in data.items():
        code = str(language).upper()
        if not isinstance(block, dict):
            raise TablesError(f"{path}: {language}: expected the keys {', '.join(NAME_KEYS)}")
        lists = []
        for key in NAME_KEYS:
            values = block.get(key)
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(value, str) and value.strip() for value in values)
            ):
                raise TablesError(f"{path}: {language}.{key}: must be a non-empty list of names")
            lists.append(tuple(value.strip() for value in values))
        unknown = set(block) - set(NAME_KEYS)
        if unknown:
            raise TablesError(
                f"{path}: {language}: unknown key {sorted(unknown)[0]!r}; "
                f"allowed: {', '.join(NAME_KEYS)}"
            )
        names[code] = tuple(lists)
    return names


def _load_phrase_banks(directory: Path) -> dict[str, dict[str, Any]]:
    """language -> bank from offline/<code>.yaml, checked to be index-aligned across languages."""
    if not directory.is_dir():
        return {}
    banks: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        bank = _read_yaml(path)
        if not isinstance(bank, dict):
            raise TablesError(f"{path}: expected a mapping of phrase sections")
        banks[path.stem.upper()] = bank
    if not banks:
        return banks
    reference = REFERENCE_LANGUAGE if REFERENCE_LANGUAGE in banks else next(iter(banks))
    for language, bank in banks.items():
        _check_aligned(
            bank,
            banks[reference],
            _Alignment(directory / f"{language.lower()}.yaml", f"{reference.lower()}.yaml"),
            (),
        )
    return banks


def _reference_bank(banks: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not banks:
        return None
    return banks.get(REFERENCE_LANGUAGE) or next(iter(banks.values()))


@dataclass(frozen=True)
class _Alignment:
    path: Path  # the bank being checked
    reference: str  # file name of the reference bank

    def fail(self, keys: tuple[str, ...], message: str) -> TablesError:
        return TablesError(f"{self.path}: {'.'.join(keys) or '(top level)'}: {message}")

    def placeholders(self, text: str, keys: tuple[str, ...]) -> frozenset[str]:
        try:
            return frozenset(name for _, name, _, _ in _FORMATTER.parse(text) if name is not None)
        except ValueError as error:
            raise self.fail(keys, f"{error} in {text!r}") from None


def _check_aligned(value: Any, reference: Any, check: _Alignment, keys: tuple[str, ...]) -> None:
    """Same structure as the reference bank: same keys, same list lengths, same placeholders."""
    if isinstance(reference, dict):
        if not isinstance(value, dict):
            raise check.fail(keys, f"expected a mapping as in {check.reference}")
        if not (len(keys) == 1 and keys[0] in PARTIAL_SECTIONS):
            for key in reference:
                if key not in value:
                    raise check.fail(keys, f"missing {key!r} (see {check.reference})")
            for key in value:
                if key not in reference:
                    allowed = ", ".join(map(str, reference))
                    raise check.fail(keys, f"unknown key {key!r}; allowed: {allowed}")
        for key, item in value.items():
            # An entry only this language has is checked against itself (text, placeholders).
            _check_aligned(item, reference.get(key, item), check, (*keys, str(key)))
    elif isinstance(reference, list):
        if not isinstance(value, list) or len(value) != len(reference):
            count = len(value) if isinstance(value, list) else "no"
            raise check.fail(
                keys,
                f"has {count} variants but {check.reference} has {len(reference)}; "
                "variants are index-aligned across languages",
            )
        for index, (item, reference_item) in enumerate(zip(value, reference, strict=True)):
            _check_aligned(item, reference_item, check, (*keys, str(index)))
    elif isinstance(reference, str):
        if not isinstance(value, str) or not value.strip():
            raise check.fail(keys, "expected non-empty text")
        own, expected = check.placeholders(value, keys), check.placeholders(reference, keys)
        if own != expected:
            raise check.fail(
                keys,
                f"uses placeholders {sorted(own)} but {check.reference} uses {sorted(expected)}; "
                "aligned variants must match",
            )
    elif type(value) is not type(reference):
        raise check.fail(keys, f"expected a {type(reference).__name__} as in {check.reference}")
