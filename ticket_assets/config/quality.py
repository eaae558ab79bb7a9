"""Balanced sampling, the quality checks' thresholds and the dataset card."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from ticket_assets.config.base import StrictModel

BALANCE_COLUMNS = ("type", "queue", "priority", "business_type")
# Domains reserved for examples (RFC 2606, RFC 6761): addresses there are not real people's.
RESERVED_EMAIL_DOMAINS = (
    "example.com",
    "example.net",
    "example.org",
    "example",
    "test",
    "invalid",
    "localhost",
)


def _bounds(value: tuple[float, float]) -> tuple[float, float]:
    low, high = value
    if not 0 <= low < high:
        raise ValueError(f"expected [low, high] with 0 <= low < high, got [{low}, {high}]")
    return value


Bounds = Annotated[tuple[float, float], AfterValidator(_bounds)]
Share = Annotated[float, Field(ge=0, le=1)]


class BalanceConfig(StrictModel):
    """Sampling of rare classes: every class of `columns` is drawn at least `target_share` of
    the time (or uniformly where the column has too many classes for that); 0 is off."""

    target_share: float = Field(default=0.0, ge=0, lt=1)
    columns: tuple[Literal["type", "queue", "priority", "business_type"], ...] = BALANCE_COLUMNS


class LanguageQualityConfig(StrictModel):
    """Subject, body and first response must be in the row's language."""

    max_mismatch_rate: Share = 0.01
    action: Literal["fail", "drop", "regenerate"] = "fail"


class DuplicatesQualityConfig(StrictModel):
    """Exact and near duplicates over subject + body, across the whole dataset."""

    near_threshold: float = Field(default=0.7, gt=0, le=1)
    max_exact_rate: Share = 0.0
    max_near_rate: Share = 0.02
    action: Literal["keep", "drop"] = "keep"


class LabelBalanceQualityConfig(StrictModel):
    """Achieved label shares versus the configured weights, overall and per language."""

    tolerance: Share = 0.05
    noise_z: float = Field(default=3.0, ge=0)


class FidelityQualityConfig(StrictModel):
    """Paraphrases reword without losing meaning; translations keep it."""

    paraphrase_similarity: Bounds = (0.05, 0.9)
    length_ratio: Bounds = (0.5, 2.0)
    max_flagged_rate: Share = 0.01


class LeaksQualityConfig(StrictModel):
    """No template residue, JSON or markdown, real-looking e-mail addresses or phone numbers."""

    allowed_email_domains: tuple[str, ...] = RESERVED_EMAIL_DOMAINS


LabelColumn = Literal["type", "priority", "queue", "business_type"]


class LabelLeakageQualityConfig(StrictModel):
    """Within a language, no word n-gram of subject + body and no tag gives a label away:
    a feature leaks when at least `min_precision` of its tickets have one value of a label
    and it is on at least `min_recall` of that value's tickets (values with fewer than
    `min_support` tickets in the language are skipped)."""

    labels: tuple[LabelColumn, ...] = ("type", "priority")
    ngram: int = Field(default=3, ge=1, le=8)
    min_support: int = Field(default=50, ge=1)
    min_precision: float = Field(default=0.95, gt=0.5, le=1)
    min_recall: float = Field(default=0.25, gt=0, le=1)


class DiversityQualityConfig(StrictModel):
    """Texts vary: subjects, word 3-grams, reused sentences, body lengths, openings and
    closings. Per-language figures decide only for languages with `min_language_rows`."""

    min_distinct_subjects: Share = 0.90
    sample_bodies: int = Field(default=1000, ge=10)
    min_distinct_3gram_ratio: Share = 0.50
    common_sentence_share: Share = 0.01
    max_common_sentence_share: Share = 0.40
    min_language_rows: int = Field(default=200, ge=1)
    min_length_spread: float = Field(default=2.5, ge=1)
    # Real mail opens with a handful of salutations ("Dear Sir or Madam,"), so one of them may
    # start a good share of tickets; templated text starts most of them the same way.
    max_top_opening_share: Share = 0.15


class LearnabilityQualityConfig(StrictModel):
    """A quick classifier must not predict the labels almost perfectly (labels written into
    the text): macro-F1 on a held-out share of a seeded stratified sample."""

    labels: tuple[LabelColumn, ...] = ("type", "priority", "queue")
    max_macro_f1: Share = 0.95
    max_rows: int = Field(default=4000, ge=50)
    min_rows: int = Field(default=200, ge=20)
    min_language_rows: int = Field(default=300, ge=1)
    test_share: float = Field(default=0.2, gt=0, lt=1)
    model: Literal["quick", "classifier"] = "quick"


class QualityConfig(StrictModel):
    language: LanguageQualityConfig = LanguageQualityConfig()
    duplicates: DuplicatesQualityConfig = DuplicatesQualityConfig()
    label_balance: LabelBalanceQualityConfig = LabelBalanceQualityConfig()
    fidelity: FidelityQualityConfig = FidelityQualityConfig()
    leaks: LeaksQualityConfig = LeaksQualityConfig()
    label_leakage: LabelLeakageQualityConfig = LabelLeakageQualityConfig()
    diversity: DiversityQualityConfig = DiversityQualityConfig()
    learnability: LearnabilityQualityConfig = LearnabilityQualityConfig()


class CardConfig(StrictModel):
    """What the dataset card (data/exports/README.md) says about the dataset."""

    pretty_name: str = "Synthetic multilingual customer-support tickets"
    license: str = "cc-by-4.0"
