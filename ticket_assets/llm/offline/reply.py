"""The agent's first response (node first_response), in the ticket's target language."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ticket_assets.core.randomness import stable_rng
from ticket_assets.llm.offline.email import EmailWriter
from ticket_assets.llm.offline.inputs import column, language, resolve
from ticket_assets.tables import Tables

# The reply promises news within this many hours, by priority level.
HOURS_BY_LEVEL = {"low": (24, 72), "medium": (8, 24), "high": (2, 6)}
LIST_SHARE = 0.5  # share of multi-step replies that number their steps instead of prose
MAX_STEPS = 3
INFORMAL = "informal"  # the formality value (tables/styles.csv) that selects reply.informal


def write_reply(
    tables: Tables, writer: EmailWriter, seed: int, variables: Mapping[str, Any]
) -> str:
    ticket_id, type_, queue_label, priority, topic, product, customer_name, agent_name = (
        column(variables, name)
        for name in (
            "ticket_id",
            "type",
            "queue",
            "priority",
            "topic",
            "product",
            "customer_name",
            "agent_name",
        )
    )
    target = language(variables, "language")
    type_key = resolve(tables.type_phrasing, type_, "type", "types.csv")
    queue_key = resolve(tables.queue_phrasing, queue_label, "queue", "queues.csv")
    level = resolve(tables.priority_levels, priority, "priority", "priorities.csv")
    book = writer.book(target)
    reply = book.reply
    queue = reply["queues"][queue_key]
    fault = book.type(type_key)["fault"]
    # The node's style (config styles) may ask for an informal reply: du, tu, tú, tu.
    informal = (variables.get("style") or {}).get("formality") == INFORMAL and INFORMAL in reply
    if informal:
        phrases = reply[INFORMAL]
        ack = phrases["ack"]["fault" if fault else "request"]
        choices = phrases["steps" if fault else "request_steps"]
    else:
        phrases = reply
        ack = reply["ack"][type_key]
        choices = queue["steps"] if fault else queue["request_steps"]
    rng = stable_rng(
        seed,
        "first_response",
        ticket_id,
        target,
        type_,
        queue_label,
        priority,
        topic,
        product,
        customer_name,
        agent_name,
    )
    values = {
        "customer_name": customer_name,
        "first_name": customer_name.split()[0] if customer_name.strip() else customer_name,
        "product": product,
        "title": book.topic(topic, queue_key)["titles"][0].format(product=product),
        "hours": str(rng.randint(*HOURS_BY_LEVEL[level])),
        "ticket_id": ticket_id,
    }

    def pick(variants: Sequence[str]) -> str:
        return rng.choice(variants).format_map(values)

    count = min(rng.randint(1, MAX_STEPS), len(choices))
    steps = [step.format_map(values) for step in rng.sample(choices, count)]
    if len(steps) > 1 and rng.random() < LIST_SHARE:
        numbered = "\n".join(f"{number}. {step}" for number, step in enumerate(steps, 1))
        next_steps = f"{pick(phrases['steps_intro'])}\n{numbered}"
    else:
        next_steps = " ".join(steps)
    return "\n\n".join(
        [
            pick(phrases["greeting"]),
            f"{pick(phrases['thanks'])} {pick(ack)}",
            next_steps,
            f"{pick(phrases['expectation'][level])} {pick(phrases['closing'])}",
            f"{pick(phrases['signoff'])}\n{agent_name}\n{queue['signature']}",
        ]
    )
