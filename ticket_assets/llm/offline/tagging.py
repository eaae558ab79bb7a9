"""Tags for a ticket (node tagging): 4-8 plausible tags from the caller's vocabulary.

Candidate tags are scored by where they come from (the topic's own tags, the product's, the
situation the e-mail describes (situations.csv) and the weighted associations of
tag_associations.csv)
and drawn without replacement in proportion to their score, so the most relevant tags are
nearly always there and the rest varies from ticket to ticket.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ticket_assets.core.randomness import stable_rng
from ticket_assets.llm.offline.inputs import ticket_parts
from ticket_assets.tables import Tables

TAG_COUNTS = (4, 5, 6, 7, 8)
TAG_COUNT_WEIGHTS = (15, 25, 25, 20, 15)
MIN_TAGS = TAG_COUNTS[0]
LEADING_TOPIC_TAGS = 2  # the topic's own tags lead the list, as a human tagger would put them
TOPIC_WEIGHT = 5.0
KEYWORD_WEIGHT = 4.0  # vocabulary tags named in a topic the tables do not know
PRODUCT_WEIGHT = 3.0
SITUATION_WEIGHT = 6.0  # a recurring fault is tagged Recurring Issue, a callback Callback

_NON_WORD = re.compile(r"[^0-9A-Za-z]+")


class Tagger:
    def __init__(
        self,
        tables: Tables,
        seed: int,
        situation: Callable[[Mapping[str, Any]], Mapping[str, str]],
    ) -> None:
        self._tables = tables
        self._seed = seed
        self._situation = situation
        # Callers pass the same vocabulary for every row; keep its set until they change it
        # (one attribute, so concurrent callers never see a list paired with another's set).
        self._known: tuple[Sequence[str], frozenset[str]] = ((), frozenset())

    def tags(self, variables: Mapping[str, Any]) -> list[str]:
        tables = self._tables
        parts = ticket_parts(variables)
        _, type_, queue, priority, topic, product = parts
        vocabulary = variables.get("tag_vocabulary") or tables.tag_vocabulary
        known, allowed = self._known
        if vocabulary is not known:
            allowed = frozenset(map(str, vocabulary))
            self._known = (vocabulary, allowed)
        scores: dict[str, float] = {}

        def add(tags: Iterable[str], weight: float) -> None:
            for tag in tags:
                if tag in allowed:
                    scores[tag] = scores.get(tag, 0.0) + weight

        known_topic = tables.topics.get(topic)
        topic_tags = known_topic.tags if known_topic is not None else _named_in(topic, vocabulary)
        add(topic_tags, TOPIC_WEIGHT if known_topic is not None else KEYWORD_WEIGHT)
        known_product = tables.products.get(product)
        if known_product is not None:
            add(known_product.tags, PRODUCT_WEIGHT)
        add(tables.situations.tags(self._situation(variables)), SITUATION_WEIGHT)
        associations = tables.tag_associations
        for field_name, label in (("queue", queue), ("type", type_), ("priority", priority)):
            if (association := associations[field_name].get(label)) is not None:
                add(association.tags, association.weight)
        if (general := associations["any"].get("")) is not None:
            add(general.tags, general.weight)

        rng = stable_rng(self._seed, "tagging", *parts)
        count = rng.choices(TAG_COUNTS, TAG_COUNT_WEIGHTS)[0]
        # Weighted sampling without replacement (Efraimidis-Spirakis): largest u ** (1 / w) first.
        ranked = sorted(scores, key=lambda tag: rng.random() ** (1.0 / scores[tag]), reverse=True)
        leading = [tag for tag in ranked if tag in topic_tags][:LEADING_TOPIC_TAGS]
        tags = leading + [tag for tag in ranked if tag not in leading][: count - len(leading)]
        missing = min(MIN_TAGS, len(allowed)) - len(tags)
        if missing > 0:
            tags += rng.sample(sorted(allowed.difference(scores)), missing)
        return tags


def _named_in(text: str, vocabulary: Iterable[str]) -> list[str]:
    """Vocabulary tags spelled out in `text`; acronyms only in capitals (IT, not "it")."""
    cased = f" {_NON_WORD.sub(' ', text)} "
    lower = cased.lower()
    found = []
    for tag in vocabulary:
        words = f" {_NON_WORD.sub(' ', tag).strip()} "
        if (words in cased) if tag.isupper() else (words.lower() in lower):
            found.append(tag)
    return found
