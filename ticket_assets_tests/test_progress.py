"""Progress while a run works: a step's calls reported through its logger (llm/progress.py),
and the CLI's progress line built from those records (cli/progress.py)."""

from __future__ import annotations

import logging

import pytest

from ticket_assets.cli.progress import RunProgress
from ticket_assets.config import RunConfig
from ticket_assets.core.progress import PROGRESS_EXTRA, CallProgress
from ticket_assets.llm import progress as llm_progress
from ticket_assets.llm.types import CallRecord


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.progress: list[CallProgress] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.progress.append(getattr(record, PROGRESS_EXTRA))


def _record(cost: float, attempt: int = 1) -> CallRecord:
    return CallRecord(
        node="translate",
        key="t",
        model="openai/gpt-4o-mini",
        provider="openai",
        prompt_version="v",
        input_tokens=10,
        output_tokens=5,
        cost_usd=cost,
        latency_s=0.1,
        attempt=attempt,
    )


def test_a_step_reports_its_calls_now_and_then_and_once_at_the_end(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(llm_progress, "INTERVAL_S", 0.0)  # report on every call
    records = _Records()
    logger = logging.Logger("test")
    logger.addHandler(records)
    reporter = llm_progress.ProgressLog("translate", 4, logger)
    reporter.add(_record(0.01))
    reporter.add(_record(0.01, attempt=2))  # a repair: paid for, the same ticket
    reporter.finish()
    first, repair, final = records.progress
    assert (first.done, first.spent_usd, first.projected_usd) == (1, 0.01, pytest.approx(0.04))
    assert (repair.done, repair.spent_usd) == (1, pytest.approx(0.02))
    assert final.final and final.done == 4 and final.spent_usd == pytest.approx(0.02)


def test_the_progress_line_projects_the_run_from_the_cost_per_ticket(
    small_config: RunConfig,
) -> None:
    config = small_config.with_model(model="openai/gpt-4o-mini", api_base=None)
    nodes = ["topic", "email_draft"]
    line = RunProgress(config, nodes)
    try:
        assert line._spend() == ["$0.0000 spent"]
        line.report(CallProgress("topic", config.rows, done=6, spent_usd=0.06))
        # 24 tickets per node, 6 done for $0.06: 42 to come at $0.01.
        assert line._spend() == ["$0.0600 spent", "about $0.4800 in all"]
        line.report(CallProgress("topic", config.rows, config.rows, spent_usd=0.12, final=True))
        assert line._spend() == ["$0.1200 spent", "about $0.2400 in all"]
    finally:
        line.close()
