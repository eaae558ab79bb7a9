"""paraphrase: rewords subject and body, same meaning, same language, other phrasing."""

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


class ParaphraseNode(PromptNode):
    name = "paraphrase"
    description = (
        "Rewords subject and body in the language they are written in, keeping meaning, "
        "product names, numbers and names, for more varied training text."
    )
    reads = ("ticket_id", "language", "subject", "body", "tone")
    outputs = MappingProxyType({"subject": Text(), "body": Text()})
    writes = tuple(outputs)
    output_model = EmailAnswer
    offline_answer = staticmethod(OfflineProvider.paraphrase)

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        text_language = ctx.text_language(self.name, row["language"])
        return {"text_language": text_language, "text_language_name": language_name(text_language)}

    def expected_language(self, row: Mapping[str, Any], ctx: NodeContext) -> str | None:
        return ctx.text_language(self.name, row["language"])
