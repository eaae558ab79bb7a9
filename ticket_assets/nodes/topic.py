"""topic: samples a ticket's labels and setting from tables/, then asks for a specific topic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from ticket_assets.nodes.base import PLAN_COLUMNS, NodeContext, PromptNode
from ticket_assets.nodes.outputs import TopicAnswer
from ticket_assets.randomness import stable_rng

SAMPLED_COLUMNS = (
    "type",
    "queue",
    "priority",
    "business_type",
    "product",
    "persona",
    "tone",
    "customer_name",
    "agent_name",
)


class TopicNode(PromptNode):
    name = "topic"
    description = (
        "Samples type, queue, priority, business type, product, persona, tone and names from "
        "tables/ (weighted, queue given type, priority given queue), then has the LLM name a "
        "specific support topic."
    )
    reads = PLAN_COLUMNS
    writes = (*SAMPLED_COLUMNS, "topic")
    output_model = TopicAnswer

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"allowed_topics": list(ctx.tables.topics_for(row["queue"], row["type"]))}

    def prepare(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        sampled = [
            ctx.tables.sample_ticket(stable_rng(ctx.config.seed, ticket_id, "sample"), language)
            for ticket_id, language in zip(frame["ticket_id"], frame["language"], strict=True)
        ]
        with_labels = frame.copy()
        for column in SAMPLED_COLUMNS:
            with_labels[column] = [values[column] for values in sampled]
        return with_labels
