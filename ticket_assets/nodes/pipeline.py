"""`build_pipeline(config) -> Pipeline`: the configured pipeline resolved to nodes once, and
proved runnable in its order (every node's inputs exist by the time it runs).

Everything downstream (pandera rules, export columns, Dagster assets, preflight, estimate)
works from the resolved nodes' `reads`, `writes` and `outputs`.
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from ticket_assets.config import ConfigError, RunConfig, unknown_model_key
from ticket_assets.nodes.base import PLAN_COLUMNS, Node, PromptNode
from ticket_assets.nodes.declared import DeclaredNode
from ticket_assets.nodes.registry import (
    NODES,
    REQUIRED_NODES,
    STYLE_COLUMNS,
    node_named,
    resolve_names,
)
from ticket_assets.tables.fields import GIVEN_COLUMNS
from ticket_assets.tables.spec import COLUMN_NAME, FromTable, Output, Text


@dataclass(frozen=True)
class Pipeline:
    """The nodes of one configuration, in order."""

    names: tuple[str, ...]  # node names in pipeline order
    nodes: Mapping[str, Node]  # name -> node, in pipeline order
    plugins: Mapping[str, str]  # plug-in node name -> its `module:Class` entry
    remote_nodes: tuple[str, ...]  # nodes whose model is not the offline provider


# One Pipeline per config object. RunConfig is frozen but holds dicts, so it cannot key a
# functools cache or a WeakKeyDictionary, and the config layer keeps nothing of ours: the
# entry is keyed by identity and dropped when the config is (weakref callback). A copy
# (model_copy, with_model) is another object and gets its own pipeline.
_BUILT: dict[int, tuple[weakref.ref[RunConfig], Pipeline]] = {}


def build_pipeline(config: RunConfig) -> Pipeline:
    """The pipeline of `config`, resolved and checked on first use. Raises ConfigError, one
    line naming the setting and where it came from, if it cannot run as configured."""
    key = id(config)
    known = _BUILT.get(key)
    if known is not None and known[0]() is config:
        return known[1]
    try:
        pipeline = _build(config)
    except ValueError as error:  # ConfigError too: placed at the setting it names
        raise ConfigError(config.problem((), str(error))) from None
    _BUILT[key] = (weakref.ref(config, lambda ref: _forget(key, ref)), pipeline)
    return pipeline


def _forget(key: int, ref: weakref.ref[RunConfig]) -> None:
    known = _BUILT.get(key)
    if known is not None and known[0] is ref:
        del _BUILT[key]


def _build(config: RunConfig) -> Pipeline:
    names, plugins = resolve_names(config)
    # RunConfig checks the keys of `models` as it loads, before their settings, unless a
    # plug-in's name has to be imported first; the same rule, now with every name known.
    problem = unknown_model_key(config.models, names)
    if problem:
        raise ValueError(f"models: {problem}")
    nodes = {name: node_named(config, name, plugins) for name in names}
    check_nodes(config, nodes)
    remote = tuple(name for name in names if config.model_for(name).provider != "offline")
    return Pipeline(names, MappingProxyType(nodes), MappingProxyType(plugins), remote)


def check_nodes(config: RunConfig, nodes: Mapping[str, Node]) -> None:
    """Raise ValueError (reported as a config error naming the key) if the pipeline, its
    fields or its styles cannot run as configured."""
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
    tables_dir = config.tables_path
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
    tables_dir = config.tables_path
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
    for node in build_pipeline(config).nodes.values():
        columns += [c for c in node.writes if c not in columns]
        if isinstance(node, PromptNode):
            columns.append(node.version_column)
    return columns


def column_outputs(config: RunConfig) -> dict[str, Output]:
    """The declared type of every column the pipeline writes (the last writer's)."""
    outputs: dict[str, Output] = {}
    for node in build_pipeline(config).nodes.values():
        outputs.update(node.outputs)
    return outputs


def exported_columns(config: RunConfig) -> list[str]:
    """Written columns the export includes, in first-written order (those declared with
    `export: false`, such as the personas and names behind a ticket, stay internal)."""
    return [column for column, output in column_outputs(config).items() if output.export]
