"""Reports over the dataset. The cost report: the LLM ledger summed per node, model,
language and run, as a table and markdown in the asset's metadata, in USD and every
configured currency. The quality report: the export's quality checks and its plots."""

import base64
from pathlib import Path

import dagster as dg
import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.ledger import summarize
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.assets import EXPORT_ASSET, OWNERS
from ticket_assets.orchestration.io_manager import LEDGER_TABLE
from ticket_assets.orchestration.resources import TicketStoreResource
from ticket_assets.orchestration.run_tags import tag_run
from ticket_assets.quality import QUALITY_FILE, QualityReport
from ticket_assets.quality.card import CARD_FILE, PLOT_TITLES
from ticket_assets.quality.plots import PLOT_FILES

COST_REPORT_ASSET = "cost_report"
QUALITY_REPORT_ASSET = "quality_report"
REPORT_GROUPINGS = (["node", "model"], ["language"], ["run_id", "mode"])


def _table(frame: pd.DataFrame) -> dg.TableMetadataValue:
    records = [
        dg.TableRecord({k: (round(v, 6) if isinstance(v, float) else v) for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records=records)


def cost_report_asset(config: RunConfig) -> dg.AssetsDefinition:
    @dg.asset(
        name=COST_REPORT_ASSET,
        deps=list(build_pipeline(config).names),
        group_name="reports",
        owners=OWNERS,
        kinds={"duckdb"},
        description=(
            f"Calls, tokens and cost from the LLM ledger ({config.dataset}.{LEDGER_TABLE}) per "
            "node and model, per language and per run, in USD and "
            f"{', '.join(config.currency.rates)} at the rates of {config.currency.date}."
        ),
    )
    def _report(
        context: dg.AssetExecutionContext, store: TicketStoreResource
    ) -> dg.MaterializeResult:
        tag_run(context, config)
        ledger = store.get_store()
        calls = ledger.read_table(LEDGER_TABLE) if ledger.table_exists(LEDGER_TABLE) else None
        if calls is None or calls.empty:
            return dg.MaterializeResult(metadata={"llm/calls": 0, "note": "no LLM calls yet"})
        metadata: dict[str, object] = {}
        markdown = [f"Rates of {config.currency.date}; cache hits cost nothing.\n"]
        for grouping in REPORT_GROUPINGS:
            summary = summarize(calls, grouping, config.currency)
            name = "_".join(grouping)
            metadata[f"by_{name}"] = _table(summary)
            markdown += [f"### By {', '.join(grouping)}", summary.to_markdown(index=False), ""]
        total = summarize(calls.assign(all="total"), ["all"], config.currency).iloc[0]
        metadata.update(
            {
                "llm/calls": int(total["calls"]),
                "llm/cache_hits": int(total["cache_hits"]),
                "llm/input_tokens": int(total["input_tokens"]),
                "llm/output_tokens": int(total["output_tokens"]),
                "llm/cost_usd": float(total["cost_usd"]),
                **{
                    f"llm/cost_{code.lower()}": float(total[f"cost_{code.lower()}"])
                    for code in config.currency.rates
                },
                "report": dg.MetadataValue.md("\n".join(markdown)),
            }
        )
        return dg.MaterializeResult(metadata=metadata)

    return _report


def _embedded_png(title: str, path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    return f"### {title}\n\n![{title}](data:image/png;base64,{data})"


def quality_report_asset(config: RunConfig) -> dg.AssetsDefinition:
    exports = config.exports_path

    @dg.asset(
        name=QUALITY_REPORT_ASSET,
        deps=[EXPORT_ASSET],
        group_name="reports",
        owners=OWNERS,
        kinds={"json"},
        description=(
            f"The quality checks of the last export ({exports}/{QUALITY_FILE}): a summary "
            f"table, the rows left out, and the plots of the dataset card ({exports}/"
            f"{CARD_FILE})."
        ),
    )
    def _report(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        tag_run(context, config)
        path = exports / QUALITY_FILE
        if not path.exists():
            raise dg.Failure(f"{path} does not exist: materialize {EXPORT_ASSET!r} first")
        report = QualityReport.read(path)
        plots = {name: exports / file for name, file in PLOT_FILES.items()}
        plots = {name: plot for name, plot in plots.items() if plot.exists()}
        markdown = [
            report.summary_table().to_markdown(index=False),
            report.dropped_line(),
            *(_embedded_png(PLOT_TITLES[name], plot) for name, plot in plots.items()),
        ]
        metadata: dict[str, object] = {
            "passed": report.passed,
            "failed_checks": ", ".join(report.failed) or "none",
            "rows_generated": report.generated_rows,
            "rows_exported": report.exported_rows,
            "summary": _table(report.summary_table()),
            "report": dg.MetadataValue.md("\n\n".join(markdown)),
            "card_path": dg.MetadataValue.path(str(exports / CARD_FILE)),
            **{f"plot/{name}": dg.MetadataValue.path(str(plot)) for name, plot in plots.items()},
        }
        for check in report.checks:
            for figure, value in check.figures.items():
                metadata[f"quality/{check.name}/{figure}"] = value
        return dg.MaterializeResult(metadata=metadata)

    return _report
