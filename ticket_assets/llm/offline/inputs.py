"""Reading a node's variables, with one clear error for a missing or unknown input."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def column(variables: Mapping[str, Any], name: str) -> str:
    try:
        value = variables[name]
    except KeyError:
        raise ValueError(f"offline provider: the variables lack the input {name!r}") from None
    return str(value)


# The columns the tagging node reads too: what seeds a ticket's situation and its tags.
TICKET_PARTS = ("ticket_id", "type", "queue", "priority", "topic", "product")


def ticket_parts(variables: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(column(variables, name) for name in TICKET_PARTS)


def language(variables: Mapping[str, Any], name: str) -> str:
    """A language code from `name`, falling back to the ticket's target `language`."""
    return column(variables, name if name in variables else "language").strip().upper()


def resolve(keys: Mapping[str, str], label: str, what: str, table: str) -> str:
    """The phrase-bank key of a label (e.g. a queue's `phrasing`)."""
    try:
        return keys[label]
    except KeyError:
        raise ValueError(
            f"offline provider: {what} {label!r} is not in {table}; known: {', '.join(keys)}"
        ) from None
