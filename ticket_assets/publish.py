"""Publishing a dataset: the quality checks over its rows, then, in data/exports/, the rows
they keep (Parquet, CSV and the other configured formats), the plots, the dataset card
(README.md) and quality.json; with a DuckLake, copies of them all beside its data."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.core.progress import Stages
from ticket_assets.export import EXPORT_COLUMNS, ExportPaths, export_frame, write_exports
from ticket_assets.nodes import exported_columns
from ticket_assets.quality import QUALITY_FILE, QualityInputs, QualityReport, assess, check_order
from ticket_assets.quality.card import dataset_card, write_card
from ticket_assets.quality.plots import write_plots
from ticket_assets.storage import Lake, backend_for
from ticket_assets.storage.objects import copy_files, exports_destination

# What publishing does after the quality checks, in order.
EXPORT_STAGE, PLOTS_STAGE, CARD_STAGE = "export files", "plots", "dataset card"
COPY_STAGE = "copies beside the lake's data"


@dataclass(frozen=True)
class Release:
    rows: pd.DataFrame  # what was exported, in export column order
    report: QualityReport
    exports: ExportPaths
    plots: dict[str, Path]
    card: Path
    quality: Path
    copies: list[str]  # where the files were copied beside a lake's data (empty: no lake)


def publish(
    rows: pd.DataFrame,
    config: RunConfig,
    inputs: QualityInputs,
    costs: pd.DataFrame | None,
    rejects: pd.DataFrame,
    log: logging.Logger | None = None,
) -> Release:
    """Check `rows` (the dataset), export what the checks keep, and describe it; `rejects`
    are the tickets left out in quarantine, which the card accounts for. Each stage is logged
    to `log` as it starts (the CLI shows them)."""
    checks = check_order(config.quality, len(rows))
    stage_names = (EXPORT_STAGE, PLOTS_STAGE, CARD_STAGE)
    if config.storage.is_lake:
        stage_names += (COPY_STAGE,)
    stages = Stages("publishing", (*(check.title for check in checks), *stage_names), log)
    kept, report = assess(rows, config.quality, inputs, stages)
    directory = config.exports_path
    extras = [c for c in exported_columns(config) if c not in EXPORT_COLUMNS] + ["batch"]
    stages.start(EXPORT_STAGE)
    exports = write_exports(kept, directory, config.export, seed=config.seed, extra_columns=extras)
    frame = export_frame(kept, extras)
    stages.start(PLOTS_STAGE)
    measured = report.check("diversity")
    diversity = (measured.samples if measured else None, config.quality.diversity)
    plots = write_plots(frame, inputs.expected, directory, diversity) if len(frame) else {}
    stages.start(CARD_STAGE)
    card = write_card(dataset_card(frame, config, report, plots, costs, rejects), directory)
    quality = directory / QUALITY_FILE
    report.write(quality)
    copies: list[str] = []
    backend = backend_for(config)
    if isinstance(backend, Lake):
        stages.start(COPY_STAGE)
        # The card last: whoever sees the new card finds the new data beside it.
        files = [*exports.files.values(), *plots.values(), quality, card]
        copies = copy_files(files, exports_destination(backend.data_path, config.dataset))
    return Release(frame, report, exports, plots, card, quality, copies)
