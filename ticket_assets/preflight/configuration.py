"""What the configuration and its files say: tables, every prompt rendered for sample
tickets, providers, api_base URLs, the id space. The same for every run of a config, so the
Dagster code location checks them when it loads (definitions.py)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ticket_assets.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
)
from ticket_assets.core.ids import MAX_BATCH, ticket_id
from ticket_assets.llm.client import LLMClient
from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.llm.offline.declared import declared_answer
from ticket_assets.llm.types import LLMRequest
from ticket_assets.nodes import Node, NodeContext, build_pipeline
from ticket_assets.nodes.base import PLAN_COLUMNS, PromptNode
from ticket_assets.plan import batch_count, batch_key, rows_per_language
from ticket_assets.tables import Tables, TablesError
from ticket_assets.tables.fields import Vocabulary
from ticket_assets.tables.spec import Choice, Choices, Integer, Output, Text

MAX_BATCH_SIZE = 9999  # RunConfig.batch_size's bound: a partition's rows fit RRRR
SAMPLE_TEXT = "Sample text."


def load_tables(config: RunConfig) -> tuple[Tables | None, list[str]]:
    """Every table under tables_dir, validated (labels, weights, synonyms, phrase banks)."""
    try:
        return Tables.load(config.tables_path), []
    except TablesError as error:
        return None, [str(error)]


def prompt_problems(config: RunConfig, tables: Tables) -> list[str]:
    """Runs the pipeline in memory for one ticket per language, every node answered offline,
    so each prompt is compiled and rendered with exactly the columns its node gets there.
    Also reads the field tables and value lists the nodes draw from."""
    answers = SampleAnswers(tables, config.seed)
    pipeline = build_pipeline(config)
    providers = {config.model_for(name).provider for name in pipeline.names}
    client = LLMClient(
        config, tables, use_cache=False, local_providers=dict.fromkeys(providers, answers)
    )
    ctx = NodeContext(config, tables, client)
    frame = pd.DataFrame(
        [(ticket_id(0, code, 0, 0), code, batch_key(0)) for code in config.languages],
        columns=list(PLAN_COLUMNS),
    )
    problems: list[str] = []
    for name, node in pipeline.nodes.items():
        try:
            frame = _sample_step(node, frame, ctx, plugin=name in pipeline.plugins)
        except (ConfigError, TablesError) as error:
            problems.append(str(error))
            try:  # later nodes still get their inputs, so their prompts are checked too
                frame = with_sample_columns(frame, node, tables)
            except (ConfigError, TablesError):
                break
    return list(dict.fromkeys(problems))


def _sample_step(
    node: Node, frame: pd.DataFrame, ctx: NodeContext, *, plugin: bool
) -> pd.DataFrame:
    """The node's output for the sample tickets. A plug-in's own code is not run (it may
    have costs of its own), except a prompt node's, whose prompts are ours to check."""
    if not isinstance(node, PromptNode):
        return with_sample_columns(frame, node, ctx.tables)
    if not plugin:
        return node.run(frame, ctx)
    try:
        return node.run(frame, ctx)
    except (ConfigError, TablesError):
        raise
    except Exception:  # an answer model the offline provider cannot fill: not a config problem
        return with_sample_columns(frame, node, ctx.tables)


def with_sample_columns(frame: pd.DataFrame, node: Node, tables: Tables) -> pd.DataFrame:
    """`frame` with a plausible value in every column `node` writes, from its outputs."""
    values = {column: _sample_value(node.outputs.get(column), tables) for column in node.writes}
    return frame.assign(**{column: [value] * len(frame) for column, value in values.items()})


def _sample_value(output: Output | None, tables: Tables) -> Any:
    if isinstance(output, Integer):
        return output.minimum
    if isinstance(output, Choice):
        return output.values.resolve(tables).values[0]
    if isinstance(output, Choices):
        return list(output.values.resolve(tables).values[: max(output.min_items, 1)])
    return SAMPLE_TEXT


@dataclass(frozen=True)
class _SampleAnswer:
    content: dict[str, Any]
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


