"""PNG plots of the exported dataset for the dataset card and the Dagster UI (matplotlib,
Agg backend: no display needed). Each file is written atomically next to the export."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from ticket_assets.config import DiversityQualityConfig
from ticket_assets.core.files import atomic_write
from ticket_assets.quality.diversity import ALL, diversity_table

PLOT_FILES = {
    "labels": "plot_labels_by_language.png",
    "lengths": "plot_text_lengths.png",
    "tags": "plot_tags.png",
    "diversity": "plot_text_variety.png",
}
LABEL_COLUMNS = ("type", "priority", "queue", "business_type")
LENGTH_COLUMNS = ("subject", "body", "first_response")
TOP_TAGS = 20
DPI = 90


def _language_shares(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """class x language table of shares within each language."""
    return pd.crosstab(frame[column], frame["language"], normalize="columns")


def labels_figure(frame: pd.DataFrame, expected: Mapping[str, Mapping[str, float]]) -> Figure:
    columns = [c for c in LABEL_COLUMNS if c in frame]
    figure, axes = plt.subplots(
        len(columns), 1, figsize=(10, 2.2 + 0.55 * sum(frame[c].nunique() for c in columns))
    )
    axes = [axes] if len(columns) == 1 else list(axes)
    languages = sorted(frame["language"].unique())
    for axis, column in zip(axes, columns, strict=True):
        shares = _language_shares(frame, column)
        classes = list(expected.get(column, {})) or list(shares.index)
        classes += [c for c in shares.index if c not in classes]
        shares = shares.reindex(index=classes, columns=languages, fill_value=0.0)
        height = 0.8 / max(1, len(languages))
        for offset, language in enumerate(languages):
            positions = [
                i + (offset - (len(languages) - 1) / 2) * height for i in range(len(classes))
            ]
            axis.barh(positions, shares[language], height=height, label=language)
        wanted = [expected.get(column, {}).get(label, 0.0) for label in classes]
        axis.scatter(
            wanted,
            range(len(classes)),
            marker="|",
            s=400,
            color="black",
            zorder=3,
            label="configured",
        )
        axis.set_yticks(range(len(classes)), classes)
        axis.invert_yaxis()
        axis.set_title(f"{column}: share of tickets per language", loc="left", fontsize=10)
        axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        axis.grid(axis="x", alpha=0.3)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, ncols=len(names), fontsize=8, loc="upper center")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / figure.get_figheight()))
    return figure


def lengths_figure(frame: pd.DataFrame) -> Figure:
    columns = [c for c in LENGTH_COLUMNS if c in frame and frame[c].notna().any()]
    languages = sorted(frame["language"].unique())
    figure, axes = plt.subplots(
        1, len(columns), figsize=(4.2 * len(columns), 1.2 + 0.45 * len(languages))
    )
    axes = [axes] if len(columns) == 1 else list(axes)
    for axis, column in zip(axes, columns, strict=True):
        lengths = frame[column].fillna("").str.len()
        by_language = [lengths[frame["language"] == language] for language in languages]
        axis.boxplot(by_language, orientation="horizontal", tick_labels=languages, widths=0.6)
        axis.invert_yaxis()
        axis.set_title(f"{column}: characters (median {int(lengths.median())})", fontsize=10)
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def tags_figure(frame: pd.DataFrame) -> Figure:
    tags = frame["tags"].map(lambda t: list(t) if t is not None else [])
    figure, (count_axis, top_axis) = plt.subplots(
        1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.6]}
    )
    counts = pd.crosstab(tags.map(len), frame["language"], normalize="columns")
    counts.plot.bar(ax=count_axis, rot=0, width=0.8)
    count_axis.set_title("tags per ticket, share per language", fontsize=10)
    count_axis.set_xlabel("tags")
    count_axis.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    count_axis.legend(fontsize=8)
    top = tags.explode().value_counts().head(TOP_TAGS).iloc[::-1]
    top_axis.barh(top.index.astype(str), top.to_numpy() / len(frame))
    top_axis.set_title(f"the {TOP_TAGS} most frequent tags: share of tickets", fontsize=10)
    top_axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    top_axis.tick_params(axis="y", labelsize=8)
    figure.tight_layout()
    return figure


# Figures the check judges on all tickets only (diversity.py); languages' bars are grey.
OVERALL_ONLY = frozenset({"distinct_3grams"})


def diversity_figure(table: pd.DataFrame, settings: DiversityQualityConfig) -> Figure:
    """The diversity check's shares per language (diversity.py), each against its threshold
    (dashed); red bars are on the wrong side of it."""
    panels = (  # (column, title, threshold, whether below it is worse)
        ("distinct_subjects", "distinct subjects", settings.min_distinct_subjects, True),
        ("distinct_3grams", "distinct word 3-grams", settings.min_distinct_3gram_ratio, True),
        ("common_sentences", "reused sentences", settings.max_common_sentence_share, False),
        ("top_opening_share", "most common opening", settings.max_top_opening_share, False),
        ("top_closing_share", "most common closing", settings.max_top_opening_share, False),
    )
    table = table.iloc[::-1]  # languages top down, then all tickets
    figure, axes = plt.subplots(1, len(panels), figsize=(13, 1.4 + 0.35 * len(table)), sharey=True)
    for axis, (column, title, threshold, low) in zip(axes, panels, strict=True):
        values = table[column].astype(float)
        worse = values < threshold if low else values > threshold
        colors = worse.map({True: "tab:red", False: "tab:blue"})
        if column in OVERALL_ONLY:  # per language for information; the whole sample decides
            colors = colors.where(table["language"] == ALL, "tab:gray")
        axis.barh(table["language"], values, color=colors)
        axis.axvline(threshold, color="black", linestyle="--", linewidth=1)
        axis.set_xlim(0, 1)
        axis.set_title(title, fontsize=10)
        axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    return figure


def write_plots(
    frame: pd.DataFrame,
    expected: Mapping[str, Mapping[str, float]],
    directory: Path,
    diversity: tuple[pd.DataFrame | None, DiversityQualityConfig] | None = None,
) -> dict[str, Path]:
    """The plots of `frame` as PNG files in `directory`, by name (see PLOT_FILES).
    `diversity`: the diversity check's table and settings, if it ran (else measured here)."""
    figures = {"labels": labels_figure(frame, expected), "lengths": lengths_figure(frame)}
    if "tags" in frame:
        figures["tags"] = tags_figure(frame)
    table, settings = diversity or (None, DiversityQualityConfig())
    if table is None or table.empty:
        table = diversity_table(frame, settings)
    figures["diversity"] = diversity_figure(table, settings)
    paths = {}
    for name, figure in figures.items():
        paths[name] = directory / PLOT_FILES[name]
        atomic_write(paths[name], lambda p, f=figure: f.savefig(p, dpi=DPI, format="png"))
        plt.close(figure)
    return paths
