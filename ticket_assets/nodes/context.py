"""What a node may use besides its input frame: the config, the tables, the LLM facade, and
the pipeline the node runs in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ticket_assets.config import RunConfig
from ticket_assets.nodes.base import Prompt, load_prompt
from ticket_assets.nodes.pipeline import Pipeline, build_pipeline

if TYPE_CHECKING:
    from ticket_assets.llm.client import LLMClient
    from ticket_assets.tables import Tables


@dataclass(frozen=True)
class NodeContext:
    """What a node may use besides its input frame."""

    config: RunConfig
    tables: Tables
    llm: LLMClient
    # The pipeline the node runs in: by default the config's (build_pipeline, built once).
    pipeline: Pipeline | None = None

    def prompt(self, node: str) -> Prompt:
        return load_prompt(self.config.prompts_path, node)

    def text_language(self, node: str, target: str) -> str:
        """The language subject and body are in when `node` runs: translated already or not."""
        pipeline = (self.pipeline or build_pipeline(self.config)).names
        if "translate" in pipeline and pipeline.index("translate") < pipeline.index(node):
            return target
        return self.draft_language(target)

    def draft_language(self, target: str) -> str:
        return target if self.config.draft_in_target_language else self.config.source_language
