"""topic: samples a ticket's labels and setting from tables/, then asks for a specific topic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ticket_assets.nodes.base import PLAN_COLUMNS, NodeContext, PromptNode
from ticket_assets.nodes.outputs import TopicAnswer
from ticket_assets.randomness import stable_rng

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig
    from ticket_assets.tables import Tables

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


def sampling_tables(config: RunConfig, tables: Tables) -> Tables:
    """The tables labels are drawn from: rare classes raised as `balance` asks."""
    return tables.balanced(config.balance.target_share, config.balance.columns)


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
        tables = sampling_tables(ctx.config, ctx.tables)
        sampled = [
            tables.sample_ticket(stable_rng(ctx.config.seed, ticket_id, "sample"), language)
            for ticket_id, language in zip(frame["ticket_id"], frame["language"], strict=True)
        ]
        with_labels = frame.copy()
        for column in SAMPLED_COLUMNS:
            with_labels[column] = [values[column] for values in sampled]
        return with_labels
