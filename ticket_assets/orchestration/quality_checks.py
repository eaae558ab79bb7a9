"""Quality checks in Dagster, one asset check per entry of the registry (`quality.CHECKS`):
the checks of the dataset (language, duplicates, label balance, leaks) are evaluated by the
export step itself over exactly the rows it exports, so nothing is computed twice; a check
that belongs to a node (fidelity of paraphrase and translate) runs on that node's table.
Whether one blocks is its entry's `blocking` (none does): a failed check marks the data, the
card and quality_report show it.
"""

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import summarize
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.io_manager import LEDGER_TABLE
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.quality import CHECKS, CheckResult, QualityCheck, QualityInputs, QualityReport
from ticket_assets.quality.balance import expected_shares
from ticket_assets.quality.fidelity import PAIR_COLUMNS, rewritten_pairs
from ticket_assets.quality.registry import CheckData
from ticket_assets.storage import TicketStore
from ticket_assets.tables import Tables

# The export asset's checks, and the one check of each node that has one (by node name).
_EXPORT: tuple[QualityCheck, ...] = tuple(c for c in CHECKS if c.node is None)
NODE_CHECKS: dict[str, QualityCheck] = {c.node: c for c in CHECKS if c.node is not None}
EXPORT_CHECKS = tuple(check.check_name for check in _EXPORT)  # their names on the export
FIDELITY_NODES = tuple(NODE_CHECKS)  # the nodes whose asset carries a check (fidelity)


def export_check_specs(asset: str) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            name=check.check_name,
            asset=asset,
            description=check.description,
            blocking=check.blocking,
        )
        for check in _EXPORT
    ]


def check_metadata(result: CheckResult) -> dict[str, object]:
    return {
        **{f"quality/{name}": value for name, value in result.figures.items()},
        "summary": dg.MetadataValue.text(result.summary),
        "details": dg.MetadataValue.md(result.markdown()),
    }


def export_check_results(report: QualityReport) -> list[dg.AssetCheckResult]:
    results = []
    for check in _EXPORT:
        result = report.check(check.name)
        if result is None:
            continue
        metadata = check_metadata(result)
        if check.name in report.dropped:
            metadata["rows_left_out_of_export"] = report.dropped[check.name]
        results.append(
            dg.AssetCheckResult(
                check_name=check.check_name, passed=result.passed, metadata=metadata
            )
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


def fidelity_check(config: RunConfig, node: str) -> dg.AssetChecksDefinition:
    """The check of `node` (NODE_CHECKS) on its asset, over the rows it rewrote."""
    check = NODE_CHECKS[node]

    @dg.asset_check(
        asset=node,
        name=check.check_name,
        description=check.description,
        blocking=check.blocking,
    )
    def _check(store: TicketStoreResource) -> dg.AssetCheckResult:
        pairs = _rewritten(config, store.get_store(), node)
        if pairs is None:
            pairs = pd.DataFrame(columns=list(PAIR_COLUMNS))
        # Every pair is the node's: the rows measured are the pairs themselves.
        data = CheckData(pairs, QualityInputs({}, {node: pairs}))
        verdict = check.function(data, getattr(config.quality, check.section))
        if verdict is None:  # nothing to measure
            return dg.AssetCheckResult(passed=True)
        result = verdict.result
        return dg.AssetCheckResult(passed=result.passed, metadata=check_metadata(result))

    return _check
