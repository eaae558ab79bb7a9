"""evaluation.png: `evaluate`'s macro-F1 as grouped bars, one panel per label, one group per
language, one bar per classifier (matplotlib, Agg backend, like plots.py). Figures only: the
user's tickets appear in it as language and label names, nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from ticket_assets.core.files import atomic_write

if TYPE_CHECKING:
    from ticket_assets.quality.evaluation import Evaluation

DPI = 90
# Score field -> legend, in bar order.
BARS = {
    "f1_synthetic": "synthetic (same size as your half)",
    "f1_synthetic_all": "synthetic (all)",
    "f1_real": "your half",
}
COLORS = ("#4c72b0", "#8fb0dd", "#dd8452")


def evaluation_figure(evaluation: Evaluation) -> Figure:
    results = [result for result in evaluation.labels if result.scores] or list(evaluation.labels)
    widest = max((len(result.scores) for result in results), default=1)
    figure, axes = plt.subplots(
        len(results), 1, figsize=(max(6.0, 1.6 + 1.3 * widest), 0.8 + 2.4 * len(results))
    )
    axes = [axes] if len(results) == 1 else list(axes)
    width = 0.8 / len(BARS)
    for axis, result in zip(axes, results, strict=True):
        languages = [score.language for score in result.scores]
        for offset, ((field, name), color) in enumerate(zip(BARS.items(), COLORS, strict=True)):
            positions = [i + (offset - (len(BARS) - 1) / 2) * width for i in range(len(languages))]
            values = [getattr(score, field) for score in result.scores]
            bars = axis.bar(positions, values, width=width, label=name, color=color)
            axis.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
        ticks = [f"{score.language}\n({score.test_rows} tested)" for score in result.scores]
        axis.set_xticks(range(len(languages)), ticks, fontsize=8)
        axis.set_ylim(0, 1.12)
        axis.set_ylabel("macro-F1")
        axis.set_title(f"{result.label}: macro-F1 on half of your tickets", loc="left", fontsize=10)
        axis.grid(axis="y", alpha=0.3)
        if not result.scores:
            axis.text(0.5, 0.5, "too few tickets", ha="center", transform=axis.transAxes)
    handles, names = axes[0].get_legend_handles_labels()
    figure.legend(handles, names, ncols=len(BARS), fontsize=8, loc="upper center")
    figure.tight_layout(rect=(0, 0, 1, 1 - 0.35 / figure.get_figheight()))
    return figure


def write_evaluation_plot(evaluation: Evaluation, path: Path) -> Path:
    figure = evaluation_figure(evaluation)
    try:
        atomic_write(path, lambda p: figure.savefig(p, dpi=DPI, format="png"))
    finally:
        plt.close(figure)
    return path
