"""Plug-in nodes for the tests: `ticket_assets_tests.plugin_nodes:<Class>` in `pipeline`."""

from __future__ import annotations

from typing import Any, ClassVar

import pandas as pd

from ticket_assets.nodes import Node, NodeContext


class BodyWordsNode(Node):
    """Counts the words of each ticket's body (no LLM call)."""

    name = "body_words"
    description = "Counts the words of the e-mail body."
    reads = ("body",)
    writes = ("body_words",)
    # Written as in a prompt file; the loader turns it into output types.
    outputs: ClassVar[Any] = {"body_words": {"type": "integer", "min": 1, "max": 5000}}

    def run(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        return frame.assign(body_words=frame["body"].str.split().str.len().astype("int64"))


class NoRunNode:
    """Lacks run(): not a node."""

    name = "no_run"
    reads = ("body",)
    writes = ("x",)


class ExplodingNode(Node):
    """Raises an unexpected error inside the run's step, as a buggy plug-in would. Frames of
    one ticket pass, so that the preflight's dry run (one ticket per language) gets there."""

    name = "exploding"
    description = "Fails on purpose."
    reads = ("body",)
    writes = ("boom",)
    outputs: ClassVar[Any] = {"boom": {"type": "integer", "min": 0, "max": 1}}

    def run(self, frame: pd.DataFrame, ctx: NodeContext) -> pd.DataFrame:
        if len(frame) > 1:
            raise ZeroDivisionError("the exploding node divided by zero")
        return frame.assign(boom=0)
