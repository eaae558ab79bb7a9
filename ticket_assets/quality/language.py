"""Language check: subject, body and first response must be written in the row's language.

Each text is judged on its own (an English subject on a German body is a defect that judging
subject + body together would hide), with the product name removed first: names such as
"Microsoft 365" or "Zoom Workplace" are language-neutral and tip short subjects towards
English. Texts too short or too ambiguous to call are counted as undecided, not as matches
or mismatches (see ticket_assets/core/detection.py).
"""

from __future__ import annotations

import pandas as pd

from ticket_assets.config import LanguageQualityConfig
from ticket_assets.core.detection import judge_languages, language_neutral
from ticket_assets.quality.result import SAMPLE_ROWS, CheckResult, percent, snippet

TEXT_FIELDS = ("subject", "body", "first_response")


def check_language(frame: pd.DataFrame, config: LanguageQualityConfig) -> CheckResult:
    fields = [name for name in TEXT_FIELDS if name in frame]
    products = frame["product"] if "product" in frame else pd.Series([None] * len(frame))
    texts = [
        language_neutral(str(text), product)
        for name in fields
        for text, product in zip(frame[name], products, strict=True)
    ]
    expected = frame["language"].tolist()
    judgements = judge_languages(texts, expected * len(fields))
    rows = len(frame)
    mismatched: dict[int, list[tuple[str, str, float]]] = {}
    figures: dict[str, float | int] = {"rows": rows}
    for field_index, name in enumerate(fields):
        verdicts = {"match": 0, "mismatch": 0, "undecided": 0}
        for row in range(rows):
            judgement = judgements[field_index * rows + row]
            verdicts[judgement.verdict] += 1
            if judgement.verdict == "mismatch":
                found = (name, judgement.detected or "", judgement.confidence or 0.0)
                mismatched.setdefault(row, []).append(found)
        figures[f"{name}_mismatched"] = verdicts["mismatch"]
        figures[f"{name}_undecided"] = verdicts["undecided"]
    rate = len(mismatched) / rows if rows else 0.0
    figures.update({"mismatched_rows": len(mismatched), "mismatch_rate": rate})
    samples = pd.DataFrame(
        [
            {
                "ticket_id": frame["ticket_id"].iloc[row],
                "language": expected[row],
                "field": name,
                "detected": detected,
                "confidence": round(confidence, 2),
                "text": snippet(frame[name].iloc[row]),
            }
            for row, found in mismatched.items()
            for name, detected, confidence in found
        ][:SAMPLE_ROWS]
    )
    undecided = ", ".join(f"{figures[f'{name}_undecided']} {name}" for name in fields)
    return CheckResult(
        passed=rate <= config.max_mismatch_rate,
        summary=(
            f"{len(mismatched)} of {rows} rows ({percent(rate)}) have a text in another "
            f"language (max {percent(config.max_mismatch_rate)}); undecided: {undecided}."
        ),
        headline=(
            f"{percent(rate)} of rows in another language, "
            f"{figures.get('subject_undecided', 0)} subjects undecided"
        ),
        figures=figures,
        flagged=tuple(frame["ticket_id"].iloc[sorted(mismatched)]),
        samples=samples,
    )
