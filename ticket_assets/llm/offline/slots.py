"""The variant lists an e-mail is written from: for each part of it (subject, greeting,
issue, the situation's sentences, ...), the phrase bank's variants for this ticket."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from ticket_assets.llm.offline.bank import PhraseBook
from ticket_assets.tables.situations import FACTS, OWN_TRIED

if TYPE_CHECKING:
    from ticket_assets.llm.offline.email import Ticket


def slots_for(
    book: PhraseBook, ticket: Ticket, facts: Mapping[str, str]
) -> dict[str, Sequence[str]]:
    """The variant lists of every part of this ticket's e-mail."""
    fixed = fixed_slots(
        book, ticket.type_key, ticket.queue_key, ticket.tone_key, ticket.topic, ticket.persona
    )
    slots = dict(fixed)
    tried = facts.get("tried", "")
    if tried != OWN_TRIED or not slots["symptom"]:  # own: the queue's, for faults only
        slots["tried"] = book.situation("tried", tried)
    for fact in SITUATION_SLOTS:
        slots[fact] = book.situation(fact, facts.get(fact, ""))
    return slots


# The facts stated by a sentence of their own (the shape is the layout; `tried` may be the
# queue's own sentences, see `slots_for`).
SITUATION_SLOTS = tuple(fact for fact in FACTS if fact not in ("shape", "tried"))


# A ticket's e-mail asks for its slots several times (draft, paraphrase, each rendering).
@functools.lru_cache(maxsize=1024)
def fixed_slots(
    book: PhraseBook, type_key: str, queue_key: str, tone_key: str, topic_name: str, persona: str
) -> dict[str, Sequence[str]]:
    """The slots that do not depend on the situation."""
    queue = book.queue(queue_key)
    topic = book.topic(topic_name, queue_key)
    tone = book.tone(tone_key)
    register = book.register(tone_key)
    fault = book.type(type_key)["fault"]
    # A topic without details of its own borrows the queue's, which then are not added again.
    details = topic.get("details") or queue["detail"]
    report = book.report
    return {
        "subject": book.subjects,
        "title": topic["titles"],
        "reference": queue["reference"],
        "greeting": register["greeting"],
        "opening": book.opening,
        "persona": (persona,) if persona in book.personas else (),
        "issue": topic["issue"],
        "detail": details,
        "detail2": details,
        "detail3": details,
        "queue_detail": queue["detail"] if topic.get("details") else (),
        "symptom": queue["symptom"] if fault else (),
        "tried": queue["tried"] if fault else (),
        "remark": tone["remark"],
        "closing": tone["closing"],
        "signoff": register["signoff"],
        "report_intro": report["intro"],
        "attachment": report["attachment"],
        "forward_note": book.forward["note"],
        "facts_block": ("",),
    }
