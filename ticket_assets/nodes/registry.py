"""The registry of nodes a `pipeline` entry can name: the built-in nodes (`BUILTINS`, the one
list of them), prompt-defined nodes (`prompts/<name>.yaml` with `reads` and `outputs`, see
nodes/declared.py) and plug-in nodes (`package.module:Class`, a class following the `Node`
contract)."""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ticket_assets.nodes.base import Node, PromptNode
from ticket_assets.nodes.declared import load_declared_node
from ticket_assets.nodes.email_draft import EmailDraftNode
from ticket_assets.nodes.first_response import FirstResponseNode
from ticket_assets.nodes.paraphrase import ParaphraseNode
from ticket_assets.nodes.tagging import TaggingNode
from ticket_assets.nodes.topic import SAMPLED_COLUMNS, TopicNode
from ticket_assets.nodes.translate import TranslateNode
from ticket_assets.tables.spec import COLUMN_NAME, Output, parse_outputs

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig


def _runs_offline(node_class: type[Node]) -> type[Node]:
    # Every built-in node runs on the default (offline) provider: fail at import if one can't.
    if issubclass(node_class, PromptNode) and node_class.offline_answer is None:
        raise LookupError(f"built-in node {node_class.name!r} has no offline_answer")
    return node_class


# The built-in nodes, in pipeline order: adding one is its module (with its `offline_answer`)
# and one line here.
BUILTINS: Mapping[str, type[Node]] = {
    node_class.name: _runs_offline(node_class)
    for node_class in (
        TopicNode,
        EmailDraftNode,
        TaggingNode,
        ParaphraseNode,
        TranslateNode,
        FirstResponseNode,
    )
}
# The built-in nodes as the default configuration has them (no sampled fields).
NODES: dict[str, Node] = {name: node_class() for name, node_class in BUILTINS.items()}
# The ticket is not a ticket without these; the other nodes may be dropped.
REQUIRED_NODES = ("topic", "email_draft")
# Asset and table names a node cannot take.
RESERVED_NAMES = ("tickets_export", "cost_report", "quality_report", "llm_calls")
# Sampled columns a node's prompt can receive as `style` (besides configured fields).
STYLE_COLUMNS = tuple(c for c in SAMPLED_COLUMNS if c not in ("customer_name", "agent_name"))


def resolve_names(config: RunConfig) -> tuple[tuple[str, ...], dict[str, str]]:
    """The pipeline's node names, and the `module:Class` entry of each plug-in node.
    Raises ValueError (a config error on `pipeline`) for an entry that names no node."""
    names: list[str] = []
    plugins: dict[str, str] = {}
    prompts_dir = config.prompts_path
    for entry in config.pipeline:
        if ":" in entry:
            name = load_plugin(entry).name
            plugins[name] = entry
        elif entry in NODES or (prompts_dir / f"{entry}.yaml").is_file():
            name = entry
        else:
            raise ValueError(
                f"pipeline: unknown node {entry!r}; allowed: {', '.join(NODES)}, a prompt file "
                f"{prompts_dir}/<name>.yaml with reads and outputs, or a plug-in module:Class"
            )
        if name in names:
            raise ValueError(f"pipeline: node {name!r} appears twice; a node may appear only once")
        if not COLUMN_NAME.fullmatch(name) or name in RESERVED_NAMES:
            raise ValueError(
                f"pipeline: {name!r} cannot name a node; use lower-case letters, digits and _, "
                f"and none of {', '.join(RESERVED_NAMES)}"
            )
        names.append(name)
    return tuple(names), plugins


def node_named(config: RunConfig, name: str, plugins: Mapping[str, str]) -> Node:
    """The node `name` (resolved by `resolve_names`) as this config has it."""
    entry = plugins.get(name)
    if entry is not None:
        return load_plugin(entry)
    if name == "topic":
        return TopicNode(config.fields)
    if name in NODES:
        return NODES[name]
    return load_declared_node(config.prompts_path / f"{name}.yaml")


@functools.cache
def load_plugin(entry: str) -> Node:
    """An instance of the plug-in node class `package.module:Class`, checked against the
    Node contract; `outputs` may be written as mappings, as in prompt files."""
    module_name, _, class_name = entry.partition(":")
    where = f"pipeline: plug-in node {entry!r}"
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"{where}: cannot import {module_name!r} ({error})") from None
    except Exception as error:  # the plug-in's own code failed while importing
        raise ValueError(f"{where}: importing failed: {type(error).__name__}: {error}") from None
    node_class = getattr(module, class_name, None)
    if not isinstance(node_class, type):
        raise ValueError(f"{where}: module {module_name!r} has no class {class_name!r}")
    try:
        node = node_class()
    except Exception as error:
        raise ValueError(
            f"{where}: {class_name}() failed: {type(error).__name__}: {error}"
        ) from None
    for attribute in ("name", "reads", "writes"):
        if not hasattr(node, attribute):
            raise ValueError(f"{where}: the class lacks {attribute!r} (see the Node contract)")
    if not isinstance(node.name, str) or node.name in NODES:
        raise ValueError(f"{where}: name must be a text other than a built-in node's")
    for attribute in ("reads", "writes"):
        columns = getattr(node, attribute)
        if not isinstance(columns, tuple | list) or not all(isinstance(c, str) for c in columns):
            raise ValueError(f"{where}: {attribute} must be a tuple of column names")
    if not callable(getattr(node, "run", None)):
        raise ValueError(f"{where}: the class lacks run(frame, ctx)")
    outputs = getattr(node, "outputs", None) or {}
    if not isinstance(outputs, Mapping) or not all(isinstance(o, Output) for o in outputs.values()):
        outputs = parse_outputs(outputs, where)
    node.outputs = outputs
    if not hasattr(node, "description"):
        node.description = (node_class.__doc__ or entry).strip()
    return node
