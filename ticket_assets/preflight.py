"""Preflight: what a run can check before its first node, so that a bad table, prompt, model,
endpoint, data file or plan stops it at once, one line per problem, instead of failing in the
step that needs it after the nodes before it have generated (and paid for) every ticket.

- `config_problems`: what the configuration and its files say: tables, every prompt rendered
  for sample tickets, providers, api_base URLs, the id space. The same for every run of a
  config, so the Dagster code location checks them when it loads (definitions.py).
- `environment_problems`: what the machine says now: API keys, endpoints that answer, the
  DuckDB file and the LLM cache. Checked before the CLI's run and at the start of every
  Dagster run (`check_run_environment`).

Nothing here writes: a failing preflight leaves the data directory as it was. Every problem
names where the value came from (a flag, a config file line, a table or prompt file).
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

from ticket_assets.config import (
    ConfigError,
    ModelConfig,
    RunConfig,
)
from ticket_assets.fields import Vocabulary
from ticket_assets.ids import MAX_BATCH, ticket_id
from ticket_assets.llm.client import LLMClient
from ticket_assets.llm.offline import OfflineProvider
from ticket_assets.llm.offline.declared import declared_answer
from ticket_assets.llm.types import LLMRequest
from ticket_assets.nodes import Node, NodeContext, pipeline_nodes
from ticket_assets.nodes.base import PLAN_COLUMNS, PromptNode
from ticket_assets.nodes.spec import Choice, Choices, Integer, Output, Text
from ticket_assets.plan import batch_count, batch_key, rows_per_language
from ticket_assets.tables import Tables, TablesError

PROBE_TIMEOUT_S = 2.0
# A writer's transaction holds the DuckDB lock briefly; a lock held longer is another process's.
LOCK_WAIT_S = 5.0
MAX_BATCH_SIZE = 9999  # RunConfig.batch_size's bound: a partition's rows fit RRRR
SAMPLE_TEXT = "Sample text."


# --- the configuration -------------------------------------------------------------------------


def load_tables(config: RunConfig) -> tuple[Tables | None, list[str]]:
    """Every table under tables_dir, validated (labels, weights, synonyms, phrase banks)."""
    try:
        return Tables.load(config.resolve(config.tables_dir)), []
    except TablesError as error:
        return None, [str(error)]


def prompt_problems(config: RunConfig, tables: Tables) -> list[str]:
    """Runs the pipeline in memory for one ticket per language, every node answered offline,
    so each prompt is compiled and rendered with exactly the columns its node gets there.
    Also reads the field tables and value lists the nodes draw from."""
    answers = SampleAnswers(tables, config.seed)
    providers = {config.model_for(name).provider for name in config.pipeline}
    client = LLMClient(
        config, tables, use_cache=False, local_providers=dict.fromkeys(providers, answers)
    )
    ctx = NodeContext(config, tables, client)
    frame = pd.DataFrame(
        [(ticket_id(0, code, 0, 0), code, batch_key(0)) for code in config.languages],
        columns=list(PLAN_COLUMNS),
    )
    problems: list[str] = []
    for name, node in pipeline_nodes(config).items():
        try:
            frame = _sample_step(node, frame, ctx, plugin=name in config.plugins)
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
        return _SampleAnswer(self._offline.respond(request.node, request.variables))


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


def _remote_settings(config: RunConfig, setting: str) -> dict[str, tuple[str, ...]]:
    """Each distinct value of a remote model setting, with the key of its first node."""
    found: dict[str, tuple[str, ...]] = {}
    for node in config.remote_nodes:
        value = getattr(config.model_for(node), setting)
        if value:
            found.setdefault(value, _model_key(config, node, setting))
    return found


def provider_problems(config: RunConfig) -> list[str]:
    """Each remote model names a provider litellm knows."""
    models = _remote_settings(config, "model")
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
        for url, key in _remote_settings(config, "api_base").items()
        if not _is_http_url(url)
    ]


def _is_http_url(url: str) -> bool:
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


# --- the environment ---------------------------------------------------------------------------


def credential_problems(config: RunConfig) -> list[str]:
    """API keys the remote models' providers need, from the environment (names, not values)."""
    if not config.remote_nodes:
        return []
    from ticket_assets.llm.remote import missing_credentials

    return missing_credentials(config)


def endpoint_problems(config: RunConfig) -> list[str]:
    """Something answers at each api_base. Any HTTP answer will do (many servers lack
    /models, or want a key for it, which is never sent here); refused, unresolved or silent
    connections stop the run here rather than after its first calls."""
    problems = []
    for url, key in _remote_settings(config, "api_base").items():
        if not _is_http_url(url):
            continue  # url_problems says so
        failure = _unreachable(url)
        if failure:
            problems.append(
                config.problem(
                    key,
                    f"nothing answers at {_shown_url(url)} ({failure}); start the server, or "
                    "fix the URL",
                )
            )
    return problems


