"""tagging: picks 4-8 canonical English tags from the vocabulary in tables/."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from ticket_assets.nodes.base import NodeContext, PromptNode
from ticket_assets.nodes.outputs import MAX_TAGS, MIN_TAGS, TagsAnswer
from ticket_assets.nodes.spec import Choices, Labels


class TaggingNode(PromptNode):
    name = "tagging"
    description = "Assigns 4-8 tags from the canonical English tag vocabulary (tables/)."
    reads = ("ticket_id", "subject", "body", "type", "queue", "priority", "topic", "product")
    outputs = MappingProxyType({"tags": Choices(Labels("tag_vocabulary"), MIN_TAGS, MAX_TAGS)})
    writes = tuple(outputs)
    output_model = TagsAnswer

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"tag_vocabulary": list(ctx.tables.tag_vocabulary)}

    def validation_context(self, ctx: NodeContext) -> dict[str, Any]:
        return {"tag_vocabulary": {tag.casefold(): tag for tag in ctx.tables.tag_vocabulary}}
