"""Staleness as an asset check: after a translate-only rerun, `first_response`'s
`in_sync_with_upstream` check fails for exactly the partitions translated again, in the
translate run itself, and passes again once first_response is refreshed. In process, then
through the real UI: GraphQL as the asset page loads it, and the graph in a browser (the
screenshots docs/img/stale-partition.png and docs/img/cost-per-partition.png)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest
import yaml
from playwright.sync_api import Page, expect

from ticket_assets.config import RunConfig
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import FULL_JOB, TRANSLATE_JOB
from ticket_assets.orchestration.partitions import (
    full_range_tags,
    partition_key,
    register_batches,
    split_keys,
)
from ticket_assets.orchestration.staleness import CHECK_NAME
from ticket_assets.storage import TicketStore
from ticket_assets_tests.conftest import CANARY_KEY
from ticket_assets_tests.dagster_ui import ROOT, DagsterUI, running_ui, screenshot, small_config
from ticket_assets_tests.fake_llm_server import fake_llm_server
from ticket_assets_tests.test_partition_metadata import expected_figures

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
PARTITIONS = [f"{batch}|{language}" for batch in ("b0000", "b0001") for language in ("DE", "EN")]
STALE_SCREENSHOT = ROOT / "docs" / "img" / "stale-partition.png"
COST_SCREENSHOT = ROOT / "docs" / "img" / "cost-per-partition.png"


def latest_evaluation(instance: dg.DagsterInstance, node: str) -> dg.AssetCheckEvaluation:
    key = dg.AssetCheckKey(dg.AssetKey(node), CHECK_NAME)
    [record] = instance.event_log_storage.get_asset_check_execution_history(key, limit=1)
    assert record.event is not None and record.event.dagster_event is not None
    return record.event.dagster_event.asset_check_evaluation_data


def test_a_translate_only_rerun_makes_first_response_stale_until_it_is_refreshed(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    defs = build_definitions(small_config)
    full = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(small_config)
    )
    assert full.success
    evaluations = {
        e.asset_key.to_user_string(): e
        for e in full.get_asset_check_evaluations()
        if e.check_name == CHECK_NAME
    }
    assert sorted(evaluations) == sorted(NODES)
    assert all(e.passed for e in evaluations.values())
    assert evaluations["first_response"].metadata["partitions_compared"].value == 4

    # The CLI's translate-only job, for one partition: the check of first_response (not in
    # the run) is evaluated in it and fails for exactly that partition.
    rerun = defs.resolve_job_def(TRANSLATE_JOB).execute_in_process(
        instance=instance, partition_key=partition_key("DE", "b0001")
    )
    assert rerun.success
    stale = latest_evaluation(instance, "first_response")
    assert not stale.passed
    assert stale.metadata["stale_partitions"].value == 1
    assert stale.metadata["partitions"].value == "b0001|DE"
    assert "b0001|DE" in (stale.description or "")
    assert latest_evaluation(instance, "translate").passed  # translate itself is current

    # Refreshing first_response for that partition clears it.
    refresh = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance,
        partition_key=partition_key("DE", "b0001"),
        asset_selection=[dg.AssetKey("first_response")],
    )
    assert refresh.success
    fresh = latest_evaluation(instance, "first_response")
    assert fresh.passed and fresh.metadata["stale_partitions"].value == 0


def test_the_first_node_passes_and_a_topic_rerun_flags_email_draft(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    register_batches(instance, small_config)
    job = build_definitions(small_config).resolve_job_def(FULL_JOB)
    assert job.execute_in_process(instance=instance, tags=full_range_tags(small_config)).success
    rerun = job.execute_in_process(
        instance=instance,
        partition_key=partition_key("EN", "b0000"),
        asset_selection=[dg.AssetKey("topic")],
    )
    assert rerun.success
    assert latest_evaluation(instance, "topic").passed
    stale = latest_evaluation(instance, "email_draft")
    assert not stale.passed and stale.metadata["partitions"].value == "b0000|EN"
    # Further downstream nothing changed yet: tagging is as new as email_draft.
    assert latest_evaluation(instance, "tagging").passed


def _ui_config(directory: Path, url: str) -> Path:
    """The UI tests' small config (2 languages x 2 batches of 4 tickets), with first_response
    answered by the fake OpenAI-compatible server, so that its calls cost something."""
    path = small_config(directory)
    raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    raw["models"]["first_response"] = {"model": "openai/gpt-4o-mini", "api_base": url}
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


def _assert_metadata_is_the_partitions_own(ui: DagsterUI, database: Path) -> None:
    """For sampled partitions, the metadata the asset page loads equals DuckDB's rows and the
    ledger's sums for the run that materialized the partition."""
    store = TicketStore(database, "support_tickets")
    for node, partition in [
        ("topic", "b0000|DE"),
        ("translate", "b0001|DE"),
        *(("first_response", key) for key in PARTITIONS),
    ]:
        run_id, metadata = ui.latest_materialization(node, partition)
        ((language, batch),) = split_keys([partition])
        expected = expected_figures(store, node, language, batch, run_id)
        assert {key: metadata[key] for key in expected} == pytest.approx(expected), partition
        assert CANARY_KEY not in str(metadata)
    _, paid = ui.latest_materialization("first_response", "b0001|EN")
    assert paid["llm/cost_usd"] > 0 and paid["llm/calls"] == paid["dagster/row_count"] == 4


