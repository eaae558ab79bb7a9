"""Fidelity: a paraphrase must differ from its source but keep its meaning; a translation
must keep it. Cheap offline measures per rewritten row (subject + body):

- similarity: Jaccard similarity of character 3-grams, paraphrases only (across languages it
  measures nothing). Below the lower bound the meaning is likely gone, above the upper bound
  the text was barely reworded (the original tool's bounds: 0.05-0.9);
- length ratio (rewritten / source characters) within bounds;
- every number of the source (digit runs, so "1,234.50" and "1.234,50" agree) still there;
- the product name still there if the source named it.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Literal

import pandas as pd

from ticket_assets.config import FidelityQualityConfig
from ticket_assets.quality.result import SAMPLE_ROWS, CheckResult, percent, snippet

Kind = Literal["paraphrase", "translate"]
PAIR_COLUMNS = ("ticket_id", "language", "product", "source_text", "text")
NGRAM = 3
_NUMBER = re.compile(r"\d+")


def email_text(subject: object, body: object) -> str:
    return f"{subject}\n{body}"


def rewritten_pairs(
    source: pd.DataFrame, target: pd.DataFrame, version_column: str
) -> pd.DataFrame:
    """(ticket, source text, rewritten text) for the rows a node rewrote, i.e. where it made
    an LLM call (its prompt-version column is set); `source` is the frame the node read."""
    rewritten = target[target[version_column].notna()]
    joined = rewritten.merge(
        source[["ticket_id", "subject", "body"]], on="ticket_id", suffixes=("", "_source")
    )
    return pd.DataFrame(
        {
            "ticket_id": joined["ticket_id"],
            "language": joined["language"],
            "product": joined.get("product"),
            "source_text": [
                email_text(s, b)
                for s, b in zip(joined["subject_source"], joined["body_source"], strict=True)
            ],
            "text": [
                email_text(s, b) for s, b in zip(joined["subject"], joined["body"], strict=True)
            ],
        },
        columns=list(PAIR_COLUMNS),
    )


def _ngrams(text: str) -> set[tuple[str, ...]]:
    folded = " ".join(text.casefold().split())
    # Tuples from zip: half the time of slicing out substrings.
    grams = set(zip(*(folded[i:] for i in range(NGRAM)), strict=False))
    return grams or {tuple(folded)}


# The paraphrase asset's check and the export's check score the same pairs in one process.
@lru_cache(maxsize=1 << 16)
def similarity(first: str, second: str) -> float:
    a, b = _ngrams(first), _ngrams(second)
    return len(a & b) / len(a | b)


def _problems(
    kind: Kind, source: str, text: str, product: object, config: FidelityQualityConfig
) -> tuple[list[str], float | None]:
    problems = []
    score = None
    if kind == "paraphrase":
        score = similarity(source, text)
        low, high = config.paraphrase_similarity
        if score < low:
            problems.append(f"similarity {score:.2f} < {low}: meaning likely lost")
        elif score > high:
            problems.append(f"similarity {score:.2f} > {high}: barely reworded")
    ratio = len(text) / max(1, len(source))
    low, high = config.length_ratio
    if not low <= ratio <= high:
        problems.append(f"length ratio {ratio:.2f} outside [{low}, {high}]")
    missing = sorted(set(_NUMBER.findall(source)) - set(_NUMBER.findall(text)))
    if missing:
        problems.append(f"numbers lost: {', '.join(missing[:5])}")
    if isinstance(product, str) and product and product in source and product not in text:
        problems.append(f"product name lost: {product}")
    return problems, score


def check_fidelity(pairs: pd.DataFrame, kind: Kind, config: FidelityQualityConfig) -> CheckResult:
    flagged_rows = []
    scores = []
    for row in pairs.itertuples(index=False):
        problems, score = _problems(kind, row.source_text, row.text, row.product, config)
        if score is not None:
            scores.append(score)
        if problems:
            flagged_rows.append(
                {
                    "ticket_id": row.ticket_id,
                    "language": row.language,
                    "problems": "; ".join(problems),
                    "source": snippet(row.source_text, 60),
                    "rewritten": snippet(row.text, 60),
                }
            )
    rows = len(pairs)
    rate = len(flagged_rows) / rows if rows else 0.0
    figures: dict[str, float | int] = {"rows": rows, "flagged_rows": len(flagged_rows)}
    figures["flagged_rate"] = rate
    measured = "similarity, length ratio" if kind == "paraphrase" else "length ratio"
    if scores:
        figures["median_similarity"] = float(pd.Series(scores).median())
        measured += f" (median similarity {figures['median_similarity']:.2f})"
    what = "paraphrased" if kind == "paraphrase" else "translated"
    return CheckResult(
        passed=rate <= config.max_flagged_rate,
        summary=(
            f"{len(flagged_rows)} of {rows} {what} rows flagged ({percent(rate)}, max "
            f"{percent(config.max_flagged_rate)}) on {measured}, numbers and product names."
        ),
        headline=f"{len(flagged_rows)} of {rows} {what} rows flagged ({percent(rate)})",
        figures=figures,
        flagged=tuple(r["ticket_id"] for r in flagged_rows),
        samples=pd.DataFrame(flagged_rows[:SAMPLE_ROWS]),
    )
