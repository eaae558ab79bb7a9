"""Learnability: the labels must not be too easy to predict from the text.

For each label (type, priority, queue by default) a quick classifier is trained on a seeded
split of the tickets (stratified by the label; `test_share` held out) and scored with
macro-F1 on the held-out tickets, overall and for each language with at least
`min_language_rows` tickets in the sample. Real tickets are ambiguous: a macro-F1 of
`max_macro_f1` or more overall means the labels are written into the text (a phrase or
template per class), and a model trained on the data would learn the template.

The sample is at most `max_rows` tickets (seeded, stratified by language). The `quick`
model (default) turns the sample's texts into word TF-IDF features once and fits a linear
SVM per label by stochastic gradient descent: about half a second for 4,000 tickets and
three labels, plus a second to import scikit-learn. `classifier` trains the model of
quality/classifier.py (character n-grams, logistic regression: the `evaluate` command's)
per label instead: the same figures as `evaluate`, several seconds per label. scikit-learn
is imported inside the functions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from ticket_assets.config import LearnabilityQualityConfig
from ticket_assets.quality.classifier import (
    macro_f1,
    predict,
    stratified_split,
    ticket_texts,
    train,
)
from ticket_assets.quality.result import CheckResult

SEED = 0
ALL = "all"
_COUNTS = frozenset({"label", "classes", "train_tickets", "test_tickets"})  # not scores


def sample_rows(frame: pd.DataFrame, max_rows: int) -> pd.DataFrame:
    """At most `max_rows` tickets, seeded, stratified by language; positions as index."""
    frame = frame.reset_index(drop=True)
    if len(frame) > max_rows:
        if "language" in frame:
            _, frame = stratified_split(frame, "language", max_rows / len(frame), SEED)
        else:
            frame = frame.sample(n=max_rows, random_state=SEED)
    return frame.sort_index().reset_index(drop=True)


def _features(texts: Sequence[str]) -> Any:
    """Word TF-IDF of every text of the sample (no label is used to fit it). Word pairs would
    double the time for a hundredth of macro-F1 on the datasets tried."""
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(
        min_df=2 if len(texts) >= 20 else 1,
        sublinear_tf=True,
        dtype=np.float32,
    )
    return vectorizer.fit_transform(list(texts))


def _quick_predictions(
    features: Any, labels: Sequence[str], train_rows: list[int], test_rows: list[int]
) -> list[str]:
    """A linear SVM (hinge loss, stochastic gradient descent, classes weighted by their
    inverse frequency) fitted on the training rows; its predictions for the test rows."""
    from sklearn.linear_model import SGDClassifier

    model = SGDClassifier(class_weight="balanced", random_state=SEED)
    model.fit(features[train_rows], [labels[p] for p in train_rows])
    return [str(label) for label in model.predict(features[test_rows])]


def label_scores(
    sample: pd.DataFrame, label: str, settings: LearnabilityQualityConfig, features: Any
) -> dict[str, object] | None:
    """Macro-F1 of `label` on its held-out tickets, overall and per large language; None
    when the sample has a single class of it."""
    known = sample[sample[label].notna()]
    labels = known[label].astype(str)
    if labels.nunique() < 2 or len(known) < 2:
        return None
    train_part, test_part = stratified_split(known, label, settings.test_share, SEED)
    train_rows, test_rows = train_part.index.tolist(), test_part.index.tolist()
    truth = [str(value) for value in test_part[label]]
    if settings.model == "quick":
        every = sample[label].astype(str).tolist()
        predicted = _quick_predictions(features, every, train_rows, test_rows)
    else:
        texts = ticket_texts(sample)
        model = train([texts[p] for p in train_rows], labels.loc[train_rows].tolist(), SEED)
        predicted = predict(model, [texts[p] for p in test_rows])
    scores: dict[str, object] = {
        "label": label,
        "classes": int(labels.nunique()),
        "train_tickets": len(train_rows),
        "test_tickets": len(test_rows),
        ALL: macro_f1(truth, predicted),
    }
    if "language" in sample:
        languages = test_part["language"].astype(str).tolist()
        large = sample["language"].value_counts()
        for code in sorted(large[large >= settings.min_language_rows].index):
            chosen = [i for i, language in enumerate(languages) if language == code]
            if chosen:
                scores[str(code)] = macro_f1(
                    [truth[i] for i in chosen], [predicted[i] for i in chosen]
                )
    return scores


def check_learnability(frame: pd.DataFrame, settings: LearnabilityQualityConfig) -> CheckResult:
    labels = [label for label in settings.labels if label in frame]
    if len(frame) < settings.min_rows or not labels:
        reason = (
            f"{len(frame)} tickets, fewer than the {settings.min_rows} needed"
            if labels
            else "none of the configured labels is in the export"
        )
        return CheckResult(
            passed=True,
            summary=f"Not measured: {reason} for a meaningful held-out score.",
            headline="not measured",
            figures={"rows": len(frame), "labels_measured": 0},
        )
    sample = sample_rows(frame, settings.max_rows)
    features = _features(ticket_texts(sample)) if settings.model == "quick" else None
    rows, single = [], []
    for label in labels:
        scores = label_scores(sample, label, settings, features)
        if scores is None:
            single.append(label)
        else:
            rows.append(scores)
    table = pd.DataFrame.from_records(rows)
    too_easy = [row["label"] for row in rows if row[ALL] >= settings.max_macro_f1]
    figures: dict[str, float | int] = {
        "rows": len(frame),
        "sample_rows": len(sample),
        "labels_measured": len(rows),
        "labels_too_learnable": len(too_easy),
    }
    for row in rows:
        for scope in [ALL, *(c for c in row if c not in _COUNTS and c != ALL)]:
            name = f"{row['label']}/macro_f1" + ("" if scope == ALL else f"/{scope}")
            figures[name] = round(float(row[scope]), 4)
    scores = ", ".join(f"{row['label']} {row[ALL]:.2f}" for row in rows) or "no label"
    model = "word TF-IDF + linear SVM" if settings.model == "quick" else "char TF-IDF + LR"
    summary = (
        f"Macro-F1 of a quick classifier ({model}) on {rows[0]['test_tickets'] if rows else 0} "
        f"held-out of {len(sample)} sampled tickets: {scores}"
        + (
            f"; {', '.join(too_easy)} at or above {settings.max_macro_f1:g}: the text gives "
            "the label away (a phrase or template per class)."
            if too_easy
            else f"; all below {settings.max_macro_f1:g}."
        )
        + (f" Not measured (a single class): {', '.join(single)}." if single else "")
    )
    return CheckResult(
        passed=not too_easy,
        summary=summary,
        headline=(f"too learnable: {', '.join(too_easy)}; " if too_easy else "")
        + f"macro-F1 {scores} (max {settings.max_macro_f1:g})",
        figures=figures,
        samples=table.round(3) if len(table) else table,
    )
