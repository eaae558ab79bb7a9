"""The customer's e-mail (nodes email_draft, paraphrase and translate).

A draft is a set of choices drawn from a generator seeded by the ticket's columns and never by
the language: the situation it describes (tables/situations.csv, by type and priority), its
layout (layout.py), which variant of each sentence, and the numbers, dates and names it
quotes (fillers.py). Rendering the same choices with another language's phrase book
translates the e-mail; moving every sentence to another variant that states the same facts
and reordering the situation paraphrases it. So translate and paraphrase need no hidden
state: they recompute both candidate drafts and recognise which one they were given.
"""

from __future__ import annotations

import functools
import random
import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ticket_assets.core.randomness import stable_rng
from ticket_assets.llm.offline.bank import REPORT_LABELS, PhraseBook
from ticket_assets.llm.offline.fillers import Fillers, below, draw_fillers
from ticket_assets.llm.offline.inputs import TICKET_PARTS, column, resolve, ticket_parts
from ticket_assets.llm.offline.layout import BLOCKS, Plan, plan, reshuffled, slots_of
from ticket_assets.llm.offline.slots import slots_for
from ticket_assets.tables import REFERENCE_LANGUAGE, Tables

REPLY_PREFIX_SHARE = 0.06
# Placeholders that name things rather than state facts; paraphrases may move them freely
# (not the product: a paraphrase that drops it loses what the ticket is about).
NAME_PLACEHOLDERS = frozenset({"team", "title", "colleague", "device"})
# Sentences whose variants say different things (two details of a topic are two facts): a
# paraphrase keeps them and rewords the others.
FIXED_SLOTS = frozenset({"detail", "detail2", "detail3", "queue_detail", "symptom", "persona"})
# Sentences that must keep even the names they mention: a paraphrase of the subject or the
# issue that drops the product loses what the ticket is about.
STRICT_SLOTS = frozenset({"subject", "issue", "title"})
# Subjects that quote a reference or a version, as people often do.
RICH_SUBJECT_SHARE = 0.6
RICH_SUBJECT_FACTS = frozenset({"reference", "version"})
REPORT_INTRO_SHARE = 0.5
# Longer subjects fall back to the bare title, then drop their prefixes; the limit is high
# enough that this stays rare, since a subject cut in one language loses facts another keeps.
MAX_SUBJECT_LENGTH = 120
# The nodes of a run share one writer (providers/local.py), each node over all its tickets in
# turn: caching a run's drafts and renderings spares recomputing them in paraphrase and
# translate (about 1 KB per rendering).
CACHE_SIZE = 32768


@dataclass(frozen=True)
class Ticket:
    """The columns an e-mail is written from, with their phrase-bank keys resolved."""

    type_key: str
    queue_key: str
    tone_key: str
    level: str
    persona: str
    topic: str
    product: str
    customer_name: str
    language: str  # the ticket's own language: its colleagues' names come from there
    seed_parts: tuple[str, ...]  # the raw columns that seed the choices


@dataclass(frozen=True)
class Draft:
    """Every choice behind one e-mail, independent of the language it is rendered in."""

    facts: Mapping[str, str]  # the situation: fact -> value
    layout: Plan
    choices: Mapping[str, int]  # slot -> variant index
    facts_block: tuple[str, ...]  # the report's fact lines (REPORT_LABELS)
    reply_prefix: bool
    fillers: Fillers


