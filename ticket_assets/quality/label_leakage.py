"""Label leakage: within each language, no phrase or tag gives a label away.

Features of a ticket: its lowercased word n-grams (`\\w+` words, n = `ngram`) of the subject
and of the body, and each tag as `tag:<Tag>`; each counts once per ticket. For every value of
a label (type, priority, ...) with at least `min_support` tickets in a language, a feature
LEAKS when precision = P(value | feature) >= `min_precision` and recall = the share of the
value's tickets that carry it >= `min_recall`: a sentence the generator reserves for High
priority, say, or a tag only Incidents get. A classifier would learn the template, not the
ticket.

Fast by pruning: the features are counted once over the language's tickets; only those on
at least `min_recall` of the smallest value's tickets can leak, so the rest is dropped
before the features of each value are counted. Consecutive n-grams on the same tickets are
listed as one phrase.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

import pandas as pd

from ticket_assets.config import LabelLeakageQualityConfig
from ticket_assets.quality.result import CheckResult, snippet

WORD = re.compile(r"\w+")
TAG_PREFIX = "tag:"
LEAK_COLUMNS = (
    "language",
    "label",
    "value",
    "feature",
    "precision",
    "recall",
    "tickets",
    "value_tickets",
    "ngrams",
)


@dataclass(frozen=True)
class Leak:
    language: str
    label: str
    value: str
    feature: str
    carrying: int  # tickets of the value with the feature
    total: int  # tickets of the language with the feature
    value_tickets: int

    @property
    def precision(self) -> float:
        return self.carrying / self.total

    @property
    def recall(self) -> float:
        return self.carrying / self.value_tickets


def _tags(value: object) -> list[str]:
    if value is None or isinstance(value, float):  # missing (None or NaN)
        return []
    if isinstance(value, str):  # comma-joined, as in CSV
        return [tag.strip() for tag in value.split(",") if tag.strip()]
    return [str(tag) for tag in value]  # type: ignore[attr-defined]


def _ngrams(text: object, n: int) -> Iterable[str]:
    """The word n-grams of `text`, each as its words joined by a space (a string hashes once,
    a tuple at every lookup)."""
    if not isinstance(text, str):
        return ()
    words = WORD.findall(text.lower())
    return map(" ".join, zip(*(words[i:] for i in range(n)), strict=False))


def ticket_features(frame: pd.DataFrame, n: int) -> list[set[str]]:
    """Each ticket's features: word n-grams of subject and body, and its tags."""
    rows = len(frame)
    subjects = frame["subject"].tolist() if "subject" in frame else [None] * rows
    bodies = frame["body"].tolist() if "body" in frame else [None] * rows
    tags = frame["tags"].tolist() if "tags" in frame else [None] * rows
    features: list[set[str]] = []
    for subject, body, labels in zip(subjects, bodies, tags, strict=True):
        found: set[str] = set(_ngrams(subject, n))
        found.update(_ngrams(body, n))
        found.update(TAG_PREFIX + tag for tag in _tags(labels))
        features.append(found)
    return features


