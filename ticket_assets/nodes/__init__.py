"""The node layer: the node contract, the registry of nodes a pipeline can name, and the
configured pipeline resolved to nodes.

    base.py      the Node contract, PromptNode, prompt loading
    context.py   NodeContext: what a node may use besides its frame
    declared.py  prompt-defined nodes; outputs.py: the built-in nodes' answer models
    registry.py  BUILTINS (the built-in node classes, each naming its offline answer),
                 prompt-defined nodes and plug-in nodes (`module:Class`)
    pipeline.py  build_pipeline(config) -> Pipeline: resolved once, order and columns checked

A `pipeline` entry names a built-in node, a prompt-defined node (`prompts/<name>.yaml` with
`reads` and `outputs`) or a plug-in node (`package.module:Class`, a class following the
`Node` contract). Everything downstream (pandera rules, export columns, Dagster assets) works
from the resolved nodes' `reads`, `writes` and `outputs`.
"""

from ticket_assets.nodes.base import PLAN_COLUMNS, Node, PromptNode
from ticket_assets.nodes.context import NodeContext
from ticket_assets.nodes.pipeline import (
    Pipeline,
    build_pipeline,
    column_outputs,
    exported_columns,
    written_columns,
)
from ticket_assets.nodes.registry import (
    BUILTINS,
    NODES,
    REQUIRED_NODES,
    RESERVED_NAMES,
    STYLE_COLUMNS,
)

__all__ = [
    "BUILTINS",
    "NODES",
    "PLAN_COLUMNS",
    "REQUIRED_NODES",
    "RESERVED_NAMES",
    "STYLE_COLUMNS",
    "Node",
    "NodeContext",
    "Pipeline",
    "PromptNode",
    "build_pipeline",
    "column_outputs",
    "exported_columns",
    "written_columns",
]
