"""The customer's e-mail (nodes email_draft, paraphrase and translate).

A draft is a set of choices (which variant of each slot, which paragraph layout, which order
and invoice numbers) drawn from a generator seeded by the ticket's columns and never by the
language. Rendering the same choices with another language's phrase book translates the
e-mail; moving every choice to another variant and changing the layout paraphrases it. So
translate and paraphrase need no hidden state: they recompute both candidate drafts and
recognise which one they were given.
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
from ticket_assets.llm.offline.bank import PhraseBook
from ticket_assets.llm.offline.inputs import column, resolve
from ticket_assets.tables import REFERENCE_LANGUAGE, Tables

# How often an optional slot appears (a slot whose variant list is empty never does).
OPTIONAL_SHARES = {"subject_prefix": 0.6, "detail": 0.6, "symptom": 0.7, "remark": 0.7}
PERSONA_SHARE = 0.5
REPLY_PREFIX_SHARE = 0.06
# Placeholders that name things rather than state facts; paraphrases may move them freely.
NAME_PLACEHOLDERS = frozenset({"product", "team", "title"})
# Longer subjects fall back to the bare title, then drop their prefixes.
MAX_SUBJECT_LENGTH = 80
# Nodes of one ticket run in sequence; caching its drafts and renderings spares recomputing
# them in paraphrase and translate (and for the same rows re-run in another partition).
CACHE_SIZE = 4096

# Paragraphs of the body by slot. The opening always comes first: German continues the
# greeting's comma in lower case, and the bank's openings are written for that position.
LAYOUTS: tuple[tuple[tuple[str, ...], ...], ...] = (
    (
        ("opening", "persona", "issue", "situation", "detail", "symptom"),
        ("impact", "follow_up"),
        ("request", "remark"),
        ("closing",),
    ),
    (
        ("opening", "persona", "issue", "symptom", "detail"),
        ("situation", "follow_up", "impact"),
        ("request", "remark", "closing"),
    ),
    (
        ("opening", "persona", "issue"),
        ("symptom", "situation", "impact"),
        ("follow_up", "detail"),
        ("request", "remark", "closing"),
    ),
)


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
    seed_parts: tuple[str, ...]  # the raw columns that seed the choices


@dataclass(frozen=True)
class Draft:
    """Every choice behind one e-mail, independent of the language it is rendered in."""

    choices: Mapping[str, int]  # slot -> variant index; optional slots left out are absent
    layout: int
    persona: bool
    reply_prefix: bool
    numbers: Mapping[str, str]
    cents: int  # the amount placeholder, formatted per language


class EmailWriter:
    def __init__(self, tables: Tables, books: Mapping[str, PhraseBook], seed: int) -> None:
        self._tables = tables
        self._books = books
        self._seed = seed
        # Variant counts are the same in every language, so choices are drawn from one bank.
        self._reference = books.get(REFERENCE_LANGUAGE) or next(iter(books.values()))
        self.candidates = functools.lru_cache(maxsize=CACHE_SIZE)(self._candidates)
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
            seed_parts=parts,
        )

    def book(self, language: str) -> PhraseBook:
        book = self._books.get(language)
        if book is None:
            raise ValueError(
                f"offline provider has no phrase bank for language {language!r}; "
                f"available: {', '.join(self._books)}"
            )
        return book

    def _candidates(self, ticket: Ticket) -> tuple[Draft, Draft]:
        """The draft and its paraphrase: the two e-mails the offline provider can produce."""
        draft = self.draft(ticket)
        return draft, self.paraphrase(ticket, draft)

    def _rendered(self, ticket: Ticket, candidate: int, language: str) -> tuple[str, str]:
        return self.render(ticket, self.candidates(ticket)[candidate], language)

    def draft(self, ticket: Ticket) -> Draft:
        rng = stable_rng(self._seed, "email_draft", *ticket.seed_parts)
        choices = {}
        for slot, variants in _slots(self._reference, ticket).items():
            share = OPTIONAL_SHARES.get(slot)
            if variants and (share is None or rng.random() < share):
                choices[slot] = _below(rng, len(variants))
        return Draft(
            choices=choices,
            layout=_below(rng, len(LAYOUTS)),
            persona=rng.random() < PERSONA_SHARE,
            reply_prefix=rng.random() < REPLY_PREFIX_SHARE,
            numbers=_numbers(rng),
            cents=_between(rng, 1990, 89900),
        )

    def paraphrase(self, ticket: Ticket, draft: Draft) -> Draft:
        """The same content in other words: every slot moves to another variant stating the
        same facts (a slot whose variant is the only one with its facts keeps it), and the
        layout changes."""
        rng = stable_rng(self._seed, "paraphrase", *ticket.seed_parts)
        slots = _slots(self._reference, ticket)
        return replace(
            draft,
            choices={
                slot: _reworded(slots[slot], index, rng) for slot, index in draft.choices.items()
            },
            layout=_other(draft.layout, len(LAYOUTS), rng),
        )

    def identify(self, ticket: Ticket, language: str, body: str) -> int | None:
        """Which candidate, rendered in `language`, is `body` (None: text from elsewhere)."""
        wanted = body.strip()
        for index in range(len(self.candidates(ticket))):
            if self.rendered(ticket, index, language)[1] == wanted:
                return index
        return None

    def render(self, ticket: Ticket, draft: Draft, language: str) -> tuple[str, str]:
        """(subject, body) of `draft` written in `language`."""
        book = self.book(language)
        slots = _slots(book, ticket)
        values = {
            **draft.numbers,
            "amount": book.money(draft.cents),
            "product": ticket.product,
            "team": book.queue(ticket.queue_key)["team"],
        }
        values["title"] = book.topic(ticket.topic, ticket.queue_key)["title"].format_map(values)

        def text(slot: str) -> str:
            index = draft.choices.get(slot)
            variants = slots[slot]
            if index is None or not variants:
                return ""
            return variants[index % len(variants)].format_map(values)

        subject = text("subject")
        if len(subject) > MAX_SUBJECT_LENGTH:
            subject = values["title"]
        for prefix in (text("subject_prefix"), book.reply_prefix if draft.reply_prefix else ""):
            if prefix and len(prefix) + len(subject) < MAX_SUBJECT_LENGTH:
                subject = f"{prefix} {subject}"

        sentences = {slot: text(slot) for slot in slots}
        persona = book.personas.get(ticket.persona)
        sentences["persona"] = persona.format_map(values) if draft.persona and persona else ""
        paragraphs = (
            " ".join(sentences[slot] for slot in paragraph if sentences[slot])
            for paragraph in LAYOUTS[draft.layout]
        )
        body = "\n\n".join(
            [
                sentences["greeting"],
                *(paragraph for paragraph in paragraphs if paragraph),
                f"{sentences['signoff']}\n{ticket.customer_name}",
            ]
        )
        return subject, body


def _slots(book: PhraseBook, ticket: Ticket) -> dict[str, Sequence[str]]:
    """The variant lists of every slot for this ticket, in drawing order."""
    type_ = book.type(ticket.type_key)
    queue = book.queue(ticket.queue_key)
    tone = book.tone(ticket.tone_key)
    register = book.register(ticket.tone_key)
    fault = type_["fault"]
    return {
        "subject": type_["subject"],
        "subject_prefix": tone["subject_prefix"],
        "greeting": register["greeting"],
        "opening": book.opening,
        "issue": book.topic(ticket.topic, ticket.queue_key)["issue"],
        "situation": type_["situation"],
        "detail": queue["detail"],
        "symptom": queue["symptom"] if fault else (),
        "impact": book.impact(ticket.level, fault),
        # Faults tell what was already tried; requests and changes what they need next.
        "follow_up": queue["tried"] if fault else type_["follow_up"],
        "request": type_["request"],
        "remark": tone["remark"],
        "closing": tone["closing"],
        "signoff": register["signoff"],
    }


# random() is a single C call; randrange/randint cost several Python frames per draw.
def _below(rng: random.Random, count: int) -> int:
    return int(rng.random() * count)


def _between(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def _other(index: int, count: int, rng: random.Random) -> int:
    return (index + 1 + _below(rng, count - 1)) % count if count > 1 else index


@functools.cache
def _facts(variant: str) -> frozenset[str]:
    """The facts a variant states: its placeholders other than names (order numbers,
    amounts, ...) and the numbers written into it ("30 hours per week", "ISO 27001")."""
    parts = list(string.Formatter().parse(variant))
    placeholders = {name for _, name, _, _ in parts if name} - NAME_PLACEHOLDERS
    written = {number for text, _, _, _ in parts for number in re.findall(r"\d+", text)}
    return frozenset(placeholders | written)


def _reworded(variants: Sequence[str], index: int, rng: random.Random) -> int:
    """Another variant stating the same facts as variant `index`, or `index` if none does: a
    paraphrase that drops an order number, or invents one, changes the ticket's meaning."""
    facts = _facts(variants[index])
    others = [i for i, variant in enumerate(variants) if i != index and _facts(variant) == facts]
    return others[_below(rng, len(others))] if others else index


def _numbers(rng: random.Random) -> dict[str, str]:
    return {
        "days": str(_between(rng, 2, 9)),
        "weeks": str(_between(rng, 2, 6)),
        "users": str(_between(rng, 3, 60)),
        "years": str(_between(rng, 2, 12)),
        "order_number": str(_between(rng, 10**8, 10**9 - 1)),
        "invoice_number": f"{_between(rng, 2023, 2025)}-{_below(rng, 10**5):05d}",
        "customer_number": str(_between(rng, 10**6, 10**7 - 1)),
        "employee_number": str(_between(rng, 10**4, 10**5 - 1)),
        "error_code": f"0x8007{_below(rng, 16**4):04X}",
        "version": f"{_between(rng, 2, 12)}.{_below(rng, 10)}.{_below(rng, 21)}",
        "asset_tag": f"IT-{_below(rng, 10**5):05d}",
    }
