"""topic: samples a ticket's labels and setting from tables/, then asks for a specific topic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd

from ticket_assets.core.randomness import stable_rng
from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.nodes.base import PLAN_COLUMNS, PromptNode
from ticket_assets.nodes.outputs import TopicAnswer
from ticket_assets.tables.fields import SampledFields, load_fields
from ticket_assets.tables.spec import Choice, FromTable, Labels, Output, Text

if TYPE_CHECKING:
    from ticket_assets.config import FieldConfig, RunConfig
    from ticket_assets.nodes.context import NodeContext
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
SAMPLED_OUTPUTS: dict[str, Output] = {
    "type": Choice(Labels("types")),
    "queue": Choice(Labels("queues")),
    "priority": Choice(Labels("priorities")),
    "business_type": Choice(Labels("business_types")),
    "product": Choice(Labels("products")),
    "persona": Choice(Labels("personas"), export=False),
    "tone": Choice(Labels("tones"), export=False),
    "customer_name": Text(export=False),
    "agent_name": Text(export=False),
}


def sampling_tables(config: RunConfig, tables: Tables) -> Tables:
    """The tables labels are drawn from: rare classes raised as `balance` asks."""
    return tables.balanced(config.balance.target_share, config.balance.columns)


def sampled_fields(
    fields: Mapping[str, FieldConfig], config: RunConfig, tables: Tables
) -> SampledFields:
    """`fields` (config `fields`), read from their tables."""
    specs = [(name, field.table, field.given) for name, field in fields.items()]
    return load_fields(tables, specs, list(config.languages))


class TopicNode(PromptNode):
    name = "topic"
    description = (
        "Samples type, queue, priority, business type, product, persona, tone and names from "
        "tables/ (weighted, queue given type, priority given queue), then the configured "
        "fields from their tables, then has the LLM name a specific support topic."
    )
    reads = PLAN_COLUMNS
    output_model = TopicAnswer
    offline_answer = staticmethod(OfflineProvider.topic)

    def __init__(self, fields: Mapping[str, FieldConfig] | None = None) -> None:
        """`fields`: the sampled fields to draw after the built-in labels (config `fields`)."""
        self.fields = dict(fields or {})
        self.outputs = {
            **SAMPLED_OUTPUTS,
            **{name: Choice(FromTable(field.table, name)) for name, field in self.fields.items()},
            "topic": Text(),
        }
        self.writes = tuple(self.outputs)

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"allowed_topics": list(ctx.tables.topics_for(row["queue"], row["type"]))}

    def prepare(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        config = ctx.config
        tables = sampling_tables(config, ctx.tables)
        fields = sampled_fields(self.fields, config, ctx.tables)
        sampled = []
        for ticket_id, language in zip(frame["ticket_id"], frame["language"], strict=True):
            labels = tables.sample_ticket(stable_rng(config.seed, ticket_id, "sample"), language)
            ticket = {"ticket_id": ticket_id, "language": language, **labels}
            sampled.append({**labels, **fields.draw(config.seed, ticket)})
        with_labels = frame.copy()
        for column in (*SAMPLED_COLUMNS, *fields.names):
            with_labels[column] = [values[column] for values in sampled]
        return with_labels
