"""Which of the supported languages a text is written in (lingua, offline, no downloads).

Two uses with different needs. Validating one LLM answer (`detect_language`) must be cheap to
start in every worker process, so it uses lingua's low-accuracy mode and judges only texts
of MIN_CHARACTERS or more. The dataset's language check (`judge_languages`) must also judge
subjects, which are short; lingua's high-accuracy mode (its bundled n-gram models, 1.5 s to
load once) tells short texts apart, and a text counts as another language only when that
language wins clearly (MIN_MISMATCH_CONFIDENCE); otherwise it is undecided, never guessed.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Shorter texts (a subject line) are too ambiguous for the low-accuracy mode.
MIN_CHARACTERS = 60
# The high-accuracy mode judges texts with at least this many letters (a short subject).
MIN_JUDGED_LETTERS = 10
# Measured on the offline dev run: at 0.6 no correctly written subject counts as another
# language, and 97-100 % of subjects swapped between languages are caught.
MIN_MISMATCH_CONFIDENCE = 0.6

Verdict = Literal["match", "mismatch", "undecided"]


@cache
def _detector(high_accuracy: bool) -> tuple[LanguageDetector, dict[object, str]]:
    from lingua import Language, LanguageDetectorBuilder

    codes = {
        Language.GERMAN: "DE",
        Language.ENGLISH: "EN",
        Language.SPANISH: "ES",
        Language.FRENCH: "FR",
        Language.PORTUGUESE: "PT",
    }
    builder = LanguageDetectorBuilder.from_languages(*codes)
    # Low-accuracy mode loads no large models and is reliable on MIN_CHARACTERS and more.
    detector = (builder if high_accuracy else builder.with_low_accuracy_mode()).build()
    return detector, codes


def detect_language(text: str) -> str | None:
    """The language code of `text`, or None when it is too short or undecidable."""
    if len(text) < MIN_CHARACTERS:
        return None
    detector, codes = _detector(False)
    language = detector.detect_language_of(text)
    return codes.get(language) if language is not None else None


@dataclass(frozen=True)
class Judgement:
    """The most likely language of a text and lingua's confidence in it (0-1)."""

    detected: str | None  # None: too short to judge
    confidence: float

    def verdict(self, expected: str) -> Verdict:
        if self.detected is None:
            return "undecided"
        if self.detected == expected:
            return "match"
        return "mismatch" if self.confidence >= MIN_MISMATCH_CONFIDENCE else "undecided"


def language_neutral(text: str, product: object) -> str:
    """`text` without the product name (and the brackets or colon left around it): names
    such as "Microsoft 365" are in no language and tip short texts towards English."""
    if not isinstance(product, str) or not product:
        return text
    return re.sub(r"\(\s*\)|\s+:", " ", text.replace(product, " "))


def judge_languages(texts: Sequence[str]) -> list[Judgement]:
    """One judgement per text, in order (lingua's high-accuracy mode, on all cores)."""
    judged = [
        i for i, text in enumerate(texts) if sum(c.isalpha() for c in text) >= MIN_JUDGED_LETTERS
    ]
    judgements = [Judgement(None, 0.0)] * len(texts)
    if not judged:
        return judgements
    detector, codes = _detector(True)
    confidences = detector.compute_language_confidence_values_in_parallel(
        [texts[i] for i in judged]
    )
    for index, values in zip(judged, confidences, strict=True):
        best = values[0]  # sorted, most likely first
        judgements[index] = Judgement(codes[best.language], best.value)
    return judgements