def _missing(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def language_leaks(
    language: str,
    features: Sequence[set[str]],
    labels: pd.DataFrame,
    settings: LabelLeakageQualityConfig,
) -> tuple[list[Leak], int, int]:
    """The leaks of one language (`features` and `labels` row by row), and how many label
    values were checked and skipped for having fewer than `min_support` tickets."""
    groups = {label: _positions(labels[label]) for label in labels.columns}
    supported = [
        len(rows)
        for positions in groups.values()
        for rows in positions.values()
        if len(rows) >= settings.min_support
    ]
    skipped = sum(len(positions) for positions in groups.values()) - len(supported)
    if not supported:
        return [], 0, skipped
    # How many tickets carry each feature; only those on enough tickets to reach the recall
    # of the smallest value checked can leak, the rest is dropped before counting per value.
    tickets = Counter(chain.from_iterable(features))
    needed = settings.min_recall * min(supported)
    frequent = {feature for feature, count in tickets.items() if count >= needed}
    kept = [found & frequent for found in features]
    leaks: list[Leak] = []
    for label, positions in groups.items():
        for value, rows in positions.items():
            if len(rows) < settings.min_support:
                continue
            least = settings.min_recall * len(rows)
            counts = Counter(chain.from_iterable(kept[p] for p in rows))
            for feature, carrying in counts.items():
                total = tickets[feature]
                if carrying >= least and carrying / total >= settings.min_precision:
                    leaks.append(Leak(language, label, value, feature, carrying, total, len(rows)))
    return leaks, len(supported), skipped


def _positions(values: pd.Series) -> dict[str, list[int]]:
    """The positions of each value (missing values have none)."""
    positions: dict[str, list[int]] = {}
    for position, value in enumerate(values.tolist()):
        if not _missing(value):
            positions.setdefault(str(value), []).append(position)
    return positions


def merge_phrases(leaks: Sequence[Leak]) -> list[tuple[Leak, str, int]]:
    """Leaks with their feature as text: consecutive n-grams of one value with the same
    counts (the same phrase) joined into one, with how many n-grams it joins."""
    groups: dict[tuple, list[Leak]] = {}
    for leak in leaks:
        key = (leak.language, leak.label, leak.value, leak.carrying, leak.total)
        groups.setdefault(key, []).append(leak)
    merged = []
    for group in groups.values():
        tags = [leak for leak in group if leak.feature.startswith(TAG_PREFIX)]
        merged += [(leak, leak.feature, 1) for leak in tags]
        grams = [tuple(leak.feature.split(" ")) for leak in group if leak not in tags]
        merged += [(group[0], phrase, count) for phrase, count in _chains(grams)]
    return merged


def _chains(grams: Sequence[tuple[str, ...]]) -> list[tuple[str, int]]:
    """The phrases that overlapping n-grams spell (a b c + b c d: a b c d), with how many
    n-grams each joins."""
    if not grams or len(grams[0]) < 2:
        return [(" ".join(gram), 1) for gram in grams]
    following: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
    for gram in grams:
        following.setdefault(gram[:-1], []).append(gram)
    has_previous = {nxt for gram in grams for nxt in following.get(gram[1:], ()) if nxt != gram}
    used: set[tuple[str, ...]] = set()
    phrases = []
    for start in [g for g in grams if g not in has_previous] + list(grams):
        if start in used:
            continue
        words, count, gram = list(start), 1, start
        used.add(start)
        while nxt := next((g for g in following.get(gram[1:], ()) if g not in used), None):
            words.append(nxt[-1])
            used.add(nxt)
            count, gram = count + 1, nxt
        phrases.append((" ".join(words), count))
    return phrases


def leak_table(leaks: Sequence[Leak]) -> pd.DataFrame:
    records = [
        {
            "language": leak.language,
            "label": leak.label,
            "value": leak.value,
            "feature": snippet(phrase),
            "precision": round(leak.precision, 3),
            "recall": round(leak.recall, 3),
            "tickets": leak.carrying,
            "value_tickets": leak.value_tickets,
            "ngrams": count,
        }
        for leak, phrase, count in merge_phrases(leaks)
    ]
    table = pd.DataFrame.from_records(records, columns=list(LEAK_COLUMNS))
    order = ["recall", "precision", "tickets", "language", "label", "value", "feature"]
    ascending = [False, False, False, True, True, True, True]
    return table.sort_values(order, ascending=ascending, kind="stable").reset_index(drop=True)


def check_label_leakage(frame: pd.DataFrame, settings: LabelLeakageQualityConfig) -> CheckResult:
    labels = [label for label in settings.labels if label in frame]
    languages = frame["language"] if "language" in frame else pd.Series("all", index=frame.index)
    leaks: list[Leak] = []
    checked = skipped = skipped_languages = 0
    for language, part in frame.groupby(languages, sort=True):
        found, values, small = language_leaks(
            str(language),
            ticket_features(part, settings.ngram),
            part[labels].reset_index(drop=True),
            settings,
        )
        leaks += found
        checked, skipped = checked + values, skipped + small
        skipped_languages += values == 0
    table = leak_table(leaks)
    scope = (
        f"{checked} label values of {', '.join(labels) or 'no label'} with at least "
        f"{settings.min_support} tickets in their language checked ({skipped} values with fewer "
        f"skipped, {skipped_languages} languages without any value to check)"
    )
    rule = (
        f"precision >= {settings.min_precision:g}, recall >= {settings.min_recall:g}; features: "
        f"word {settings.ngram}-grams of subject and body, tags"
    )
    if table.empty:
        summary = f"No feature gives a label away ({rule}); {scope}."
        headline = f"no leaks in {checked} label values"
    else:
        worst = table.iloc[0]
        summary = (
            f"{len(table)} features give a label away within a language ({rule}); {scope}. "
            f"Worst: {_describe(worst)}."
        )
        headline = f"{len(table)} leaks; worst {_describe(worst, short=True)}"
    return CheckResult(
        passed=table.empty,
        summary=summary,
        headline=headline,
        figures={
            "rows": len(frame),
            "values_checked": checked,
            "values_skipped": skipped,
            "languages_skipped": skipped_languages,
            "leaks": len(table),
            "leaking_features": len(leaks),
            "max_recall": float(table["recall"].max()) if len(table) else 0.0,
        },
        samples=table,
    )


def _describe(leak: pd.Series, short: bool = False) -> str:
    where = f"{leak['language']} {leak['label']}={leak['value']}"
    if short:
        return f"{where} ← {snippet(leak['feature'], 40)!r} (recall {leak['recall']:.2f})"
    return (
        f"{where} ← {leak['feature']!r} (precision {leak['precision']:.2f}, recall "
        f"{leak['recall']:.2f}, {leak['tickets']} of {leak['value_tickets']} tickets)"
    )
