"""Publishing a dataset: the quality checks over its rows, then, in data/exports/, the rows
they keep (Parquet, CSV and the other configured formats), the plots, the dataset card
(README.md) and quality.json."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.export import EXPORT_COLUMNS, ExportPaths, export_frame, write_exports
from ticket_assets.nodes import exported_columns
from ticket_assets.quality import QUALITY_FILE, QualityInputs, QualityReport, assess
from ticket_assets.quality.card import dataset_card, write_card
from ticket_assets.quality.plots import write_plots


@dataclass(frozen=True)
class Release:
    rows: pd.DataFrame  # what was exported, in export column order
    report: QualityReport
    exports: ExportPaths
    plots: dict[str, Path]
    card: Path
    quality: Path


def publish(
    rows: pd.DataFrame,
    config: RunConfig,
    inputs: QualityInputs,
    costs: pd.DataFrame | None,
    rejects: pd.DataFrame,
) -> Release:
    """Check `rows` (the dataset), export what the checks keep, and describe it; `rejects`
    are the tickets left out in quarantine, which the card accounts for."""
    kept, report = assess(rows, config.quality, inputs)
    directory = config.exports_path
    extras = [c for c in exported_columns(config) if c not in EXPORT_COLUMNS] + ["batch"]
    exports = write_exports(kept, directory, config.export, seed=config.seed, extra_columns=extras)
    frame = export_frame(kept, extras)
    plots = write_plots(frame, inputs.expected, directory) if len(frame) else {}
    card = write_card(dataset_card(frame, config, report, plots, costs, rejects), directory)
    quality = directory / QUALITY_FILE
    report.write(quality)
    return Release(frame, report, exports, plots, card, quality)