def _unreachable(url: str) -> str | None:
    """Why no HTTP answer came from `url`/models, or None when one did."""
    import httpx

    try:
        httpx.get(f"{url.rstrip('/')}/models", timeout=PROBE_TIMEOUT_S)
    except httpx.ConnectTimeout:
        return f"no connection within {PROBE_TIMEOUT_S:g} s"
    except httpx.ConnectError as error:
        from ticket_assets.llm.remote import connection_failure

        return connection_failure(error) or str(error)
    except httpx.HTTPError:
        return None  # connected: what the calls get is theirs to say
    return None


def _shown_url(url: str) -> str:
    """The URL without user, password or query, which may hold secrets."""
    parts = urlsplit(url)
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}{parts.path}"


def data_dir_problems(config: RunConfig) -> list[str]:
    """The data directory is one, or can be made, and can be written."""
    path = config.data_path
    existing = next(parent for parent in (path, *path.parents) if parent.exists())
    if not existing.is_dir():
        return [
            f"{existing}: not a directory, so the data directory {path} cannot be made; "
            "choose another (--data-dir or data_dir)"
        ]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [
            f"{existing}: not writable, so nothing can be stored in {path}; "
            "choose another data directory (--data-dir or data_dir)"
        ]
    return []


def database_problems(config: RunConfig) -> list[str]:
    """The DuckDB file, where it exists, is a database this process can open now."""
    from ticket_assets.orchestration.store import StoreLockedError, TicketStore

    path = config.database_path
    if not path.exists():
        return []
    if not path.is_file():
        return [_not_a_file(path, "DuckDB database")]
    import duckdb

    try:
        TicketStore(path, config.dataset, lock_timeout=LOCK_WAIT_S).table_exists("llm_calls")
    except StoreLockedError as error:
        return [f"{path}: {error}"]
    except duckdb.Error as error:
        return [
            f"{path}: not a readable DuckDB database ({_first_line(error)}); move it away, "
            "or choose another data directory (--data-dir or data_dir)"
        ]
    return _writable_file(path)


def cache_problems(config: RunConfig) -> list[str]:
    """The LLM cache (and journal of paid calls), where it exists, is a readable SQLite file;
    every step reads its journal."""
    path = config.cache_path
    if not path.exists():
        return []
    if not path.is_file():
        return [_not_a_file(path, "SQLite file")]
    try:
        _read_sqlite(path)
    except sqlite3.OperationalError as error:
        return [f"{path}: cannot read the LLM cache ({error}); is another program using it?"]
    except sqlite3.DatabaseError as error:
        return [
            f"{path}: the LLM cache is corrupt ({error}); delete it or run "
            "`python -m ticket_assets cache clear`"
        ]
    return _writable_file(path)


def _read_sqlite(path: Path) -> None:
    """Read every table of the file, read-only, so a damaged page shows now. Without a
    write-ahead log beside it the file is all there is: read as immutable, so that SQLite
    creates no -wal and -shm files next to it."""
    immutable = int(not Path(f"{path}-wal").exists())
    uri = f"{path.resolve().as_uri()}?mode=ro&immutable={immutable}"
    connection = sqlite3.connect(uri, uri=True, timeout=LOCK_WAIT_S)
    try:
        tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        for (table,) in tables.fetchall():
            connection.execute(f'SELECT count(*) FROM "{table}"').fetchone()
    finally:
        connection.close()


def _not_a_file(path: Path, kind: str) -> str:
    return (
        f"{path}: is a directory or special file, not a {kind}; move it away, or choose "
        "another data directory (--data-dir or data_dir)"
    )


def _writable_file(path: Path) -> list[str]:
    if os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK):
        return []
    return [f"{path}: not writable; fix its permissions or choose another data directory"]


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def environment_problems(config: RunConfig, *, nodes: bool = True) -> list[str]:
    """What the machine must offer now; `nodes`: the run generates (keys and endpoints)."""
    problems = credential_problems(config) + endpoint_problems(config) if nodes else []
    problems += data_dir_problems(config)
    return problems + database_problems(config) + cache_problems(config)


# --- entry points ------------------------------------------------------------------------------


def preflight(config: RunConfig, *, nodes: bool = True) -> None:
    """Every check before a CLI run (`nodes`) or export; ConfigError with one line per
    problem."""
    problems = environment_problems(config, nodes=nodes)
    if nodes:
        problems = config_problems(config) + problems
    else:
        problems = id_space_problems(config) + load_tables(config)[1] + problems
    _raise_if_any(problems)


def check_config(config: RunConfig) -> None:
    """The configuration's own checks, for the Dagster code location (definitions.py)."""
    _raise_if_any(config_problems(config))


_checked_runs: set[str] = set()


def check_run_environment(config: RunConfig, run_id: str) -> None:
    """The environment checks, once per Dagster run (its first step), before any call."""
    if run_id in _checked_runs:
        return
    _raise_if_any(environment_problems(config))
    _checked_runs.add(run_id)


def _raise_if_any(problems: list[str]) -> None:
    if problems:
        raise ConfigError("\n".join(problems))
