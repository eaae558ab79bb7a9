"""Quality checks in Dagster: the export's checks (language, duplicates, label balance,
leaks) are evaluated by the export step itself over exactly the rows it exports, so nothing is
computed twice; the fidelity checks of paraphrase and translate run on their own tables.
None of them is blocking: a failed check marks the data, the card and quality_report show it.
"""

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import summarize
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.io_manager import LEDGER_TABLE
from ticket_assets.quality import CheckResult, QualityInputs, QualityReport
from ticket_assets.quality.balance import expected_shares
from ticket_assets.quality.fidelity import PAIR_COLUMNS, Kind, check_fidelity, rewritten_pairs
from ticket_assets.storage import TicketStore
from ticket_assets.tables import Tables

EXPORT_CHECKS = {
    "language": (
        "Subject, body and first response are in the row's language (lingua, offline); fails "
        "past quality.language.max_mismatch_rate. Mismatched rows are listed; the action "
        "(fail, drop, regenerate) decides whether they are exported."
    ),
    "duplicates": (
        "Exact and near duplicates (MinHash/LSH over word 3-grams, verified Jaccard) of "
        "subject + body across all partitions and batches, with the clusters."
    ),
    "label_balance": (
        "Shares of language, type, queue, priority and business type versus the configured "
        "weights, overall and per language, within tolerance plus sampling noise."
    ),
    "leaks": (
        "No placeholders, JSON, markdown fences, real-looking e-mail addresses or phone "
        "numbers in subject, body or first response."
    ),
}
FIDELITY_NODES: tuple[Kind, ...] = ("paraphrase", "translate")


def export_check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(name=name, asset=asset, description=description)
        for name, description in EXPORT_CHECKS.items()
    ]


def check_metadata(result: CheckResult) -> dict[str, object]:
    return {
        **{f"quality/{name}": value for name, value in result.figures.items()},
        "summary": dg.MetadataValue.text(result.summary),
        "details": dg.MetadataValue.md(result.markdown()),
    }


def export_check_results(report: QualityReport) -> list[dg.AssetCheckResult]:
    results = []
    for name in EXPORT_CHECKS:
        result = report.check(name)
        if result is None:
            continue
        metadata = check_metadata(result)
        if name in report.dropped:
            metadata["rows_left_out_of_export"] = report.dropped[name]
        results.append(
            dg.AssetCheckResult(check_name=name, passed=result.passed, metadata=metadata)
        )
    return results


def _rewritten(config: RunConfig, store: TicketStore, node: str) -> pd.DataFrame | None:
    """Source and rewritten text of the rows `node` rewrote (configured languages only)."""
    names = build_pipeline(config).names
    position = names.index(node)
    if position == 0 or not store.table_exists(node):
        return None
    source = store.read_table(names[position - 1])
    target = store.read_table(node)
    target = target[target["language"].isin(list(config.languages))]
    return rewritten_pairs(source, target, f"{node}_prompt_version")


def quality_inputs(config: RunConfig, store: TicketStore, tables: Tables) -> QualityInputs:
    names = build_pipeline(config).names
    rewritten = {
        node: pairs
        for node in FIDELITY_NODES
        if node in names and (pairs := _rewritten(config, store, node)) is not None
    }
    return QualityInputs(expected_shares(config, tables), rewritten)


def ledger_costs(config: RunConfig, store: TicketStore) -> pd.DataFrame | None:
    if not store.table_exists(LEDGER_TABLE):
        return None
    return summarize(store.read_table(LEDGER_TABLE), ["node", "model"], config.currency)


def fidelity_check(config: RunConfig, node: Kind, store: TicketStore) -> dg.AssetChecksDefinition:
    measures = "character 3-gram similarity within bounds, " if node == "paraphrase" else ""

    @dg.asset_check(
        asset=node,
        name="fidelity",
        description=(
            f"The rows {node} rewrote keep their meaning: {measures}length ratio within "
            "bounds, numbers and product names preserved. Fails past "
            "quality.fidelity.max_flagged_rate."
        ),
    )
    def _check() -> dg.AssetCheckResult:
        pairs = _rewritten(config, store, node)
        if pairs is None:
            pairs = pd.DataFrame(columns=list(PAIR_COLUMNS))
        result = check_fidelity(pairs, node, config.quality.fidelity)
        return dg.AssetCheckResult(passed=result.passed, metadata=check_metadata(result))

    return _check
