"""Quality in the Dagster run: the offline pipeline passes every check and writes the card, its
plots and the quality report; a planted defect fails its check and is left out of the export
(with action drop) while the node table keeps it."""

from __future__ import annotations

import json

import dagster as dg
import pandas as pd
import yaml

from ticket_assets.config import RunConfig
from ticket_assets.orchestration.assets import EXPORT_ASSET
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.orchestration.jobs import EXPORT_JOB, FULL_JOB
from ticket_assets.orchestration.partitions import full_range_tags, register_batches
from ticket_assets.orchestration.reports import QUALITY_REPORT_ASSET
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.quality import QUALITY_FILE
from ticket_assets.quality.card import CARD_FILE
from ticket_assets.quality.plots import PLOT_FILES

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
ENGLISH_BODY = (
    "Hello,\n\nsince this morning none of us can print to the office printer on the second "
    "floor. The queue shows every job as pending and nothing comes out.\n\nCould you have a "
    "look today?\n\nThanks,\nSam"
)


def _checks(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], bool]:
    return {
        (e.asset_key.to_user_string(), e.check_name): e.passed
        for e in result.get_asset_check_evaluations()
    }


def _card_header(text: str) -> dict:
    assert text.startswith("---\n")
    header, _ = text[4:].split("\n---\n", 1)
    return yaml.safe_load(header)


def _assert_clean_run(config: RunConfig, result: dg.ExecuteInProcessResult) -> None:
    checks = _checks(result)
    for name in ("language", "duplicates", "label_balance", "leaks"):
        assert checks[(EXPORT_ASSET, name)], name
    assert checks[("paraphrase", "fidelity")] and checks[("translate", "fidelity")]

    exports = config.exports_path
    card = (exports / CARD_FILE).read_text(encoding="utf-8")
    header = _card_header(card)
    assert header["language"] == ["de", "en"]
    assert header["license"] == "cc-by-4.0"
    assert header["size_categories"] == ["n<1K"]
    assert header["dataset_info"]["splits"] == [{"name": "train", "num_examples": 24}]
    assert {"name": "tags", "sequence": "string"} in header["dataset_info"]["features"]
    assert header["configs"][0]["data_files"][0]["path"] == "tickets.parquet"
    assert "All checks passed." in card and "| offline |" in card
    for file in PLOT_FILES.values():
        assert (exports / file).read_bytes().startswith(PNG_MAGIC), file
        assert f"]({file})" in card
    quality = json.loads((exports / QUALITY_FILE).read_text(encoding="utf-8"))
    assert quality["passed"] and quality["exported_rows"] == 24

    report = result.asset_materializations_for_node(QUALITY_REPORT_ASSET)[0].metadata
    assert report["passed"].value is True
    assert report["report"].value.count("](data:image/png;base64,") == len(PLOT_FILES)
    assert {f"plot/{name}" for name in PLOT_FILES} <= set(report)
    assert report["quality/language/mismatch_rate"].value == 0
    export = result.asset_materializations_for_node(EXPORT_ASSET)[0].metadata
    assert export["card_path"].value == str(exports / CARD_FILE)


def test_clean_run_passes_then_a_planted_defect_fails_and_is_left_out(
    small_config: RunConfig, instance: dg.DagsterInstance
) -> None:
    language = small_config.quality.language.model_copy(update={"action": "drop"})
    config = small_config.model_copy(
        update={"quality": small_config.quality.model_copy(update={"language": language})}
    )
    register_batches(instance, config)
    defs = build_definitions(config)
    result = defs.resolve_job_def(FULL_JOB).execute_in_process(
        instance=instance, tags=full_range_tags(config)
    )
    assert result.success
    _assert_clean_run(config, result)

    store = TicketStoreResource.for_config(config).get_store()
    partition = [("DE", "b0001")]
    rows = store.read_partitions("first_response", partition)
    planted = rows["ticket_id"].iloc[2]
    rows.loc[2, "body"] = ENGLISH_BODY
    store.write_partitions("first_response", rows, partition)

    result = defs.resolve_job_def(EXPORT_JOB).execute_in_process(instance=instance)
    assert result.success  # a failed quality check marks the data, it does not stop the run
    checks = _checks(result)
    assert checks[(EXPORT_ASSET, "language")] is False
    assert checks[(EXPORT_ASSET, "duplicates")] and checks[(EXPORT_ASSET, "leaks")]
    language_check = next(
        e for e in result.get_asset_check_evaluations() if e.check_name == "language"
    )
    assert language_check.metadata["quality/mismatched_rows"].value == 1
    assert language_check.metadata["rows_left_out_of_export"].value == 1
    assert planted in language_check.metadata["details"].value

    exported = pd.read_parquet(config.exports_path / "tickets.parquet")
    assert planted not in set(exported["ticket_id"]) and len(exported) == 23
    assert planted in set(store.read_table("first_response")["ticket_id"])  # kept in DuckDB
    card = (config.exports_path / CARD_FILE).read_text(encoding="utf-8")
    assert "Failed checks: language." in card and "1 by language" in card
    report = result.asset_materializations_for_node(QUALITY_REPORT_ASSET)[0].metadata
    assert report["failed_checks"].value == "language"
    assert report["rows_exported"].value == 23
