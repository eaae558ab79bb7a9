"""The dataset card: data/exports/README.md in the Hugging Face format (a YAML header the
Hub reads: languages, license, task categories, size, features, data files; then markdown)
with the schema, the configuration and models, the cost, the quality results and the plots."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

import pandas as pd
import yaml

from ticket_assets.config import SUPPORTED_LANGUAGES, RunConfig
from ticket_assets.core.files import atomic_write
from ticket_assets.export import export_files, split_labels
from ticket_assets.llm.quarantine import quarantine_summary, reason_kind
from ticket_assets.nodes import build_pipeline
from ticket_assets.quality.report import QUALITY_FILE, QualityReport

CARD_FILE = "README.md"
COLUMN_DESCRIPTIONS = {
    "ticket_id": "13-digit id: 1, dataset code, language digit, batch, row",
    "subject": "the customer's e-mail subject, in `language`",
    "body": "the customer's e-mail body, in `language`",
    "language": "ISO 639-1 code, upper case (DE, EN, ES, FR, PT)",
    "type": "Incident, Request, Problem or Change",
    "queue": "the team the ticket belongs to",
    "priority": "Low, Medium or High",
    "tags": "4-8 canonical English tags",
    "first_response": "the support agent's first reply, in `language`",
    "business_type": "the customer's kind of business",
    "product": "the product the ticket is about",
    "topic": "the specific support topic (English)",
    "batch": "the generation batch (b0000, ...); later refreshes add batches",
}
PLOT_TITLES = {
    "labels": "Class shares per language (black: configured share)",
    "lengths": "Text lengths per language",
    "tags": "Tags per ticket and the most frequent tags",
    "diversity": "Text variety per language (dashed: the default threshold)",
}
CARD_SAMPLE_ROWS = 10  # a check's table in the card; quality.json has every row


def size_category(rows: int) -> str:
    """The Hub's size bucket for `rows` examples."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K")):
        if rows < limit:
            return name
    return "100K<n<1M" if rows < 1_000_000 else "n>1M"


def _feature(name: str, frame: pd.DataFrame) -> dict[str, str]:
    if name == "tags":
        return {"name": name, "sequence": "string"}
    dtype = frame[name].dtype
    kind = "string" if pd.api.types.is_object_dtype(dtype) else str(dtype)
    return {"name": name, "dtype": kind}


def card_header(frame: pd.DataFrame, config: RunConfig) -> dict[str, object]:
    data_files, splits = _splits(frame, config)
    return {
        "pretty_name": config.card.pretty_name,
        "language": sorted({code.lower() for code in frame["language"].unique()})
        or [code.lower() for code in config.languages],
        "license": config.card.license,
        "task_categories": ["text-classification", "text-generation"],
        "task_ids": ["multi-class-classification", "multi-label-classification"],
        "size_categories": [size_category(len(frame))],
        "tags": ["synthetic", "customer-support", "tickets", "multilingual"],
        "configs": [{"config_name": "default", "data_files": data_files}],
        "dataset_info": {
            "features": [_feature(name, frame) for name in frame.columns],
            "splits": splits,
        },
    }


def _splits(frame: pd.DataFrame, config: RunConfig) -> tuple[list[dict], list[dict]]:
    """The card's data files and split sizes: the configured splits' files (the same split
    of the same rows as the export writes), else the whole export as `train`."""
    settings = config.export
    files = export_files(settings)
    # The seed-schema formats the features describe; the wide layout has other columns.
    fmt = next((f for f in ("parquet", "jsonl", "csv") if f in settings.formats), None)
    if fmt is None:
        return [], []
    if not settings.splits:
        return [{"split": "train", "path": files[fmt]}], [
            {"name": "train", "num_examples": len(frame)}
        ]
    labels = split_labels(frame, settings.splits, config.seed) if len(frame) else pd.Series()
    return (
        [{"split": split, "path": files[f"{fmt}/{split}"]} for split in settings.splits],
        [
            {"name": split, "num_examples": int((labels == split).sum())}
            for split in settings.splits
        ],
    )


def _configuration(config: RunConfig) -> str:
    weights = ", ".join(f"{code} {weight:g}" for code, weight in config.languages.items())
    models = pd.DataFrame(
        [
            {
                "node": node,
                "model": config.model_for(node).model,
                "temperature": config.model_for(node).temperature,
                "tickets_per_call": config.model_for(node).tickets_per_call,
            }
            for node in build_pipeline(config).names
        ]
    )
    balance = (
        f"rare classes of {', '.join(config.balance.columns)} raised to a share of "
        f"{config.balance.target_share:g}"
        if config.balance.target_share
        else "off (classes follow the weights in tables/)"
    )
    drafting = (
        "directly in each ticket's language"
        if config.draft_in_target_language
        else f"in {SUPPORTED_LANGUAGES[config.source_language]}, then translated"
    )
    lines = [
        f"- dataset `{config.dataset}`, mode `{config.mode}`, seed {config.seed} "
        "(same seed and configuration, same tickets)",
        f"- {config.rows} tickets planned in batches of at most {config.batch_size} per "
        f"language; language weights: {weights}",
        f"- e-mails drafted {drafting}",
        f"- pipeline: {' → '.join(build_pipeline(config).names)}",
        f"- balance: {balance}",
        "",
        models.to_markdown(index=False),
    ]
    return "\n".join(lines)


