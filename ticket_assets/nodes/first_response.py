"""first_response: the support agent's first reply, in the ticket's language."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.nodes.base import PromptNode, language_name
from ticket_assets.nodes.outputs import FirstResponseAnswer
from ticket_assets.tables.spec import Text

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext


class FirstResponseNode(PromptNode):
    name = "first_response"
    description = (
        "Writes the support agent's first reply to the ticket, in the ticket's language, with "
        "concrete next steps for its queue and type."
    )
    reads = (
        "ticket_id",
        "language",
        "subject",
        "body",
        "type",
        "queue",
        "priority",
        "topic",
        "product",
        "customer_name",
        "agent_name",
    )
    outputs = MappingProxyType({"first_response": Text()})
    writes = tuple(outputs)
    output_model = FirstResponseAnswer
    offline_answer = staticmethod(OfflineProvider.first_response)

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"language_name": language_name(row["language"])}

    def expected_language(self, row: Mapping[str, Any], ctx: NodeContext) -> str | None:
        return row["language"]
