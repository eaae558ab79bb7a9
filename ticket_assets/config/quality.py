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


class QualityConfig(StrictModel):
    language: LanguageQualityConfig = LanguageQualityConfig()
    duplicates: DuplicatesQualityConfig = DuplicatesQualityConfig()
    label_balance: LabelBalanceQualityConfig = LabelBalanceQualityConfig()
    fidelity: FidelityQualityConfig = FidelityQualityConfig()
    leaks: LeaksQualityConfig = LeaksQualityConfig()


class CardConfig(StrictModel):
    """What the dataset card (data/exports/README.md) says about the dataset."""

    pretty_name: str = "Synthetic multilingual customer-support tickets"
    license: str = "cc-by-4.0"
