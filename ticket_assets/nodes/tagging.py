"""tagging: picks 4-8 canonical English tags from the vocabulary in tables/."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.nodes.base import PromptNode
from ticket_assets.nodes.outputs import MAX_TAGS, MIN_TAGS, tags_answer_model
from ticket_assets.tables.spec import Choices, Labels

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext


class TaggingNode(PromptNode):
    name = "tagging"
    description = "Assigns 4-8 tags from the canonical English tag vocabulary (tables/)."
    reads = ("ticket_id", "subject", "body", "type", "queue", "priority", "topic", "product")
    outputs = MappingProxyType({"tags": Choices(Labels("tag_vocabulary"), MIN_TAGS, MAX_TAGS)})
    writes = tuple(outputs)
    offline_answer = staticmethod(OfflineProvider.tagging)

    def answer_model(self, ctx: NodeContext) -> type[BaseModel]:
        # The vocabulary is the user's tables/, so the model (and the enum of the JSON schema
        # the model is sent) is built per vocabulary.
        tables = ctx.tables
        return tags_answer_model(tables.tag_vocabulary, tuple(tables.tag_synonyms.items()))

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        # The shipped prompt leaves the vocabulary to the schema's enum; the variable stays
        # for prompts that list it, and tells the offline provider what to draw from.
        return {"tag_vocabulary": ctx.tables.tag_vocabulary}
