"""Nodes as plain Python: each one on the offline provider, no Dagster involved."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
import pytest

from ticket_assets.config import DEFAULT_PIPELINE, ModelConfig, RunConfig, build_config
from ticket_assets.llm.client import CostLimitError, LLMClient
from ticket_assets.llm.types import LLMRequest
from ticket_assets.nodes import BUILTINS, NODES, NodeContext, written_columns
from ticket_assets.plan import plan_frame
from ticket_assets.tables.loaded import tables_for


def _context(config: RunConfig, **providers: Any) -> NodeContext:
    tables = tables_for(config)
    return NodeContext(config, tables, LLMClient(config, tables, local_providers=providers))


def _run_pipeline(config: RunConfig, ctx: NodeContext) -> pd.DataFrame:
    frame = plan_frame(config, [("DE", "b0000"), ("EN", "b0000"), ("PT", "b0001")], 1)
    for name in config.pipeline:
        frame = NODES[name].run(frame, ctx)
    return frame


@pytest.fixture
def config() -> RunConfig:
    return build_config({"rows": 30, "batch_size": 5, "languages": ["DE", "EN", "PT"]})


def test_one_registry_of_builtin_nodes() -> None:
    """BUILTINS is the list of built-in nodes; each names its offline answer, which its
    requests carry to the offline provider, and the default pipeline names only built-in nodes."""
    assert tuple(NODES) == tuple(BUILTINS)
    for name, node_class in BUILTINS.items():
        assert node_class.name == name
        assert callable(node_class.offline_answer)
    assert set(DEFAULT_PIPELINE) <= set(BUILTINS)


def test_every_node_writes_its_columns(config: RunConfig) -> None:
    frame = plan_frame(config, [("DE", "b0000"), ("EN", "b0000")], dataset_code=1)
    ctx = _context(config)
    for name in config.pipeline:
        node = NODES[name]
        assert all(column in frame for column in node.reads), name
        frame = node.run(frame, ctx)
        for column in node.writes:
            assert frame[column].notna().all(), (name, column)
    assert list(frame.columns) == written_columns(config)
    assert frame["tags"].map(len).between(4, 8).all()


def test_translate_calls_only_where_language_differs(config: RunConfig) -> None:
    ctx = _context(config)
    result = _run_pipeline(config, ctx)
    translate_calls = [r for r in ctx.llm.ledger.records if r.node == "translate"]
    assert len(translate_calls) == (result["language"] != "EN").sum()
    assert {r.key for r in translate_calls} == set(result.loc[result.language != "EN", "ticket_id"])


def test_nodes_are_deterministic_for_a_seed(config: RunConfig) -> None:
    first = _run_pipeline(config, _context(config))
    again = _run_pipeline(config, _context(config))
    pd.testing.assert_frame_equal(first, again)
    reseeded = config.model_copy(update={"seed": 43})
    other = _run_pipeline(reseeded, _context(reseeded))
    assert (first["body"] != other["body"]).mean() > 0.5


def test_every_call_is_in_the_ledger_with_prompt_version(config: RunConfig) -> None:
    ctx = _context(config)
    _run_pipeline(config, ctx)
    records = ctx.llm.ledger.records
    assert {r.node for r in records} == set(config.pipeline)
    assert all(len(r.prompt_version) == 12 and r.input_tokens > 0 for r in records)


class _ScriptedProvider:
    """Answers from a script, one per call, and remembers the repair hints it got."""

    def __init__(self, answers: list[Any], cost: float = 0.0) -> None:
        self.answers = answers
        self.repairs: list[str | None] = []
        self.cost = cost

    def complete(self, request: LLMRequest, model: ModelConfig, repair: str | None) -> Any:
        self.repairs.append(repair)
        content = self.answers.pop(0)
        return type(
            "Answer",
            (),
            {"content": content, "input_tokens": 10, "output_tokens": 5, "cost_usd": self.cost},
        )()


def _topic_only(config: RunConfig, provider: _ScriptedProvider, rows: int = 1) -> NodeContext:
    scripted = config.with_model(model="scripted/test")
    ctx = _context(scripted, scripted=provider)
    frame = plan_frame(scripted, [("EN", "b0000")], 1).head(rows)
    NODES["topic"].run(frame, ctx)
    return ctx


def test_invalid_answer_is_reasked_with_the_error(config: RunConfig) -> None:
    provider = _ScriptedProvider([{"topic": ""}, "not json", {"topic": "Printer jams daily"}])
    ctx = _topic_only(config, provider)
    assert provider.repairs[0] is None
    assert "topic: must not be empty" in str(provider.repairs[1])
    assert [r.attempt for r in ctx.llm.ledger.records] == [1, 2, 3]


def test_a_ticket_still_invalid_after_repairs_is_quarantined_not_written(
    config: RunConfig,
) -> None:
    provider = _ScriptedProvider([{"topic": "Fix {customer_name} now"}] * 3 + [{"topic": "Ok"}])
    scripted = config.with_model(model="scripted/test")
    ctx = _context(scripted, scripted=provider)
    frame = plan_frame(scripted, [("EN", "b0000")], 1).head(2)
    result = NODES["topic"].run(frame, ctx)
    assert list(result["ticket_id"]) == [frame["ticket_id"].iloc[1]]
    [rejection] = ctx.llm.rejections
    assert rejection.key == frame["ticket_id"].iloc[0] and rejection.attempts == 3
    assert "template or markup residue '{customer_name}'" in rejection.reason
    assert (rejection.language, rejection.batch) == ("EN", "b0000")


def test_cost_limits_warn_and_error(config: RunConfig, caplog: pytest.LogCaptureFixture) -> None:
    limits = {"warn": 0.001, "error": 0.01}
    limited = config.model_copy(update={"cost_limits": config.cost_limits.model_validate(limits)})
    with caplog.at_level(logging.WARNING):
        _topic_only(limited, _ScriptedProvider([{"topic": "Printer jams"}], cost=0.005))
    assert "over cost_limits.warn" in caplog.text
    with pytest.raises(CostLimitError, match=r"cost \$0.020000, over cost_limits.error \$0.01"):
        _topic_only(limited, _ScriptedProvider([{"topic": "Printer jams"}], cost=0.02))
