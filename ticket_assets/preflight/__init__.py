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

from ticket_assets.config import ConfigError, RunConfig
from ticket_assets.nodes import build_pipeline
from ticket_assets.preflight.configuration import config_problems, id_space_problems, load_tables
from ticket_assets.preflight.environment import environment_problems

__all__ = [
    "check_config",
    "check_run_environment",
    "config_problems",
    "environment_problems",
    "preflight",
]


def preflight(config: RunConfig, *, nodes: bool = True) -> None:
    """Every check before a CLI run (`nodes`) or export; ConfigError with one line per
    problem."""
    build_pipeline(config)  # a pipeline that cannot run: its one line, before anything else
    problems = environment_problems(config, nodes=nodes)
    if nodes:
        problems = config_problems(config) + problems
    else:
        problems = id_space_problems(config) + load_tables(config)[1] + problems
    _raise_if_any(problems)


def check_config(config: RunConfig) -> None:
    """The configuration's own checks, for the Dagster code location (definitions.py)."""
    build_pipeline(config)
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