def _cost(costs: pd.DataFrame | None, config: RunConfig) -> str:
    if costs is None or costs.empty:
        return "No LLM calls are recorded for this dataset."
    currencies = [f"cost_{code.lower()}" for code in config.currency.rates]
    table = costs.round({"cost_usd": 6, **dict.fromkeys(currencies, 6)})
    total = costs[["calls", "cache_hits", "input_tokens", "output_tokens", "cost_usd"]].sum()
    return (
        f"Every LLM call recorded in the ledger (`{config.dataset}.llm_calls`, all runs), at "
        f"the exchange rates of {config.currency.date}; cache hits cost nothing. Total: "
        f"{int(total['calls'])} calls, {int(total['input_tokens'])} input and "
        f"{int(total['output_tokens'])} output tokens, ${total['cost_usd']:.4f}.\n\n"
        + table.to_markdown(index=False)
    )


def _quarantine(rejects: pd.DataFrame, config: RunConfig) -> str:
    """Tickets left out because a model's answer stayed invalid after its repairs."""
    if rejects.empty:
        return quarantine_summary(rejects)
    table = (
        rejects.assign(reason=rejects["reason"].map(reason_kind))
        .groupby(["node", "reason"])
        .size()
        .rename("tickets")
        .reset_index()
        .sort_values("tickets", ascending=False)
    )
    return (
        f"{quarantine_summary(rejects)} They are not in the export; each is listed with its "
        f"node, reason and attempts in the DuckDB table `{config.dataset}.rejects`.\n\n"
        + table.to_markdown(index=False)
    )


def _quality(report: QualityReport) -> str:
    """The report (summary table, rows left out, each check) with long tables cut short."""
    details = []
    for check in report.checks:
        text = replace(check, samples=check.samples.head(CARD_SAMPLE_ROWS)).markdown()
        if len(check.samples) > CARD_SAMPLE_ROWS:
            text += (
                f"\n\nThe first {CARD_SAMPLE_ROWS} of {len(check.samples)} rows; "
                f"`{QUALITY_FILE}` lists them all."
            )
        details.append(text)
    table = report.summary_table().to_markdown(index=False)
    return "\n\n".join([table, report.dropped_line(), *details])


def dataset_card(
    frame: pd.DataFrame,
    config: RunConfig,
    report: QualityReport,
    plots: Mapping[str, Path],
    costs: pd.DataFrame | None,
    rejects: pd.DataFrame,
) -> str:
    """The card's text for the exported `frame`."""
    header = yaml.safe_dump(card_header(frame, config), sort_keys=False, allow_unicode=True)
    schema = pd.DataFrame(
        [
            {
                "column": name,
                "type": _feature(name, frame).get("dtype", "list of strings"),
                "content": COLUMN_DESCRIPTIONS.get(name, ""),
            }
            for name in frame.columns
        ]
    )
    per_language = frame["language"].value_counts().reindex(list(config.languages), fill_value=0)
    counts = ", ".join(f"{code} {count}" for code, count in per_language.items())
    figures = "\n\n".join(
        f"### {PLOT_TITLES[name]}\n\n![{PLOT_TITLES[name]}]({path.name})"
        for name, path in plots.items()
    )
    verdict = (
        "All checks passed." if report.passed else (f"Failed checks: {', '.join(report.failed)}.")
    )
    sections = [
        f"---\n{header}---",
        f"# {config.card.pretty_name}",
        "Synthetic customer-support tickets (a customer's e-mail, its labels and the agent's "
        "first reply) for training and evaluating ticket classifiers (queue, priority, type, "
        "tags) and reply assistants, generated by ticket_assets as Dagster assets. No real "
        "customer data went into them.",
        f"{len(frame)} tickets: {counts}. Files: "
        + ", ".join(f"`{name}`" for name in export_files(config.export).values())
        + " (tags are a list in Parquet and JSON Lines, comma-joined in CSV, `tag_1`..`tag_8` "
        "in the wide layout).",
        "## Dataset structure\n\n" + schema.to_markdown(index=False),
        "Labels (`type`, `queue`, `priority`, `tags`) are canonical English in every language.",
        "## How it was made\n\n" + _configuration(config),
        "## Cost\n\n" + _cost(costs, config),
        f"## Quality checks\n\n{verdict} Every generated row is checked; label balance, "
        "label leakage, diversity and learnability are measured on the exported rows.\n\n"
        + _quality(report),
        "## Quarantined tickets\n\n" + _quarantine(rejects, config),
        "## Distributions\n\n" + (figures or "No rows to plot."),
        "## Limitations\n\n"
        "The texts are synthetic: their style follows the models and prompts (or the offline "
        "provider's phrase banks), not a real customer base. Label shares follow the "
        "configured weights, not any real ticket volume.",
    ]
    return "\n\n".join(sections) + "\n"


def write_card(text: str, directory: Path) -> Path:
    path = directory / CARD_FILE
    atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
    return path
