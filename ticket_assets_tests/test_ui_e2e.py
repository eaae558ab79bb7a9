"""The UI path for real: `python -m ticket_assets ui` (what `make ui` runs) in its own process
group, backfills launched through GraphQL as the UI launches them, rows checked in DuckDB."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest
import yaml
from playwright.sync_api import Page, expect

from ticket_assets.orchestration.assets import llm_pool
from ticket_assets_tests.dagster_ui import ROOT, DagsterUI, running_ui, screenshot, small_config
from ticket_assets_tests.fake_llm_server import fake_llm_server

NODES = ["topic", "email_draft", "tagging", "paraphrase", "translate", "first_response"]
SCREENSHOT = ROOT / "docs" / "img" / "asset_graph.png"
# The pool of every node in the overlapping-backfills test (offline steps are in none).
POOL = llm_pool("hosted_vllm")


@pytest.fixture
def dagster_ui(tmp_path: Path) -> Iterator[DagsterUI]:
    """The UI on a fresh instance and a small config: 2 languages x 2 batches of 4 tickets."""
    home = tmp_path / "dagster_home"
    with running_ui(small_config(tmp_path), home, tmp_path) as ui:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            # `ui` registered the configured batches before the server started.
            assert instance.get_dynamic_partitions("support_tickets_batch") == ["b0000", "b0001"]
        yield ui


@pytest.fixture
def remote_ui(tmp_path: Path) -> Iterator[DagsterUI]:
    """The UI with every node on a self-hosted model (no key) served by the fake server, so
    every node step is in that provider's pool."""
    config = small_config(tmp_path)
    with fake_llm_server() as (url, _):
        raw = yaml.safe_load(config.read_text(encoding="utf-8"))
        raw["models"] = {"default": {"model": "hosted_vllm/test-model", "api_base": url}}
        config.write_text(yaml.safe_dump(raw), encoding="utf-8")
        with running_ui(config, tmp_path / "dagster_home", tmp_path) as ui:
            yield ui


def _rows(database: Path, table: str) -> list[tuple[str, str, int]]:
    with duckdb.connect(str(database), read_only=True) as con:
        return con.execute(
            f"SELECT language, batch, count(*) FROM support_tickets.{table} "
            "GROUP BY ALL ORDER BY ALL"
        ).fetchall()


def _screenshot_asset_graph(url: str, path: Path) -> None:
    """Open the `tickets` group's lineage in headless Chromium, wait until every node card
    shows its partitions, and save a 1600x600 picture of it."""

    def shoot(page: Page) -> None:
        for name in NODES:
            expect(page.get_by_text(name, exact=True)).to_be_visible(timeout=60_000)
        expect(page.get_by_text("100% filled")).to_have_count(len(NODES), timeout=60_000)
        path.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(path))

    screenshot(f"{url}/locations/ticket_assets/asset-groups/tickets/lineage", shoot)


def test_backfill_from_the_ui_then_translate_alone(dagster_ui: DagsterUI, tmp_path: Path) -> None:
    partitions = [
        f"{batch}|{language}" for batch in ("b0000", "b0001") for language in ("DE", "EN")
    ]
    assert dagster_ui.backfill(NODES, partitions) == "COMPLETED_SUCCESS"
    database = tmp_path / "data" / "tickets.duckdb"
    expected = [(language, batch, 4) for language in ("DE", "EN") for batch in ("b0000", "b0001")]
    for node in NODES:
        assert _rows(database, node) == expected, node
    with duckdb.connect(str(database), read_only=True) as con:
        before = con.execute(
            "SELECT count(*) FROM support_tickets.llm_calls WHERE node <> 'translate'"
        ).fetchone()
    assert dagster_ui.backfill(["translate"], ["b0001|DE"]) == "COMPLETED_SUCCESS"
    with dg.DagsterInstance.from_config(str(dagster_ui.home)) as instance:
        translate = instance.fetch_materializations(dg.AssetKey("translate"), limit=100).records
        topic = instance.fetch_materializations(dg.AssetKey("topic"), limit=100).records
    # The first backfill materialized four partitions of each; the rerun one more of translate.
    assert len(translate) == 5 and len(topic) == 4
    assert translate[0].partition_key == "b0001|DE"
    with duckdb.connect(str(database), read_only=True) as con:
        after = con.execute(
            "SELECT count(*) FROM support_tickets.llm_calls WHERE node <> 'translate'"
        ).fetchone()
    assert after == before  # nothing upstream was recomputed
    # The README's picture of the asset graph, every node materialized.
    _screenshot_asset_graph(dagster_ui.url, SCREENSHOT)


