"""Does the synthetic data help a classifier of real tickets? (`python -m ticket_assets
evaluate --real my_tickets.csv`)

For each label (type, priority, queue: those in both files) and each language of the user's
file (plus "all"), the user's labelled tickets are split 50/50, stratified by the label
and seeded. Three classifiers (quality/classifier.py) are scored by macro-F1 on the same
half B:

- R, "real half": trained on the user's half A;
- S, "synthetic (same size)": trained on as many synthetic tickets as half A has, of the same
  language (for "all": the same mix of languages);
- S_all, "synthetic (all)": trained on every synthetic ticket (a seeded sample of at most
  SYNTHETIC_CAP), the same model for every language.

S/R and S_all/R say how far synthetic data goes towards real data. The user's file is read
into memory, only the mapped columns of it, and nothing of it is written anywhere: the
results hold figures, the user's column names, languages and label values only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ticket_assets.config import EVALUATE_LABELS
from ticket_assets.core.files import atomic_write
from ticket_assets.quality.classifier import (
    Classifier,
    macro_f1,
    predict,
    stratified_split,
    ticket_texts,
    train,
)
from ticket_assets.quality.evaluation_input import EvaluationError, language_code, read_tickets

EVALUATION_FILE = "evaluation.json"
EVALUATION_PLOT = "evaluation.png"
ALL = "all"  # the row over every language (the only one without a language column)
TEST_SHARE = 0.5
MIN_LANGUAGE_ROWS = 40  # fewer labelled tickets in a language: no row of its own
SYNTHETIC_CAP = 10_000  # S_all's training tickets, at most
TEXT_COLUMNS = ("subject", "body")


@dataclass(frozen=True)
class EvaluationRequest:
    real: Path  # the user's labelled tickets, CSV or Parquet
    synthetic: Path  # the export
    columns: Mapping[str, str]  # our column -> the user's (unmapped: same name)
    labels: tuple[str, ...] | None  # None: the EVALUATE_LABELS found in both files
    seed: int


@dataclass(frozen=True)
class Score:
    """One label in one language: the three classifiers' macro-F1 on half B."""

    language: str
    rows: int  # the user's tickets with a text and this label
    train_rows: int  # half A: R's training tickets
    test_rows: int  # half B: every classifier's test
    synthetic_rows: int  # S's training tickets
    drawn_from_all: tuple[str, ...]  # languages the synthetic data lacks: S drew from all
    f1_synthetic: float
    f1_synthetic_all: float
    f1_real: float
    ratio: float | None  # f1_synthetic / f1_real (None when f1_real is 0)
    ratio_all: float | None  # f1_synthetic_all / f1_real


@dataclass(frozen=True)
class LabelResult:
    label: str
    scores: tuple[Score, ...]
    empty_label_rows: int  # the user's tickets with a text but no value of this label
    unseen: dict[str, int]  # the user's label values the synthetic data lacks: tickets
    skipped_languages: dict[str, int]  # languages under MIN_LANGUAGE_ROWS: tickets


