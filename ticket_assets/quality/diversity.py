"""Diversity: the texts vary as real tickets do, per language and overall.

- distinct subjects: the share of tickets whose subject (lowercased, spaces collapsed) no
  earlier ticket has; fails below `min_distinct_subjects`, overall and in any language;
- distinct word 3-grams: distinct / all 3-gram occurrences (`\\w+` words, lowercased) over a
  seeded sample of up to `sample_bodies` bodies of the whole export; fails below
  `min_distinct_3gram_ratio` (per language, each on its own sample: for information);
- reused sentences: the share of a language's sentence occurrences whose sentence is in at
  least `common_sentence_share` of its tickets (never fewer than 3); fails above
  `max_common_sentence_share`;
- body lengths: p10, median, p90 in characters; fails when p90 / p10 < `min_length_spread`;
- openings and closings: the share of tickets whose first body line, and whose last line that
  is not a name, is the language's most common one; fails above `max_top_opening_share`.

Per-language figures decide only for languages with at least `min_language_rows` tickets:
in a few dozen tickets one repeated greeting is a large share and says little.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from ticket_assets.config import DiversityQualityConfig
from ticket_assets.quality.result import CheckResult, percent, snippet

WORD = re.compile(r"\w+")
SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# A signature: one to four capitalized words (initials, hyphens, apostrophes), no sentence.
NAME_LINE = re.compile(r"(?:[^\W\d_][\w'.-]*\s+){0,3}[^\W\d_][\w'.-]*")
MIN_COMMON_TICKETS = 3
SEED = 0
SUMMARY_FAILURES = 6
ALL = "all"
TABLE_COLUMNS = (
    "language",
    "tickets",
    "distinct_subjects",
    "distinct_3grams",
    "common_sentences",
    "length_p10",
    "length_median",
    "length_p90",
    "length_spread",
    "top_opening",
    "top_opening_share",
    "top_closing",
    "top_closing_share",
    "failed",
)


@dataclass(frozen=True)
class Gate:
    """One figure against its threshold: `low` fails below it, else above it."""

    figure: str
    label: str
    threshold: float
    low: bool

    def fails(self, value: float) -> bool:
        return value < self.threshold if self.low else value > self.threshold


def gates(settings: DiversityQualityConfig) -> tuple[Gate, ...]:
    return (
        Gate("distinct_subjects", "distinct subjects", settings.min_distinct_subjects, True),
        Gate("distinct_3grams", "distinct 3-grams", settings.min_distinct_3gram_ratio, True),
        Gate("common_sentences", "reused sentences", settings.max_common_sentence_share, False),
        Gate("length_spread", "length p90/p10", settings.min_length_spread, True),
        Gate("top_opening_share", "top opening", settings.max_top_opening_share, False),
        Gate("top_closing_share", "top closing", settings.max_top_opening_share, False),
    )


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _normal(line: str) -> str:
    return " ".join(line.lower().split())


def distinct_subject_share(subjects: Sequence[object]) -> float:
    if not subjects:
        return 1.0
    return len({_normal(_text(s)) for s in subjects}) / len(subjects)


def distinct_3gram_ratio(bodies: Sequence[str], limit: int) -> float:
    """Distinct / all word 3-grams over a seeded sample of at most `limit` bodies."""
    if len(bodies) > limit:
        bodies = random.Random(SEED).sample(list(bodies), limit)
    grams: list[str] = []
    for body in bodies:
        words = WORD.findall(body.lower())
        grams += map(" ".join, zip(words, words[1:], words[2:], strict=False))
    return len(set(grams)) / len(grams) if grams else 1.0


def sentences(body: str) -> list[str]:
    return [s for s in (part.strip() for part in SENTENCE_BREAK.split(body)) if s]


def common_sentence_share(bodies: Sequence[str], share: float) -> float:
    """The share of sentence occurrences whose sentence is in at least `share` of the
    tickets (and at least MIN_COMMON_TICKETS)."""
    split = [sentences(body) for body in bodies]
    tickets = Counter(s for found in split for s in set(found))
    needed = max(MIN_COMMON_TICKETS, math.ceil(share * len(bodies)))
    occurrences = sum(len(found) for found in split)
    common = sum(1 for found in split for s in found if tickets[s] >= needed)
    return common / occurrences if occurrences else 0.0


def opening(body: str) -> str:
    """The first line that is not empty."""
    return next((_normal(line) for line in body.splitlines() if line.strip()), "")


def closing(body: str) -> str:
    """The last line that is not a signature (a short line of capitalized words)."""
    lines = [line.strip() for line in body.rstrip().splitlines()[-4:][::-1] if line.strip()]
    if len(lines) > 1 and _is_name(lines[0]):
        lines = lines[1:]
    return _normal(lines[0]) if lines else ""


def _is_name(line: str) -> bool:
    words = line.split()
    return bool(NAME_LINE.fullmatch(line)) and all(w[0].isupper() for w in words)


def _top(values: Sequence[str]) -> tuple[str, float]:
    if not values:
        return "", 0.0
    value, count = Counter(values).most_common(1)[0]
    return value, count / len(values)


def language_figures(part: pd.DataFrame, settings: DiversityQualityConfig) -> dict[str, object]:
    bodies = [_text(b) for b in part["body"]] if "body" in part else []
    subjects = part["subject"].tolist() if "subject" in part else []
    lengths = pd.Series([len(b) for b in bodies], dtype="float64")
    p10, median, p90 = (
        float(lengths.quantile(q)) if len(lengths) else 0.0 for q in (0.1, 0.5, 0.9)
    )
    top_opening, opening_share = _top([opening(b) for b in bodies])
    top_closing, closing_share = _top([closing(b) for b in bodies])
    return {
        "tickets": len(part),
        "distinct_subjects": distinct_subject_share(subjects),
        "distinct_3grams": distinct_3gram_ratio(bodies, settings.sample_bodies),
        "common_sentences": common_sentence_share(bodies, settings.common_sentence_share),
        "length_p10": p10,
        "length_median": median,
        "length_p90": p90,
        "length_spread": p90 / p10 if p10 else math.inf,
        "top_opening": top_opening,
        "top_opening_share": opening_share,
        "top_closing": top_closing,
        "top_closing_share": closing_share,
    }


def deciding(language: str, tickets: int, settings: DiversityQualityConfig) -> set[str]:
    """The figures that decide for this row: overall, distinct subjects and 3-grams; in a
    language with at least `min_language_rows` tickets, every figure but the 3-grams."""
    if language == ALL:
        return {"distinct_subjects", "distinct_3grams"}
    if tickets < settings.min_language_rows:
        return set()
    return {gate.figure for gate in gates(settings)} - {"distinct_3grams"}


def diversity_table(frame: pd.DataFrame, settings: DiversityQualityConfig) -> pd.DataFrame:
    """One row per language and one for all tickets (`all`); `failed` names the deciding
    figures that miss their threshold."""
    records = []
    if "language" in frame:
        for language, part in frame.groupby("language", sort=True):
            records.append({"language": str(language), **language_figures(part, settings)})
    bodies = [_text(b) for b in frame["body"]] if "body" in frame else []
    records.append(
        {
            "language": ALL,
            "tickets": len(frame),
            "distinct_subjects": distinct_subject_share(
                frame["subject"].tolist() if "subject" in frame else []
            ),
            "distinct_3grams": distinct_3gram_ratio(bodies, settings.sample_bodies),
        }
    )
    for record in records:
        decide = deciding(record["language"], record["tickets"], settings)
        record["failed"] = ", ".join(
            gate.label
            for gate in gates(settings)
            if gate.figure in decide and gate.fails(float(record[gate.figure]))
        )
    return pd.DataFrame.from_records(records, columns=list(TABLE_COLUMNS))


def failures(table: pd.DataFrame, settings: DiversityQualityConfig) -> list[str]:
    """Each failing figure with its value and threshold, e.g. `DE top opening 35.0 % > 10.0 %`."""
    found = []
    for record in table.to_dict("records"):
        decide = deciding(record["language"], record["tickets"], settings)
        for gate in gates(settings):
            if gate.figure in decide and gate.fails(float(record[gate.figure])):
                value, limit = _format(gate, record[gate.figure]), _format(gate, gate.threshold)
                sign = "<" if gate.low else ">"
                found.append(f"{record['language']} {gate.label} {value} {sign} {limit}")
    return found


def _format(gate: Gate, value: float) -> str:
    return f"{value:.2f}" if gate.figure in ("length_spread", "distinct_3grams") else percent(value)


def check_diversity(frame: pd.DataFrame, settings: DiversityQualityConfig) -> CheckResult:
    table = diversity_table(frame, settings)
    failed = failures(table, settings)
    overall = table.iloc[-1]
    small = [
        str(code)
        for code, tickets in zip(table["language"], table["tickets"], strict=True)
        if code != ALL and tickets < settings.min_language_rows
    ]
    figures: dict[str, float | int] = {
        "rows": len(frame),
        "failing_figures": len(failed),
        "distinct_subjects": round(float(overall["distinct_subjects"]), 4),
        "distinct_3grams": round(float(overall["distinct_3grams"]), 4),
        "languages_too_small": len(small),
    }
    for record in table.to_dict("records"):
        if record["language"] == ALL:
            continue
        for name in TABLE_COLUMNS[2:-1]:
            if isinstance(record[name], float | int) and math.isfinite(record[name]):
                figures[f"{record['language']}/{name}"] = round(float(record[name]), 4)
    measured = (
        f"distinct subjects {percent(overall['distinct_subjects'])}, distinct word 3-grams "
        f"{overall['distinct_3grams']:.2f} of {min(len(frame), settings.sample_bodies)} bodies"
    )
    note = (
        f" Languages with fewer than {settings.min_language_rows} tickets are only reported: "
        f"{', '.join(small)}."
        if small
        else ""
    )
    listed = "; ".join(failed[:SUMMARY_FAILURES])
    if len(failed) > SUMMARY_FAILURES:
        listed += f"; {len(failed) - SUMMARY_FAILURES} more in the table"
    summary = (
        f"{len(failed)} diversity figures miss their threshold"
        + (f": {listed}." if failed else ".")
        + f" Overall {measured}; reused sentences, body length spread and the most common "
        "opening and closing per language in the table." + note
    )
    return CheckResult(
        passed=not failed,
        summary=summary,
        headline=(
            (f"{len(failed)} figures fail (first: {failed[0]})" if failed else "varied")
            + f"; subjects {percent(overall['distinct_subjects'])} distinct, 3-gram ratio "
            f"{overall['distinct_3grams']:.2f}"
        ),
        figures=figures,
        samples=_shown(table),
    )


def _shown(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the card shows it: shares rounded, lines shortened."""
    shown = table.copy()
    for name in ("top_opening", "top_closing"):
        shown[name] = shown[name].map(
            lambda line: snippet(line, 40) if isinstance(line, str) else ""
        )
    shown = shown.round(3).replace([math.inf, -math.inf], math.nan).astype(object)
    return shown.where(shown.notna(), None)  # blank, not nan, in the card's table
