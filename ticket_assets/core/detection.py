"""Which of the supported languages a text is written in (lingua, offline, no downloads).

Two uses with different needs. Validating one LLM answer (`detect_language`) must be cheap to
start in every worker process, so it uses lingua's low-accuracy mode and judges only texts
of MIN_CHARACTERS or more. The dataset's language check (`judge_languages`) must also judge
subjects, which are short: lingua's high-accuracy mode (its bundled n-gram models, 1.5 s to
load once) tells short texts apart, and a text counts as another language only when that
language wins clearly (MIN_MISMATCH_CONFIDENCE); otherwise it is undecided, never guessed.
The high-accuracy mode costs ~10x more per text, so the fast mode first clears the texts
plainly in their expected language (over 90 % of subjects, nearly all bodies and replies).

The languages are the registry's (`core/languages.py`, each one's `lingua` member name); each
detector is built on first use, once per process.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from ticket_assets.core.languages import LANGUAGES

if TYPE_CHECKING:
    from lingua import LanguageDetector

# Shorter texts (a subject line) are too ambiguous for the low-accuracy mode.
MIN_CHARACTERS = 60
# The high-accuracy mode judges texts with at least this many letters (a short subject).
MIN_JUDGED_LETTERS = 10
# Measured on the offline dev run: at 0.6 no correctly written subject counts as another
# language, and 97-100 % of subjects swapped between languages are caught.
MIN_MISMATCH_CONFIDENCE = 0.6
# The fast mode clears a text as in its expected language from this length (bodies, replies:
# reliable there), and below it when its confidence in the expected language reaches
# CLEAR_CONFIDENCE (measured: the same verdicts as judging every subject in high accuracy).
LONG_TEXT = 200
CLEAR_CONFIDENCE = 0.9

Verdict = Literal["match", "mismatch", "undecided"]


@cache
def _detector(high_accuracy: bool) -> tuple[LanguageDetector, dict[object, str]]:
    from lingua import Language, LanguageDetectorBuilder

    codes = {getattr(Language, language.lingua): language.code for language in LANGUAGES}
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
    """A text's verdict against the language it should be in, with the most likely language
    and lingua's confidence in it (None where no confidence was needed: clear matches)."""

    verdict: Verdict
    detected: str | None
    confidence: float | None


def _judged(detected: str | None, confidence: float, expected: str) -> Judgement:
    if detected == expected:
        return Judgement("match", detected, confidence)
    mismatch = detected is not None and confidence >= MIN_MISMATCH_CONFIDENCE
    return Judgement("mismatch" if mismatch else "undecided", detected, confidence)


def _most_likely(texts: Sequence[str], high_accuracy: bool) -> list[tuple[str | None, float]]:
    detector, codes = _detector(high_accuracy)
    values = detector.compute_language_confidence_values_in_parallel(list(texts))
    # Each list is sorted, most likely first; all zero means no known letters.
    return [(codes[v[0].language], v[0].value) if v[0].value > 0 else (None, 0.0) for v in values]


def language_neutral(text: str, product: object) -> str:
    """`text` without the product name (and the brackets or colon left around it): names
    such as "Microsoft 365" are in no language and tip short texts towards English."""
    if not isinstance(product, str) or not product:
        return text
    return re.sub(r"\(\s*\)|\s+:", " ", text.replace(product, " "))


def _clearly_expected(texts: Sequence[str], expected: Sequence[str]) -> list[bool]:
    """Whether the fast low-accuracy mode plainly finds each text in its expected language."""
    detector, codes = _detector(False)
    clear = [False] * len(texts)
    long = [i for i, text in enumerate(texts) if len(text) >= LONG_TEXT]
    found = detector.detect_languages_in_parallel_of([texts[i] for i in long])
    for index, language in zip(long, found, strict=True):
        clear[index] = language is not None and codes[language] == expected[index]
    short = [i for i, text in enumerate(texts) if len(text) < LONG_TEXT]
    for index, (language, confidence) in zip(
        short, _most_likely([texts[i] for i in short], False), strict=True
    ):
        clear[index] = language == expected[index] and confidence >= CLEAR_CONFIDENCE
    return clear


def judge_languages(texts: Sequence[str], expected: Sequence[str]) -> list[Judgement]:
    """Whether each text is written in its expected language, in order: texts the fast mode
    plainly finds in it match; the others are judged by the high-accuracy mode's confidence
    values; texts with fewer than MIN_JUDGED_LETTERS letters are undecided."""
    judgements = [Judgement("undecided", None, None)] * len(texts)
    judged = [
        i for i, text in enumerate(texts) if sum(map(str.isalpha, text)) >= MIN_JUDGED_LETTERS
    ]
    clear = _clearly_expected([texts[i] for i in judged], [expected[i] for i in judged])
    doubtful = []
    for index, is_clear in zip(judged, clear, strict=True):
        if is_clear:
            judgements[index] = Judgement("match", expected[index], None)
        else:
            doubtful.append(index)
    for index, (language, confidence) in zip(
        doubtful, _most_likely([texts[i] for i in doubtful], True), strict=True
    ):
        judgements[index] = _judged(language, confidence, expected[index])
    return judgements
