"""`evaluate --real my_tickets.csv`: does the synthetic data help a classifier of your own
labelled tickets? Prints macro-F1 per label and language of a classifier trained on the
synthetic export next to one trained on half of your tickets (quality/evaluation.py), and
writes the figures (evaluation.json, evaluation.png); nothing of your file is written."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ticket_assets.cli.errors import BAD_INPUT, fail
from ticket_assets.config import RunConfig
from ticket_assets.export import FORMAT_FILES
from ticket_assets.quality.evaluation import (
    MIN_LANGUAGE_ROWS,
    Evaluation,
    EvaluationError,
    EvaluationRequest,
    LabelResult,
    evaluate,
    write_evaluation,
)

OUT_DIR = "evaluation"  # under the data directory, unless --out


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    request = EvaluationRequest(
        real=args.real,
        synthetic=args.synthetic or _default_export(config),
        columns={**config.evaluate.columns, **dict(args.column or [])},
        labels=args.labels or config.evaluate.labels,
        seed=config.seed,
    )
    try:
        evaluation = evaluate(request)
    except EvaluationError as error:
        return fail(str(error), BAD_INPUT)
    paths = write_evaluation(evaluation, args.out or config.data_path / OUT_DIR)
    print(
        "\n".join(
            [*report_lines(evaluation), f"figures: {paths['json']}", f"plot: {paths['plot']}"]
        )
    )
    return 0


def _default_export(config: RunConfig) -> Path:
    """The export's Parquet file, or its CSV file where only that one was written."""
    parquet, csv = (config.exports_path / FORMAT_FILES[kind] for kind in ("parquet", "csv"))
    return csv if not parquet.exists() and csv.exists() else parquet


def report_lines(evaluation: Evaluation) -> list[str]:
    """The table (label x language) and what was left out, as printed."""
    mapped = ", ".join(
        ours if ours == theirs else f"{ours}={theirs}"
        for ours, theirs in evaluation.columns.items()
    )
    lines = [
        f"your tickets: {evaluation.real_file}, {evaluation.real_rows} rows (columns: {mapped})",
        f"synthetic: {evaluation.synthetic_file}, {evaluation.synthetic_rows} tickets "
        f"(synthetic (all) trained on {evaluation.synthetic_all_rows})",
        "macro-F1 on half of your tickets (B) of classifiers trained on: synthetic tickets, as "
        "many as your other half (same size); all synthetic tickets (all); your other half (A)",
        "",
    ]
    rows, notes = [], []
    for result in evaluation.labels:
        for score in result.scores:
            star = "*" if score.drawn_from_all else ""
            rows.append(
                {
                    "label": result.label,
                    "language": score.language + star,
                    "rows": score.rows,
                    "tested": score.test_rows,
                    "synthetic (same size)": f"{score.f1_synthetic:.3f}",
                    "synthetic (all)": f"{score.f1_synthetic_all:.3f}",
                    "your half": f"{score.f1_real:.3f}",
                    "same size / yours": _ratio(score.ratio),
                    "all / yours": _ratio(score.ratio_all),
                }
            )
        notes.extend(_notes(result))
    if rows:
        table = pd.DataFrame(rows).to_string(index=False)
        lines.extend("  " + line for line in table.splitlines())
    lacking = sorted(
        {lang for r in evaluation.labels for s in r.scores for lang in s.drawn_from_all}
    )
    if lacking:
        notes.append(
            f"* the synthetic data has no tickets in {', '.join(lacking)}: the same-size "
            "classifier's share of those is drawn from every language"
        )
    if evaluation.empty_text_rows:
        notes.append(f"skipped: {evaluation.empty_text_rows} of your tickets without a text")
    return [*lines, "", *notes] if notes else [*lines, ""]


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _notes(result: LabelResult) -> list[str]:
    label = result.label
    notes = []
    if not result.scores:
        notes.append(f"{label}: fewer than {MIN_LANGUAGE_ROWS} of your tickets have one: skipped")
    if result.empty_label_rows:
        notes.append(f"skipped: {result.empty_label_rows} of your tickets without a {label}")
    if result.skipped_languages:
        skipped = ", ".join(f"{lang} ({n})" for lang, n in result.skipped_languages.items())
        notes.append(
            f"{label}: languages with fewer than {MIN_LANGUAGE_ROWS} tickets, in 'all' only: "
            f"{skipped}"
        )
    if result.unseen:
        unseen = ", ".join(f"{value} ({n})" for value, n in result.unseen.items())
        notes.append(
            f"{label}: values the synthetic data lacks, kept in the test (they lower the "
            f"synthetic scores): {unseen}"
        )
    return notes
