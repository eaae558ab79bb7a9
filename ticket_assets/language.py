"""Which of the supported languages a text is written in (lingua, offline, no downloads)."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Shorter texts (a subject line) are too ambiguous to judge.
MIN_CHARACTERS = 60


@cache
def _detector() -> tuple[LanguageDetector, dict[object, str]]:
    from lingua import Language, LanguageDetectorBuilder

    codes = {
        Language.GERMAN: "DE",
        Language.ENGLISH: "EN",
        Language.SPANISH: "ES",
        Language.FRENCH: "FR",
        Language.PORTUGUESE: "PT",
    }
    # Low-accuracy mode loads no large models (high accuracy costs 1.5 s at first use) and
    # is reliable on texts as long as MIN_CHARACTERS.
    detector = LanguageDetectorBuilder.from_languages(*codes).with_low_accuracy_mode().build()
    return detector, codes


def detect_language(text: str) -> str | None:
    """The language code of `text`, or None when it is too short or undecidable."""
    if len(text) < MIN_CHARACTERS:
        return None
    detector, codes = _detector()
    language = detector.detect_language_of(text)
    return codes.get(language) if language is not None else None
