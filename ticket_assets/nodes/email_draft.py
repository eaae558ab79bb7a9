"""email_draft: writes the customer's e-mail (subject and body) in the drafting language."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.nodes.base import PromptNode, language_name
from ticket_assets.nodes.outputs import EmailAnswer
from ticket_assets.nodes.topic import SAMPLED_COLUMNS
from ticket_assets.tables.spec import Text

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext


class EmailDraftNode(PromptNode):
    name = "email_draft"
    description = (
        "Drafts the customer's support e-mail (subject and body) from the sampled labels and "
        "topic, in the source language (or directly in the target language if configured)."
    )
    reads = ("ticket_id", "language", *SAMPLED_COLUMNS, "topic")
    outputs = MappingProxyType({"subject": Text(), "body": Text()})
    writes = tuple(outputs)
    output_model = EmailAnswer
    offline_answer = staticmethod(OfflineProvider.email_draft)

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        draft = ctx.draft_language(row["language"])
        return {"draft_language": draft, "draft_language_name": language_name(draft)}

    def expected_language(self, row: Mapping[str, Any], ctx: NodeContext) -> str | None:
        return ctx.draft_language(row["language"])
