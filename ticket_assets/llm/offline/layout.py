"""How an e-mail is laid out: which parts it has, in which order and paragraphs.

The shape (tables/situations.csv) sets the frame: a brief note of two or three sentences, the
usual e-mail, a long report with a fact list and the steps taken, or a message forwarded from
a colleague. Within it, optional parts come and go and the sentences stating the situation
change places, so no two tickets need share a skeleton. A plan is a tuple of paragraphs, each
a tuple of slot names that `EmailWriter.render` fills in.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from ticket_assets.tables.situations import FACTS

Plan = tuple[tuple[str, ...], ...]

# Sentences of the situation: they may appear in any order within their paragraph.
MOVABLE = (frozenset(FACTS) - {"shape", "flag", "intent"}) | {"symptom", "queue_detail"}
# Parts rendered as blocks of their own lines rather than sentences.
BLOCKS = frozenset({"facts_block", "forward_header"})
SIGNATURE_LINE_SHARE = 0.8  # "Kind regards, Anna Meyer" on one line rather than two


def plan(shape: str, rng: random.Random, present: Callable[[str], bool]) -> Plan:
    """The paragraphs of one e-mail; `present(slot)` says whether the ticket has that part."""

    def maybe(slot: str, share: float) -> tuple[str, ...]:
        return (slot,) if rng.random() < share and present(slot) else ()

    def shuffled(*slots: str) -> tuple[str, ...]:
        kept = [slot for slot in slots if present(slot)]
        rng.shuffle(kept)
        return tuple(kept)

    def introduction(opening_share: float) -> tuple[str, ...]:
        """Why the customer writes (report, inquire, change), else perhaps a plain opening."""
        return maybe("intent", 0.85) or maybe("opening", opening_share)

    signature = "signature_line" if rng.random() < SIGNATURE_LINE_SHARE else "signature"
    if shape == "brief":
        extra = shuffled("effect", "deadline", "when", "scope")[:1] if rng.random() < 0.7 else ()
        greeting = maybe("greeting", 0.6)
        note = (*maybe("intent", 0.3), "issue", *extra, "ask")
        if greeting and rng.random() < 0.5:  # "Hi, the printer ..." on one line
            return (("greeting", *note), (signature,))
        body = (note,)
        return _framed(greeting, body, signature if rng.random() < 0.7 else "name")
    if shape == "forwarded":
        inner = (
            (*maybe("intent", 0.5), "issue", *maybe("detail", 0.8), *maybe("detail2", 0.5)),
            shuffled("when", "scope", "effect", "workaround", "tried"),
            shuffled("deadline", "ask"),
        )
        return (
            *_framed(maybe("greeting", 0.7), (("forward_note",),), "name"),
            ("forward_header",),
            *(paragraph for paragraph in inner if paragraph),
            ("colleague_signature",),
        )
    if shape == "report":
        body = (
            (*introduction(0.6), *maybe("persona", 0.7), "issue", *maybe("detail", 1.0)),
            *maybe("facts_block", 1.0),
            (
                *shuffled("when", "recurrence", "scope"),
                *maybe("symptom", 0.8),
                *maybe("detail2", 1.0),
                *maybe("queue_detail", 0.9),
            ),
            (*maybe("detail3", 1.0), *shuffled("tried", "effect", "workaround")),
            (*maybe("attachment", 0.8), *shuffled("deadline", "ask"), *maybe("remark", 0.6)),
            maybe("closing", 0.9),
        )
        return _framed(maybe("greeting", 0.95), _paragraphs(body), signature)
    context = (
        *shuffled("when", "recurrence", "scope"),
        *maybe("symptom", 0.5),
        *maybe("queue_detail", 0.35),
    )
    consequences = shuffled("effect", "workaround", "tried")
    closing = (*shuffled("deadline", "ask"), *maybe("remark", 0.5))
    if rng.random() < 0.3:  # some write the whole situation as one paragraph
        context, consequences = (*context, *consequences), ()
    first = (*introduction(0.4), *maybe("persona", 0.35), "issue", *maybe("detail", 0.8))
    greeting = maybe("greeting", 0.9)
    if greeting and rng.random() < 0.35:  # "Hello, I am writing about ..." on one line
        first, greeting = ("greeting", *first), ()
    body = (first, context, consequences, closing, maybe("closing", 0.45))
    return _framed(greeting, _paragraphs(body), signature)


def reshuffled(layout: Plan, rng: random.Random) -> Plan:
    """The same parts with the situation's sentences in another order (a paraphrase)."""
    paragraphs = []
    for paragraph in layout:
        movable = [slot for slot in paragraph if slot in MOVABLE]
        rng.shuffle(movable)
        moved = iter(movable)
        paragraphs.append(tuple(next(moved) if slot in MOVABLE else slot for slot in paragraph))
    return tuple(paragraphs)


def slots_of(layout: Plan) -> set[str]:
    return {slot for paragraph in layout for slot in paragraph}


def _paragraphs(parts: tuple[tuple[str, ...] | str, ...]) -> Plan:
    """Paragraphs from a mix of sentence tuples and block names, leaving out empty ones."""
    return tuple((part,) if isinstance(part, str) else part for part in parts if part)


def _framed(greeting: tuple[str, ...], body: Plan, signature: str) -> Plan:
    return (*((greeting,) if greeting else ()), *body, (signature,))
