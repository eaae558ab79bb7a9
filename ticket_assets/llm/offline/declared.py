"""Answers for prompt-defined nodes, drawn from what their prompt files declare.

Enums and lists are drawn by weight from their vocabularies (values listed in the prompt
file, or a column of a table in tables/), integers uniformly from their range, and text from
the output's `examples` (Jinja templates over the ticket's variables). Every output has its
own generator, seeded by (seed, node, ticket id, column).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import jinja2

from ticket_assets.core.randomness import stable_rng
from ticket_assets.tables import Weighted
from ticket_assets.tables.fields import Vocabulary
from ticket_assets.tables.spec import Choice, Choices, Integer, Output, Text

_JINJA = jinja2.Environment(undefined=jinja2.StrictUndefined)


@functools.cache
def _template(source: str) -> jinja2.Template:
    return _JINJA.from_string(source)


def declared_answer(
    node: str,
    declaration: tuple[tuple[str, Output, Vocabulary | None], ...],
    variables: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    answer: dict[str, Any] = {}
    for column, output, vocabulary in declaration:
        rng = stable_rng(seed, node, variables["ticket_id"], column)
        if isinstance(output, Text):
            if not output.examples:
                raise ValueError(
                    f"offline provider: node {node!r} has no examples for its output {column!r}"
                )
            answer[column] = _template(rng.choice(output.examples)).render(variables).strip()
        elif isinstance(output, Integer):
            answer[column] = rng.randint(output.minimum, output.maximum)
        elif isinstance(output, Choice):
            answer[column] = vocabulary.weighted().pick(rng)  # type: ignore[union-attr]
        elif isinstance(output, Choices):
            # Distinct values, each drawn by weight from those not drawn yet.
            remaining = dict(zip(vocabulary.values, vocabulary.weights, strict=True))  # type: ignore[union-attr]
            picked: list[str] = []
            for _ in range(rng.randint(output.min_items, output.max_items)):
                weighted = Weighted.of(remaining.items())
                if not weighted:
                    break
                picked.append(weighted.pick(rng))
                del remaining[picked[-1]]
            answer[column] = picked
    return answer
