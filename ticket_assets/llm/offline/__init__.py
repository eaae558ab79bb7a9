"""The built-in `offline` LLM provider: no key, no network, deterministic for a seed.

Given a node and the row's variables it returns the JSON answer a real model would give,
composed from the randomization tables and the multilingual phrase banks in
tables/offline/. All randomness comes from generators seeded with a blake2b digest of
(seed, node, ticket id, inputs), so answers are stable across processes and runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ticket_assets.core.randomness import stable_rng
from ticket_assets.llm.offline.bank import load_phrase_books
from ticket_assets.llm.offline.declared import declared_answer
from ticket_assets.llm.offline.email import EmailWriter
from ticket_assets.llm.offline.inputs import column, language
from ticket_assets.llm.offline.reply import write_reply
from ticket_assets.llm.offline.tagging import Tagger
from ticket_assets.tables import Tables, Weighted

__all__ = ["OfflineProvider", "Responder"]

# A responder: the JSON answer of one node for one row, made by the provider's writers. Each
# built-in node names its own (`PromptNode.offline_answer`, e.g. `OfflineProvider.topic`) and
# its requests carry it here, so the node registry stays the one list of built-in nodes.
Responder = Callable[["OfflineProvider", Mapping[str, Any]], dict[str, Any]]


class OfflineProvider:
    """Answers the built-in nodes from the tables; raises TablesError for unusable banks."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self._tables = tables
        self._seed = seed
        self._email = EmailWriter(tables, load_phrase_books(tables), seed)
        self._tagger = Tagger(tables, seed, self._email.situation)

    def respond(
        self,
        node: str,
        variables: Mapping[str, Any],
        output_model: type | None = None,
        answer: Responder | None = None,
    ) -> dict[str, Any]:
        """The JSON answer for one call; deterministic in (seed, node, ticket_id, inputs):
        the node's own responder (`answer`) or, for a prompt-defined node, one drawn from the
        declaration its answer model carries."""
        if answer is not None:
            return answer(self, variables)
        declaration = getattr(output_model, "declaration", None)
        if declaration:
            return declared_answer(node, declaration, variables, self._seed)
        raise ValueError(f"offline provider has no responder for node {node!r}")

    def topic(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        tables = self._tables
        type_, queue, product = (column(variables, name) for name in ("type", "queue", "product"))
        allowed = [str(topic) for topic in variables.get("allowed_topics") or ()]
        allowed = allowed or list(tables.topics_for(queue, type_))
        # Prefer topics made for the product, then ones of its kind (no "wrong item
        # delivered" for a cloud service), then any allowed one.
        known = tables.products.get(product)

        def fitting(loosely: bool) -> list[str]:
            return [
                name
                for name in allowed
                if (topic := tables.topics.get(name)) is None or topic.fits(known, loosely=loosely)
            ]

        candidates = fitting(False) or fitting(True) or allowed
        rng = stable_rng(
            self._seed,
            "topic",
            column(variables, "ticket_id"),
            type_,
            queue,
            column(variables, "priority"),
            product,
            variables.get("business_type", ""),
        )
        weighted = Weighted.of(
            (name, topic.weight_in(queue) if (topic := tables.topics.get(name)) else 1.0)
            for name in candidates
        )
        return {"topic": weighted.pick(rng) if weighted else rng.choice(candidates)}

    def email_draft(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        ticket = self._email.ticket(variables)
        subject, body = self._email.rendered(ticket, 0, language(variables, "draft_language"))
        return {"subject": subject, "body": body}

    def paraphrase(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        text_language = language(variables, "text_language")
        ticket = self._email.ticket(variables)
        given = self._email.identify(ticket, text_language, column(variables, "body"))
        # Rewrite the draft as its paraphrase, and a paraphrase back as the draft's wording;
        # text from elsewhere (a real model) becomes the paraphrase of the row's draft.
        subject, body = self._email.rendered(ticket, 0 if given == 1 else 1, text_language)
        return {"subject": subject, "body": body}

    def translate(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        source = language(variables, "source_language")
        target = language(variables, "target_language")
        ticket = self._email.ticket(variables)
        # Text the provider did not write is rendered as the row's draft. In the default
        # pipeline translate gets the paraphrase, so that is tried first.
        given = self._email.identify(ticket, source, column(variables, "body"), likely=1)
        subject, body = self._email.rendered(ticket, given or 0, target)
        return {"subject": subject, "body": body}

    def situation(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """What the ticket's e-mail describes (tables/situations.csv): fact -> value."""
        return self._email.situation(variables)

    def tagging(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {"tags": self._tagger.tags(variables)}

    def first_response(self, variables: Mapping[str, Any]) -> dict[str, Any]:
        return {"first_response": write_reply(self._tables, self._email, self._seed, variables)}
