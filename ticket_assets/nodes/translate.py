"""translate: renders subject and body in the ticket's language; free where already there."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.nodes.base import PromptNode, language_name
from ticket_assets.nodes.outputs import EmailAnswer
from ticket_assets.tables.spec import Text

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext


class TranslateNode(PromptNode):
    name = "translate"
    description = (
        "Translates subject and body from the drafting language into the partition's language; "
        "rows already in that language pass through without an LLM call."
    )
    reads = ("ticket_id", "language", "subject", "body")
    outputs = MappingProxyType({"subject": Text(), "body": Text()})
    writes = tuple(outputs)
    output_model = EmailAnswer
    offline_answer = staticmethod(OfflineProvider.translate)

    def needs_call(self, row: Mapping[str, Any], ctx: NodeContext) -> bool:
        return ctx.text_language(self.name, row["language"]) != row["language"]

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        source = ctx.text_language(self.name, row["language"])
        return {
            "source_language": source,
            "source_language_name": language_name(source),
            "target_language": row["language"],
            "target_language_name": language_name(row["language"]),
        }

    def expected_language(self, row: Mapping[str, Any], ctx: NodeContext) -> str | None:
        return row["language"]