def _stale_graph(page: Page) -> None:
    """The lineage once every node shows its checks: first_response, and only it, red."""
    for name in NODES:
        expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=60_000)
    expect(page.get_by_text("1 / 2 Passed")).to_have_count(1, timeout=60_000)
    node = page.locator("div", has=page.get_by_text("first_response", exact=True))
    expect(node.filter(has=page.get_by_text("1 / 2 Passed")).last).to_be_visible()
    expect(page.get_by_text("100% filled")).to_have_count(len(NODES), timeout=60_000)
    page.screenshot(path=str(STALE_SCREENSHOT))


def _cost_plot(page: Page) -> None:
    """The asset page's plot of first_response's cost per partition."""
    page.get_by_role("button", name="Plots").click()
    label = page.get_by_text("llm/cost_usd", exact=True)
    label.scroll_into_view_if_needed()
    plot = page.locator("div", has=label).filter(has=page.locator("canvas")).last
    expect(plot.locator("canvas")).to_be_visible(timeout=60_000)
    plot.screenshot(path=str(COST_SCREENSHOT))


def test_from_the_ui_metadata_is_per_partition_and_a_translate_rerun_shows_stale(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)  # the UI's runs inherit it
    with (
        fake_llm_server() as (url, _),
        running_ui(_ui_config(tmp_path, url), tmp_path / "dagster_home", tmp_path) as ui,
    ):
        assert ui.backfill(NODES, PARTITIONS) == "COMPLETED_SUCCESS"
        _assert_metadata_is_the_partitions_own(ui, tmp_path / "data" / "tickets.duckdb")
        assert all(ui.check_status(node, CHECK_NAME)[0] == "SUCCEEDED" for node in NODES)
        screenshot(f"{ui.url}/assets/first_response", _cost_plot)

        assert ui.backfill(["translate"], ["b0001|DE"]) == "COMPLETED_SUCCESS"
        status, metadata = ui.check_status("first_response", CHECK_NAME)
        assert status == "FAILED" and metadata["partitions"] == "b0001|DE"
        assert metadata["stale_partitions"] == 1
        others = [ui.check_status(node, CHECK_NAME)[0] for node in NODES[:-1]]
        assert others == ["SUCCEEDED"] * len(others)
        graph = f"{ui.url}/locations/ticket_assets/asset-groups/tickets/lineage"
        screenshot(graph, _stale_graph)

        assert ui.backfill(["first_response"], ["b0001|DE"]) == "COMPLETED_SUCCESS"
        status, metadata = ui.check_status("first_response", CHECK_NAME)
        assert status == "SUCCEEDED" and metadata["stale_partitions"] == 0
