"""Retrying a failed partition from the UI redoes that partition only."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from ticket_assets_tests.dagster_ui import running_ui, small_config

UPSTREAM_OF_TRANSLATE = ["topic", "email_draft", "tagging", "paraphrase"]


def translate_materializations(home: Path) -> dict[str, int]:
    with dg.DagsterInstance.from_config(str(home)) as instance:
        events = instance.fetch_materializations(dg.AssetKey("translate"), limit=100).records
    counts: dict[str, int] = {}
    for event in events:
        counts[event.partition_key] = counts.get(event.partition_key, 0) + 1
    return counts


def test_retrying_a_failed_backfill_redoes_only_the_failed_partitions(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    first, second = ["b0000|DE", "b0000|EN"], ["b0001|DE", "b0001|EN"]
    with running_ui(config, tmp_path / "dagster_home", tmp_path) as ui:
        assert ui.backfill([*UPSTREAM_OF_TRANSLATE, "translate"], first) == "COMPLETED_SUCCESS"
        # Batch b0001 has no upstream rows yet, so its translate run fails; b0000's succeeds.
        failed_id = ui.launch(["translate"], first + second)
        failed = ui.wait(failed_id)
        assert failed["status"] == "COMPLETED_FAILED"
        assert sorted(run["status"] for run in failed["runs"]) == ["FAILURE", "SUCCESS"]
        assert translate_materializations(ui.home) == dict.fromkeys(first, 2)

        assert ui.backfill(UPSTREAM_OF_TRANSLATE, second) == "COMPLETED_SUCCESS"
        retried = ui.wait(ui.retry_failed(failed_id))
        assert retried["status"] == "COMPLETED_SUCCESS"
        assert len(retried["runs"]) == 1
    # b0000 was materialized by the first two backfills only, b0001 by the retry.
    assert translate_materializations(tmp_path / "dagster_home") == {
        **dict.fromkeys(first, 2),
        **dict.fromkeys(second, 1),
    }
