"""The taxonomy of `tables/` and how one ticket's labels are drawn from it.

`Tables.load` reads types, queues (given type), priorities (given queue), tones (given
priority), business types, product kinds, products, personas, topics, tags and the tags each
label attracts, checks every cross-reference (a queue of priorities.csv must be one of
queues.csv, a tag must be one of tags.csv, ...) and precomputes the samplers
(`sampling.Sampling`). `Tables.sample_ticket` draws the labels of one ticket in the order
tables/README.md gives.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ticket_assets.tables.names import load_names
from ticket_assets.tables.phrases import (
    OFFLINE_DIR,
    load_phrase_banks,
    phrasing_keys,
    priority_levels,
    reference_bank,
)
from ticket_assets.tables.reader import CsvTable, TablesError, unique_labels, weighted_choices
from ticket_assets.tables.sampling import Sampling, Weighted, balanced_tables, mixture
from ticket_assets.tables.situations import Situations, load_situations
from ticket_assets.tables.vocabulary import load_tag_synonyms

TAG_FIELDS = ("type", "queue", "priority", "any")


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
    other_queues: Mapping[str, float] = field(default_factory=dict)  # queue -> share of weight
    products: tuple[str, ...] = ()  # the products it fits; empty: any of its product kinds

    def weight_in(self, queue: str) -> float:
        """Its weight among `queue`'s topics: full in its own queue, a share in the others."""
        return (
            self.weight if queue == self.queue else self.weight * self.other_queues.get(queue, 0.0)
        )

    def fits(self, product: Product | None, *, loosely: bool = False) -> bool:
        """Whether the topic makes sense for `product`: listed in its products (if it lists
        any), or, `loosely`, of one of its product kinds."""
        if product is None:
            return True
        if self.products and not loosely:
            return product.name in self.products
        return not self.product_kinds or bool(set(product.kinds) & set(self.product_kinds))


@dataclass(frozen=True)
class TagAssociation:
    tags: tuple[str, ...]
    weight: float  # how strongly a ticket with this label draws these tags


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
    situations: Situations  # what e-mails describe, by type and priority (situations.csv)
    _sampling: Sampling = field(repr=False)

    @classmethod
    def load(cls, directory: Path) -> Tables:
        """Read and validate every table under `directory`; TablesError on the first problem."""
        directory = Path(directory)
        if not directory.is_dir():
            raise TablesError(f"{directory}: tables directory not found")
        phrases = load_phrase_banks(directory / OFFLINE_DIR)
        reference = reference_bank(phrases)

        type_rows = CsvTable.read(directory, "types.csv", ("type", "weight"), ("phrasing",))
        types = unique_labels(type_rows, "type")
        type_weights = {row["type"]: row.weight("weight") for row in type_rows}
        _require_positive_total(type_rows, "weight", type_weights.values())
        type_phrasing = phrasing_keys(type_rows, "type", reference, "types")

        queue_rows = CsvTable.read(directory, "queues.csv", ("queue", *types), ("phrasing",))
        queues = unique_labels(queue_rows, "queue")
        queue_phrasing = phrasing_keys(queue_rows, "queue", reference, "queues")
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
        tone_phrasing = phrasing_keys(tone_rows, "tone", reference, "tones")
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
            ("types", "product_kinds", "tags", "other_queues", "products"),
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
                other_queues=weighted_choices(row, "other_queues", queues, "a queue"),
                products=row.choices("products", tuple(products), "a product in products.csv"),
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

        names = load_names(directory / "names.yaml")
        return cls(
            directory=directory,
            types=types,
            queues=queues,
            priorities=priorities,
            tag_vocabulary=tag_vocabulary,
            tag_synonyms=load_tag_synonyms(directory, tag_vocabulary),
            business_types=business_types,
            personas=personas,
            tones=tones,
            languages=tuple(names),
            products=products,
            topics=topics,
            type_phrasing=type_phrasing,
            queue_phrasing=queue_phrasing,
            tone_phrasing=tone_phrasing,
            priority_levels=priority_levels(priorities),
            tag_associations=tag_associations,
            phrases=phrases,
            situations=load_situations(directory, tuple(type_phrasing.values()), vocabulary),
            _sampling=Sampling(
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

    def first_names(self, language: str) -> tuple[str, ...]:
        """Customers' first names in `language` (names.yaml); empty for a language without."""
        names = self._sampling.names.get(language.upper())
        return names[0] if names else ()

    def label_shares(self) -> dict[str, dict[str, float]]:
        """How often `sample_ticket` draws each type, queue, priority and business type."""
        sampling = self._sampling
        types = sampling.type.shares()
        queues = mixture(types, sampling.queue_by_type)
        return {
            "type": types,
            "queue": queues,
            "priority": mixture(queues, sampling.priority_by_queue),
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
        return balanced_tables(self, target_share, wanted)

    def topics_for(self, queue: str, type_: str) -> tuple[str, ...]:
        """English topics of `queue` allowed for `type_` (all of the queue's if none is)."""
        found = self._sampling.topics_by_queue_type.get((queue, type_))
        if found is None:
            raise TablesError(
                f"no topics for queue {queue!r} and type {type_!r}; queues: "
                f"{', '.join(self.queues)}; types: {', '.join(self.types)}"
            )
        return found


def _require_positive_total(table: CsvTable, column: str, weights: Iterable[float]) -> None:
    if sum(weights) <= 0:
        raise table.error(f"column {column}: weights sum to 0; at least one must be positive")


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
        in_queue = [topic for topic in topics.values() if topic.weight_in(queue) > 0]
        if not in_queue:
            raise table.error(f"queue {queue!r} has no topics; every queue needs at least one")
        for type_ in types:
            fitting = [t.name for t in in_queue if not t.types or type_ in t.types]
            index[queue, type_] = tuple(fitting or (t.name for t in in_queue))
    return index
