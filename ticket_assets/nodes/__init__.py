"""The nodes of a configured pipeline, and the check that they can run in their order.

A `pipeline` entry names a built-in node, a prompt-defined node (`prompts/<name>.yaml` with
`reads` and `outputs`, see nodes/declared.py) or a plug-in node (`package.module:Class`, a
class following the `Node` contract). All three are resolved here, and everything
downstream (the pipeline check, pandera rules, export columns, Dagster assets) works from
the resolved nodes' `reads`, `writes` and `outputs`.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from ticket_assets.fields import GIVEN_COLUMNS
from ticket_assets.nodes.base import PLAN_COLUMNS, Node, NodeContext, PromptNode
from ticket_assets.nodes.declared import DeclaredNode, load_declared_node
from ticket_assets.nodes.email_draft import EmailDraftNode
from ticket_assets.nodes.first_response import FirstResponseNode
from ticket_assets.nodes.paraphrase import ParaphraseNode
from ticket_assets.nodes.spec import COLUMN_NAME, FromTable, Output, Text, parse_outputs
from ticket_assets.nodes.tagging import TaggingNode
from ticket_assets.nodes.topic import SAMPLED_COLUMNS, TopicNode
from ticket_assets.nodes.translate import TranslateNode

if TYPE_CHECKING:
    from ticket_assets.config import RunConfig

# The built-in nodes as the default configuration has them (no sampled fields).
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
# Asset and table names a node cannot take.
RESERVED_NAMES = ("tickets_export", "cost_report", "quality_report", "llm_calls")
# Sampled columns a node's prompt can receive as `style` (besides configured fields).
STYLE_COLUMNS = tuple(c for c in SAMPLED_COLUMNS if c not in ("customer_name", "agent_name"))


def resolve_pipeline(config: RunConfig) -> tuple[tuple[str, ...], dict[str, str]]:
    """The pipeline's node names, and the `module:Class` entry of each plug-in node.
    Raises ValueError (a config error on `pipeline`) for an entry that names no node."""
    names: list[str] = []
    plugins: dict[str, str] = {}
    prompts_dir = config.resolve(config.prompts_dir)
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


def node_for(config: RunConfig, name: str) -> Node:
    """The node `name` of the configured pipeline."""
    entry = config.plugins.get(name)
    if entry is not None:
        return load_plugin(entry)
    if name == "topic":
        return TopicNode(config.fields)
    if name in NODES:
        return NODES[name]
    return load_declared_node(config.resolve(config.prompts_dir) / f"{name}.yaml")


def pipeline_nodes(config: RunConfig) -> dict[str, Node]:
    return {name: node_for(config, name) for name in config.pipeline}


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


def check_pipeline(config: RunConfig) -> None:
    """Raise ValueError (reported as a config error naming the key) if the pipeline, its
    fields or its styles cannot run as configured."""
    nodes = pipeline_nodes(config)
    for required in REQUIRED_NODES:
        if required not in nodes:
            raise ValueError(f"pipeline: the pipeline needs node {required!r}")
    _check_fields(config, nodes)
    _check_value_tables(config, nodes)
    available = set(PLAN_COLUMNS)
    names = list(nodes)
    for position, (name, node) in enumerate(nodes.items()):
        missing = [column for column in node.reads if column not in available]
        if missing:
            raise ValueError(_order_problem(name, missing, names[position:], nodes))
        available.update(node.writes)
        if isinstance(node, DeclaredNode) and config.model_for(name).provider == "offline":
            silent = [c for c, o in node.outputs.items() if isinstance(o, Text) and not o.examples]
            if silent:
                raise ValueError(
                    f"pipeline: node {name!r} runs offline, but its string output {silent[0]!r} "
                    "has no examples to answer with; add examples in its prompt file or give "
                    f"it a model (models.{name})"
                )
    _check_styles(config, nodes)
    foreign = [code for code in config.languages if code != config.source_language]
    if "translate" not in nodes and not config.draft_in_target_language and foreign:
        raise ValueError(
            f"pipeline: without translate, tickets in {', '.join(foreign)} would stay in "
            f"{config.source_language}; add translate or set draft_in_target_language: true"
        )


def _order_problem(
    name: str, missing: list[str], rest: list[str], nodes: Mapping[str, Node]
) -> str:
    """Why `name` cannot read `missing`: a later node writes it, only it does, or none does."""
    later = [n for n in rest[1:] if any(c in nodes[n].writes for c in missing)]
    reads = f"pipeline: node {name!r} reads {', '.join(missing)}"
    if later:
        return f"{reads}, which no earlier node writes; move it after {', '.join(later)}"
    if any(c in nodes[name].writes for c in missing):
        return f"{reads}, which only it writes (a cycle); it can only read what earlier nodes write"
    builtin = sorted({n for n, node in NODES.items() for c in missing if c in node.writes})
    if builtin:
        return f"{reads}, which no node in the pipeline writes; add {', '.join(builtin)} before it"
    return f"{reads}, which no node writes and no field (config fields) draws"


def _check_fields(config: RunConfig, nodes: Mapping[str, Node]) -> None:
    tables_dir = config.resolve(config.tables_dir)
    taken = {*PLAN_COLUMNS, *(c for node in NODES.values() for c in node.writes)}
    taken |= {c for n, node in nodes.items() if n != "topic" for c in node.writes}
    earlier: list[str] = []
    for name, field in config.fields.items():
        if not COLUMN_NAME.fullmatch(name):
            raise ValueError(f"fields: {name!r} is not a column name; use a-z, 0-9 and _")
        if name in taken:
            raise ValueError(f"fields: {name!r} is already a column a node writes; rename it")
        if not (tables_dir / field.table).is_file():
            raise ValueError(f"fields.{name}.table: {tables_dir / field.table} does not exist")
        for column in field.given:
            if column not in GIVEN_COLUMNS and column not in earlier:
                raise ValueError(
                    f"fields.{name}.given: a field cannot depend on {column!r}; allowed: "
                    f"{', '.join(GIVEN_COLUMNS)} or a field listed before it"
                )
        earlier.append(name)


def _check_value_tables(config: RunConfig, nodes: Mapping[str, Node]) -> None:
    """Tables that outputs take their values from exist (their content is checked on use)."""
    tables_dir = config.resolve(config.tables_dir)
    for name, node in nodes.items():
        for column, output in node.outputs.items():
            source = getattr(output, "values", None)
            if isinstance(source, FromTable) and not (tables_dir / source.table).is_file():
                raise ValueError(
                    f"pipeline: node {name!r}: the values of {column!r} come from "
                    f"{tables_dir / source.table}, which does not exist"
                )


def _check_styles(config: RunConfig, nodes: Mapping[str, Node]) -> None:
    allowed = (*STYLE_COLUMNS, *config.fields)
    for name, columns in config.styles.items():
        if not isinstance(nodes.get(name), PromptNode):
            prompted = [n for n, node in nodes.items() if isinstance(node, PromptNode)]
            raise ValueError(
                f"styles: {name!r} is not a node of the pipeline with a prompt; "
                f"allowed: {', '.join(prompted)}"
            )
        for column in columns:
            if column not in allowed:
                raise ValueError(
                    f"styles.{name}: {column!r} is not a sampled column; allowed: "
                    f"{', '.join(allowed)} (add style fields under fields)"
                )


def written_columns(config: RunConfig) -> list[str]:
    """Every column the pipeline's frames end with, in first-written order."""
    columns = list(PLAN_COLUMNS)
    for node in pipeline_nodes(config).values():
        columns += [c for c in node.writes if c not in columns]
        if isinstance(node, PromptNode):
            columns.append(node.version_column)
    return columns


def column_outputs(config: RunConfig) -> dict[str, Output]:
    """The declared type of every column the pipeline writes (the last writer's)."""
    outputs: dict[str, Output] = {}
    for node in pipeline_nodes(config).values():
        outputs.update(node.outputs)
    return outputs


def exported_columns(config: RunConfig) -> list[str]:
    """Written columns the export includes, in first-written order (those declared with
    `export: false`, such as the personas and names behind a ticket, stay internal)."""
    return [column for column, output in column_outputs(config).items() if output.export]


__all__ = [
    "NODES",
    "Node",
    "NodeContext",
    "check_pipeline",
    "column_outputs",
    "exported_columns",
    "node_for",
    "pipeline_nodes",
    "written_columns",
]
