"""The built-in nodes and the check that a configured pipeline can run in its order."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ticket_assets.nodes.base import PLAN_COLUMNS, Node, NodeContext, PromptNode
from ticket_assets.nodes.email_draft import EmailDraftNode
from ticket_assets.nodes.first_response import FirstResponseNode
from ticket_assets.nodes.paraphrase import ParaphraseNode
from ticket_assets.nodes.tagging import TaggingNode
from ticket_assets.nodes.topic import TopicNode
from ticket_assets.nodes.translate import TranslateNode

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig

NODES: dict[str, Node] = {
    node.name: node
    for node in (
        TopicNode(),
        EmailDraftNode(),
        TaggingNode(),
        ParaphraseNode(),
        TranslateNode(),
        FirstResponseNode(),
    )
}
# The ticket is not a ticket without these; the other nodes may be dropped.
REQUIRED_NODES = ("topic", "email_draft")


def check_pipeline(config: RunConfig) -> None:
    """Raise ValueError (reported as a config error on `pipeline`) if the order cannot run."""
    for required in REQUIRED_NODES:
        if required not in config.pipeline:
            raise ValueError(f"pipeline: the pipeline needs node {required!r}")
    available = set(PLAN_COLUMNS)
    for name in config.pipeline:
        node = NODES[name]
        missing = [column for column in node.reads if column not in available]
        if missing:
            raise ValueError(
                f"pipeline: node {name!r} reads {', '.join(missing)}, "
                "which no earlier node writes; "
                f"move it after {', '.join(sorted({_writer(c) for c in missing}))}"
            )
        available.update(node.writes)
    foreign = [code for code in config.languages if code != config.source_language]
    if "translate" not in config.pipeline and not config.draft_in_target_language and foreign:
        raise ValueError(
            f"pipeline: without translate, tickets in {', '.join(foreign)} would stay in "
            f"{config.source_language}; add translate or set draft_in_target_language: true"
        )


def _writer(column: str) -> str:
    return next(name for name, node in NODES.items() if column in node.writes)


def written_columns(pipeline: tuple[str, ...]) -> list[str]:
    """Every column the pipeline's frames end with, in first-written order."""
    columns = list(PLAN_COLUMNS)
    for name in pipeline:
        node = NODES[name]
        columns += [c for c in node.writes if c not in columns]
        if isinstance(node, PromptNode):
            columns.append(node.version_column)
    return columns


__all__ = ["NODES", "Node", "NodeContext", "check_pipeline", "written_columns"]