class EmailWriter:
    def __init__(self, tables: Tables, books: Mapping[str, PhraseBook], seed: int) -> None:
        self._tables = tables
        self._books = books
        self._seed = seed
        # Variant counts are the same in every language, so choices are drawn from one bank.
        self._reference = books.get(REFERENCE_LANGUAGE) or next(iter(books.values()))
        self._draft = functools.lru_cache(maxsize=CACHE_SIZE)(self.draft)
        self._paraphrase = functools.lru_cache(maxsize=CACHE_SIZE)(self._paraphrase_of)
        self.rendered = functools.lru_cache(maxsize=CACHE_SIZE)(self._rendered)

    def ticket(self, variables: Mapping[str, Any]) -> Ticket:
        tables = self._tables
        type_, queue, priority, tone = (
            column(variables, name) for name in ("type", "queue", "priority", "tone")
        )
        parts = (
            column(variables, "ticket_id"),
            type_,
            queue,
            priority,
            tone,
            column(variables, "persona"),
            column(variables, "topic"),
            column(variables, "product"),
            column(variables, "customer_name"),
        )
        return Ticket(
            type_key=resolve(tables.type_phrasing, type_, "type", "types.csv"),
            queue_key=resolve(tables.queue_phrasing, queue, "queue", "queues.csv"),
            tone_key=resolve(tables.tone_phrasing, tone, "tone", "tones.csv"),
            level=resolve(tables.priority_levels, priority, "priority", "priorities.csv"),
            persona=parts[5],
            topic=parts[6],
            product=parts[7],
            customer_name=parts[8],
            language=str(variables.get("language") or REFERENCE_LANGUAGE).strip().upper(),
            seed_parts=parts,
        )

    def situation(self, variables: Mapping[str, Any]) -> dict[str, str]:
        """What the ticket's e-mail describes. Seeded by the columns the tagging node also
        reads, so tags follow the situation the e-mail states."""
        tables = self._tables
        parts = ticket_parts(variables)
        rng = stable_rng(self._seed, "situation", *parts)
        _, type_, _, priority, _, _ = parts
        return tables.situations.draw(
            rng,
            resolve(tables.type_phrasing, type_, "type", "types.csv"),
            resolve(tables.priority_levels, priority, "priority", "priorities.csv"),
        )

    def book(self, language: str) -> PhraseBook:
        book = self._books.get(language)
        if book is None:
            raise ValueError(
                f"offline provider has no phrase bank for language {language!r}; "
                f"available: {', '.join(self._books)}"
            )
        return book

    def candidate(self, ticket: Ticket, index: int) -> Draft:
        """The two e-mails the offline provider can produce: the draft (0) and its
        paraphrase (1); each is made only when asked for."""
        return self._paraphrase(ticket) if index else self._draft(ticket)

    def _paraphrase_of(self, ticket: Ticket) -> Draft:
        return self.paraphrase(ticket, self._draft(ticket))

    def _rendered(self, ticket: Ticket, candidate: int, language: str) -> tuple[str, str]:
        return self.render(ticket, self.candidate(ticket, candidate), language)

    def draft(self, ticket: Ticket) -> Draft:
        rng = stable_rng(self._seed, "email_draft", *ticket.seed_parts)
        facts = self.situation(dict(zip(TICKET_PARTS, _situation_parts(ticket), strict=True)))
        slots = slots_for(self._reference, ticket, facts)
        layout = plan(facts.get("shape", "standard"), rng, lambda slot: bool(slots.get(slot, True)))
        used = slots_of(layout) | {
            "subject",
            "title",
            "reference",
            "flag",
            "signoff",
            "report_intro",
        }
        choices = {slot: below(rng, len(slots[slot])) for slot in sorted(used) if slots.get(slot)}
        details = len(slots["detail"])
        for offset, slot in enumerate(("detail2", "detail3"), 1):  # other details than the first
            if slot in choices:
                if details > offset:
                    choices[slot] = (choices.get("detail", 0) + offset) % details
                else:
                    del choices[slot]
        rich = [
            i for i, subject in enumerate(slots["subject"]) if _said(subject) & RICH_SUBJECT_FACTS
        ]
        if rich and rng.random() < RICH_SUBJECT_SHARE:
            choices["subject"] = rich[below(rng, len(rich))]
        if rng.random() >= REPORT_INTRO_SHARE:
            choices.pop("report_intro", None)
        fault = self._reference.type(ticket.type_key)["fault"]
        return Draft(
            facts=facts,
            layout=layout,
            choices=choices,
            facts_block=_facts_block(rng, facts, fault),
            reply_prefix=facts.get("shape") != "forwarded" and rng.random() < REPLY_PREFIX_SHARE,
            fillers=draw_fillers(rng),
        )

    def paraphrase(self, ticket: Ticket, draft: Draft) -> Draft:
        """The same content in other words: every sentence moves to another variant stating
        the same facts (one whose variant is the only one with its facts keeps it), and the
        situation's sentences change order."""
        rng = stable_rng(self._seed, "paraphrase", *ticket.seed_parts)
        slots = slots_for(self._reference, ticket, draft.facts)
        return replace(
            draft,
            choices={
                slot: index
                if slot in FIXED_SLOTS
                else _reworded(slots[slot], index, rng, strict=slot in STRICT_SLOTS)
                for slot, index in draft.choices.items()
            },
            layout=reshuffled(draft.layout, rng),
        )

    def identify(self, ticket: Ticket, language: str, body: str, likely: int = 0) -> int | None:
        """Which candidate, rendered in `language`, is `body` (None: text from elsewhere);
        the `likely` one is tried first."""
        wanted = body.strip()
        for index in (likely, 1 - likely):
            if self.rendered(ticket, index, language)[1] == wanted:
                return index
        return None

    def render(self, ticket: Ticket, draft: Draft, language: str) -> tuple[str, str]:
        """(subject, body) of `draft` written in `language`."""
        book = self.book(language)
        slots = slots_for(book, ticket, draft.facts)
        values = draft.fillers.values(book, self._colleagues(ticket))
        values["product"] = ticket.product
        values["team"] = book.queue(ticket.queue_key)["team"]

        def text(slot: str) -> str:
            index = draft.choices.get(slot)
            variants = slots.get(slot) or ()
            if index is None or not variants:
                return ""
            return variants[index % len(variants)].format_map(values)

        values["title"] = text("title")
        values["reference"] = text("reference")
        subject = text("subject")
        if len(subject) > MAX_SUBJECT_LENGTH:
            subject = values["title"]
        prefixes = (
            text("flag"),
            book.reply_prefix if draft.reply_prefix else "",
            book.forward_prefix if draft.facts.get("shape") == "forwarded" else "",
        )
        for prefix in prefixes:
            if prefix and len(prefix) + len(subject) < MAX_SUBJECT_LENGTH:
                subject = f"{prefix} {subject}"

        def part(slot: str) -> str:
            if slot == "signature":
                return f"{text('signoff')}\n{ticket.customer_name}"
            if slot == "signature_line":
                return f"{text('signoff').rstrip(',')}, {ticket.customer_name}"
            if slot == "name":
                return ticket.customer_name
            if slot == "colleague_signature":
                return f"{text('signoff')}\n{values['colleague']}"
            if slot == "persona":
                persona = book.personas.get(ticket.persona)
                return persona.format_map(values) if persona else ""
            if slot == "facts_block":
                return _render_facts(book, draft.facts_block, values, text("report_intro"))
            if slot == "forward_header":
                forward = book.forward
                sent = f"{values['weekday']}, {values['date']}, {values['time']}"
                return "\n".join(
                    (
                        forward["header"],
                        f"{forward['from']}: {values['colleague']}",
                        f"{forward['sent']}: {sent}",
                        f"{forward['subject']}: {values['title']}",
                    )
                )
            return text(slot)

        paragraphs: list[str] = []
        after_greeting = False
        for paragraph in draft.layout:
            joiner = "\n" if paragraph[0] in BLOCKS else " "
            written = joiner.join(filter(None, map(part, paragraph)))
            if written:
                # German goes on after the greeting's comma in lower case; elsewhere a
                # paragraph starts with a capital, unless with a name written in lower case.
                keep = after_greeting or written.startswith(ticket.product)  # "iPhone 15 ..."
                paragraphs.append(written if keep else written[0].upper() + written[1:])
                after_greeting = paragraph == ("greeting",)
        return subject, "\n\n".join(paragraphs)

    def _colleagues(self, ticket: Ticket) -> Sequence[str]:
        names = self._tables.first_names(ticket.language)
        return names or (ticket.customer_name.split()[0],)