class SampleAnswers:
    """Answers every node as the offline provider would, whatever its model: the answers
    only feed the next node's prompt. A prompt-defined node's text outputs without examples
    (allowed for remote models) are answered with a placeholder."""

    def __init__(self, tables: Tables, seed: int) -> None:
        self._offline = OfflineProvider(tables, seed)
        self._seed = seed

    def complete(
        self, request: LLMRequest, model: ModelConfig, repair: str | None
    ) -> _SampleAnswer:
        declaration = getattr(request.output_model, "declaration", ())
        if declaration:
            examples = _with_examples(declaration)
            return _SampleAnswer(
                declared_answer(request.node, examples, request.variables, self._seed)
            )
        return _SampleAnswer(
            self._offline.respond(request.node, request.variables, answer=request.offline_answer)
        )


def _with_examples(
    declaration: tuple[tuple[str, Output, Vocabulary | None], ...],
) -> tuple[tuple[str, Output, Vocabulary | None], ...]:
    return tuple(
        (column, dataclasses.replace(output, examples=(SAMPLE_TEXT,)), vocabulary)
        if isinstance(output, Text) and not output.examples
        else (column, output, vocabulary)
        for column, output, vocabulary in declaration
    )


def _model_key(config: RunConfig, node: str, setting: str) -> tuple[str, ...]:
    """The config key a node's model setting comes from: its own entry or the default."""
    own = config.models.get(node)
    entry = node if own is not None and setting in own.model_fields_set else "default"
    return ("models", entry, setting)


def remote_settings(config: RunConfig, setting: str) -> dict[str, tuple[str, ...]]:
    """Each distinct value of a remote model setting, with the key of its first node."""
    found: dict[str, tuple[str, ...]] = {}
    for node in build_pipeline(config).remote_nodes:
        value = getattr(config.model_for(node), setting)
        if value:
            found.setdefault(value, _model_key(config, node, setting))
    return found


def provider_problems(config: RunConfig) -> list[str]:
    """Each remote model names a provider litellm knows."""
    models = remote_settings(config, "model")
    if not models:
        return []
    import litellm  # seconds to import: only for remote models

    litellm.suppress_debug_info = True  # else it prints a provider list on stdout
    problems = []
    for model, key in models.items():
        try:
            litellm.get_llm_provider(model)
        except Exception:  # litellm raises its BadRequestError, with a long text
            provider = model.split("/", 1)[0]
            problems.append(
                config.problem(
                    key,
                    f"{model!r}: litellm knows no provider {provider!r}; use one it lists "
                    "(openai/, anthropic/, openrouter/, together_ai/, ollama/, hosted_vllm/ "
                    "with api_base, ...: https://docs.litellm.ai/docs/providers)",
                )
            )
    return problems


def url_problems(config: RunConfig) -> list[str]:
    """Each remote model's api_base is an http(s) URL."""
    return [
        config.problem(
            key,
            f"{url!r} is not an http(s) URL; write it as http://host:port/v1 "
            "(e.g. http://127.0.0.1:8000/v1)",
        )
        for url, key in remote_settings(config, "api_base").items()
        if not is_http_url(url)
    ]


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.hostname)


def id_space_problems(config: RunConfig) -> list[str]:
    """The plan fits ticket ids `1 DDD L BBBB RRRR`: at most MAX_BATCH + 1 batches per
    language (a partition's rows fit RRRR, as batch_size is bounded)."""
    batches = batch_count(config)
    if batches <= MAX_BATCH + 1:
        return []
    code, rows = max(rows_per_language(config).items(), key=lambda item: item[1])
    most = _most_rows(config)
    return [
        config.problem(
            ("rows",),
            f"{config.rows} tickets need {batches} batches of {config.batch_size} for {code} "
            f"({rows} tickets), but ticket ids hold {MAX_BATCH + 1} batches per language; use "
            f"at most {most} rows with batch size {config.batch_size}, or a larger batch_size "
            f"(up to {MAX_BATCH_SIZE})",
        )
    ]


def _most_rows(config: RunConfig) -> int:
    """The largest `rows` whose plan fits the id space with this config's batch size."""
    low, high = 1, config.rows  # low fits, high does not
    while high - low > 1:
        middle = (low + high) // 2
        fits = batch_count(config.model_copy(update={"rows": middle})) <= MAX_BATCH + 1
        low, high = (middle, high) if fits else (low, middle)
    return low


def config_problems(config: RunConfig) -> list[str]:
    """Everything the configuration and its files decide, one line per problem."""
    problems = id_space_problems(config) + url_problems(config) + provider_problems(config)
    tables, table_problems = load_tables(config)
    problems += table_problems
    if tables is not None:
        problems += prompt_problems(config, tables)
    return problems