def test_overlapping_backfills_do_not_fail_on_the_duckdb_lock(
    remote_ui: DagsterUI, tmp_path: Path
) -> None:
    """Two backfills at once: their runs write the same DuckDB file from separate processes."""
    first = remote_ui.launch(NODES, ["b0000|DE", "b0000|EN"])
    second = remote_ui.launch(NODES, ["b0001|DE", "b0001|EN"])
    outcomes = [remote_ui.wait(first), remote_ui.wait(second)]
    for outcome in outcomes:
        assert outcome["status"] == "COMPLETED_SUCCESS", remote_ui.failures(outcome)
        assert outcome["runs"] and all(run["status"] == "SUCCESS" for run in outcome["runs"])
    # The runs really ran at the same time (each in its own process).
    with dg.DagsterInstance.from_config(str(remote_ui.home)) as instance:
        runs = instance.get_runs()
        spans = [
            (stats.start_time, stats.end_time)
            for run in runs
            for stats in [instance.get_run_stats(run.run_id)]
        ]
        waited = [
            event.step_key
            for run in runs
            for event in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
            if event.message == f"Step blocked by limit for pool {POOL}"
        ]
        pool_slots = instance.event_log_storage.get_concurrency_info(POOL).slot_count
    assert len(spans) == 2  # one run per backfill: each one's partitions form one range
    assert any(
        a_start < b_end and b_start < a_end
        for i, (a_start, a_end) in enumerate(spans)
        for b_start, b_end in spans[i + 1 :]
    ), spans
    # ... and their node steps queued for the nodes' pool (dagster.yaml: default_limit 1). Not
    # strictly one at a time: on SQLite instance storage two steps asking for the free slot in
    # the same instant can both get it, so the DuckDB writes rely on the store's lock retries.
    assert pool_slots == 1
    assert waited, "no node step of either run waited for the pool"
    database = tmp_path / "data" / "tickets.duckdb"
    expected = [(language, batch, 4) for language in ("DE", "EN") for batch in ("b0000", "b0001")]
    for node in NODES:
        assert _rows(database, node) == expected, node
    # A step waits while its pool's only slot is taken (here by the test, standing in for a
    # step of another run) and starts once the slot is free.
    with dg.DagsterInstance.from_config(str(remote_ui.home)) as instance:
        storage = instance.event_log_storage
        assert storage.claim_concurrency_slot(POOL, "test", "holder").is_claimed
        backfill = remote_ui.launch(["topic"], ["b0000|DE"])
        deadline = time.monotonic() + 120
        while not any(
            step.run_id != "test" for step in storage.get_concurrency_info(POOL).pending_steps
        ):
            assert time.monotonic() < deadline, "the topic step never asked for a pool slot"
            time.sleep(0.5)
        released = time.time()
        storage.free_concurrency_slots_for_run("test")
    outcome = remote_ui.wait(backfill)
    assert outcome["status"] == "COMPLETED_SUCCESS", remote_ui.failures(outcome)
    assert [run["status"] for run in outcome["runs"]] == ["SUCCESS"]
    with dg.DagsterInstance.from_config(str(remote_ui.home)) as instance:
        run = instance.get_runs(limit=1)[0]
        (topic,) = instance.get_run_step_stats(run.run_id, step_keys=["topic"])
    assert topic.start_time is not None and topic.start_time >= released