@dataclass(frozen=True)
class Evaluation:
    real_file: str  # the file's name only
    real_rows: int
    empty_text_rows: int  # the user's tickets with neither subject nor body: skipped
    columns: dict[str, str]  # our column -> the user's, as read
    synthetic_file: str
    synthetic_rows: int
    synthetic_all_rows: int  # S_all's training tickets
    seed: int
    labels: tuple[LabelResult, ...]

    def to_json(self) -> dict[str, Any]:
        figures = asdict(self)
        figures.update(
            test_share=TEST_SHARE,
            min_language_rows=MIN_LANGUAGE_ROWS,
            synthetic_cap=SYNTHETIC_CAP,
        )
        return _rounded(figures)


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {key: _rounded(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_rounded(item) for item in value]
    return value


# --- evaluating ------------------------------------------------------------------------------


def evaluate(request: EvaluationRequest) -> Evaluation:
    """Score S, S_all and R for each label and language (see the module's docstring)."""
    if not request.synthetic.is_file():
        raise EvaluationError(
            f"{request.synthetic}: no synthetic export there; run `python -m ticket_assets "
            "run` first, or name one with --synthetic"
        )
    real, mapping = read_tickets(request.real, request.columns)
    synthetic, _ = read_tickets(request.synthetic, {})
    labels = _labels(request, real, synthetic)
    if not any(column in real for column in TEXT_COLUMNS):
        raise EvaluationError(
            f"{request.real}: no text column (subject or body); name yours with "
            "--column body=YOUR_COLUMN"
        )
    real_rows = len(real)
    real, synthetic = _with_text(real), _with_text(synthetic)
    if len(real) < MIN_LANGUAGE_ROWS:
        raise EvaluationError(
            f"{request.real}: {len(real)} tickets with a text; at least {MIN_LANGUAGE_ROWS} "
            "are needed"
        )
    # Per language when both files have one; else one row, "all".
    by_language = "language" in real and "language" in synthetic
    for frame in (real, synthetic):
        frame["language"] = frame["language"].map(language_code) if by_language else ALL
    results = []
    capped = 0
    for label in labels:
        pool = synthetic[synthetic[label] != ""]
        if pool[label].nunique() < 1:
            raise EvaluationError(f"{request.synthetic}: no ticket has a {label}")
        capped = min(len(pool), SYNTHETIC_CAP)
        everything = pool.sample(n=capped, random_state=request.seed)
        model_all = train(ticket_texts(everything), everything[label].tolist(), request.seed)
        results.append(_label_result(label, real, pool, model_all, request.seed, by_language))
    if not any(result.scores for result in results):
        raise EvaluationError(
            f"{request.real}: fewer than {MIN_LANGUAGE_ROWS} tickets with a text and a label"
        )
    return Evaluation(
        real_file=request.real.name,
        real_rows=real_rows,
        empty_text_rows=real_rows - len(real),
        columns=mapping,
        synthetic_file=str(request.synthetic),
        synthetic_rows=len(synthetic),
        synthetic_all_rows=capped,
        seed=request.seed,
        labels=tuple(results),
    )


def _labels(
    request: EvaluationRequest, real: pd.DataFrame, synthetic: pd.DataFrame
) -> tuple[str, ...]:
    if request.labels is None:
        labels = tuple(label for label in EVALUATE_LABELS if label in real and label in synthetic)
        if not labels:
            raise EvaluationError(
                f"{request.real}: no label in common with the synthetic data "
                f"({', '.join(EVALUATE_LABELS)}); name yours with --column type=YOUR_COLUMN"
            )
        return labels
    for label in request.labels:
        if label not in real:
            raise EvaluationError(
                f"{request.real}: no {label} column; name yours with --column {label}=YOUR_COLUMN"
            )
        if label not in synthetic:
            raise EvaluationError(f"{request.synthetic}: no {label} column")
    return request.labels


def _with_text(frame: pd.DataFrame) -> pd.DataFrame:
    texts = [frame[column] for column in TEXT_COLUMNS if column in frame]
    has_text = pd.concat(texts, axis=1).ne("").any(axis=1) if texts else frame.index < 0
    return frame[has_text].reset_index(drop=True)


def _label_result(
    label: str,
    real: pd.DataFrame,
    synthetic: pd.DataFrame,
    model_all: Classifier,
    seed: int,
    by_language: bool,
) -> LabelResult:
    labelled = real[real[label] != ""].copy()
    # A value the synthetic data spells otherwise (high, HIGH) is the same class (High).
    spelling = {value.casefold(): value for value in synthetic[label].unique()}
    labelled[label] = labelled[label].map(lambda value: spelling.get(value.casefold(), value))
    unseen = labelled.loc[~labelled[label].isin(set(spelling.values())), label].value_counts()
    halves, skipped = {}, {}
    for language, group in sorted(labelled.groupby("language"), key=lambda item: -len(item[1])):
        if len(group) >= 2:
            halves[language] = stratified_split(group, label, TEST_SHARE, seed)
        if len(group) < MIN_LANGUAGE_ROWS:
            skipped[str(language)] = len(group)
    scores = []
    if len(labelled) >= MIN_LANGUAGE_ROWS and halves:
        whole = (
            pd.concat([train_half for train_half, _ in halves.values()]),
            pd.concat([test_half for _, test_half in halves.values()]),
        )
        groups = [(str(lang), half) for lang, half in halves.items() if str(lang) not in skipped]
        groups = [*groups, (ALL, whole)] if by_language else [(ALL, whole)]
        for language, (train_half, test_half) in groups:
            scores.append(
                _score(label, language, train_half, test_half, synthetic, model_all, seed)
            )
    return LabelResult(
        label=label,
        scores=tuple(scores),
        empty_label_rows=len(real) - len(labelled),
        unseen={str(value): int(count) for value, count in unseen.items()},
        skipped_languages=skipped if by_language else {},
    )


def _score(
    label: str,
    language: str,
    train_half: pd.DataFrame,
    test_half: pd.DataFrame,
    synthetic: pd.DataFrame,
    model_all: Classifier,
    seed: int,
) -> Score:
    texts, true = ticket_texts(test_half), test_half[label].tolist()
    real_model = train(ticket_texts(train_half), train_half[label].tolist(), seed)
    like, drawn_from_all = _synthetic_like(train_half, synthetic, seed)
    synthetic_model = train(ticket_texts(like), like[label].tolist(), seed)
    f1_real = macro_f1(true, predict(real_model, texts))
    f1_synthetic = macro_f1(true, predict(synthetic_model, texts))
    f1_all = macro_f1(true, predict(model_all, texts))
    return Score(
        language=language,
        rows=len(train_half) + len(test_half),
        train_rows=len(train_half),
        test_rows=len(test_half),
        synthetic_rows=len(like),
        drawn_from_all=drawn_from_all,
        f1_synthetic=f1_synthetic,
        f1_synthetic_all=f1_all,
        f1_real=f1_real,
        ratio=f1_synthetic / f1_real if f1_real else None,
        ratio_all=f1_all / f1_real if f1_real else None,
    )


def _synthetic_like(
    train_half: pd.DataFrame, synthetic: pd.DataFrame, seed: int
) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """As many synthetic tickets as `train_half` has, language by language (seeded), and the
    languages the synthetic data lacks, whose share is drawn from all of it."""
    parts, lacking = [], []
    for language, count in train_half["language"].value_counts().sort_index().items():
        pool = synthetic[synthetic["language"] == language]
        if pool.empty:
            pool = synthetic
            lacking.append(str(language))
        parts.append(pool.sample(n=min(int(count), len(pool)), random_state=seed))
    return pd.concat(parts), tuple(lacking)


# --- writing ---------------------------------------------------------------------------------


def write_evaluation(evaluation: Evaluation, directory: Path) -> dict[str, Path]:
    """evaluation.json (the figures) and evaluation.png (the bars) in `directory`."""
    from ticket_assets.quality.evaluation_plot import write_evaluation_plot

    paths = {"json": directory / EVALUATION_FILE, "plot": directory / EVALUATION_PLOT}
    text = json.dumps(evaluation.to_json(), indent=2, ensure_ascii=False) + "\n"
    atomic_write(paths["json"], lambda path: path.write_text(text, encoding="utf-8"))
    write_evaluation_plot(evaluation, paths["plot"])
    return paths