def _situation_parts(ticket: Ticket) -> tuple[str, ...]:
    ticket_id, type_, queue, priority, _tone, _persona, topic, product, _name = ticket.seed_parts
    return ticket_id, type_, queue, priority, topic, product


def _facts_block(rng: random.Random, facts: Mapping[str, str], fault: bool) -> tuple[str, ...]:
    """Which fact lines a report lists: always the product, the rest as they apply."""
    wanted = {
        "product": True,
        "version": rng.random() < 0.8,
        "system": rng.random() < 0.6,
        "browser": rng.random() < 0.3,
        "error": fault and rng.random() < 0.7,
        "users": facts.get("scope") in ("team", "site"),
        "since": facts.get("when", "none") not in ("none", "") and rng.random() < 0.7,
        "reference": rng.random() < 0.6,
    }
    return tuple(label for label in REPORT_LABELS if wanted[label])


_FACT_VALUES = {
    "product": "product",
    "version": "version",
    "system": "system",
    "browser": "browser",
    "error": "error_code",
    "users": "users",
    "since": "date",
    "reference": "reference",
}


def _render_facts(
    book: PhraseBook, labels: Sequence[str], values: Mapping[str, str], intro: str
) -> str:
    lines = (f"- {book.report[label]}: {values[_FACT_VALUES[label]]}" for label in labels)
    return "\n".join((intro, *lines) if intro else lines)


@functools.cache
def _said(variant: str) -> frozenset[str]:
    """Every placeholder of a variant and the numbers written into it."""
    return _facts(variant) | {name for _, name, _, _ in string.Formatter().parse(variant) if name}


@functools.cache
def _facts(variant: str) -> frozenset[str]:
    """The facts a variant states: its placeholders other than names (order numbers,
    amounts, ...) and the numbers written into it ("30 hours per week", "ISO 27001")."""
    parts = list(string.Formatter().parse(variant))
    placeholders = {name for _, name, _, _ in parts if name} - NAME_PLACEHOLDERS
    written = {number for text, _, _, _ in parts for number in re.findall(r"\d+", text)}
    return frozenset(placeholders | written)


def _reworded(variants: Sequence[str], index: int, rng: random.Random, *, strict: bool) -> int:
    """Another variant stating the same facts as variant `index`, or `index` if none does: a
    paraphrase that drops an order number, or invents one, changes the ticket's meaning.
    `strict`: the same names too."""
    others = _alternatives(tuple(variants), strict)[index]
    return others[below(rng, len(others))] if others else index


@functools.cache
def _alternatives(variants: tuple[str, ...], strict: bool) -> tuple[tuple[int, ...], ...]:
    """For each variant, the others that state the same facts (and names, when strict)."""
    said = [(_said if strict else _facts)(variant) for variant in variants]
    return tuple(
        tuple(j for j in range(len(variants)) if j != i and said[j] == said[i])
        for i in range(len(variants))
    )
