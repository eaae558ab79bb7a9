"""Pydantic models of node answers: what a valid LLM answer looks like, checked field by field."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator

from ticket_assets.config import SUPPORTED_LANGUAGES
from ticket_assets.language import detect_language, judge_languages, language_neutral

_LEAKS = re.compile(r"\{\{|\}\}|\{%|%\}|\{[A-Za-z_]\w*\}|\[[A-Z_]{2,}\]|<[a-z_]+>|```")
MIN_TAGS = 4
MAX_TAGS = 8


def _clean_text(value: str) -> str:
    text = value.strip()
    if not text:
        raise ValueError("must not be empty")
    leak = _LEAKS.search(text)
    if leak:
        raise ValueError(f"contains template or markup residue {leak.group(0)!r}")
    return text


CleanText = Annotated[str, AfterValidator(_clean_text)]


def _in_expected_language(text: str, info: ValidationInfo) -> str:
    """With `check_language` in the context, reject text written in another language."""
    context = info.context or {}
    expected = context.get("expected_language")
    if expected and context.get("check_language"):
        found = detect_language(text)
        if found is not None and found != expected:
            raise ValueError(
                f"is written in {SUPPORTED_LANGUAGES[found]}, "
                f"expected {SUPPORTED_LANGUAGES[expected]}"
            )
    return text


def _subject_in_expected_language(text: str, info: ValidationInfo) -> str:
    """With `regenerate_subjects` too (quality.language.action: regenerate), reject a subject
    written in another language, judged as the dataset's language check judges it."""
    context = info.context or {}
    expected = context.get("expected_language")
    if expected and context.get("check_language") and context.get("regenerate_subjects"):
        subject = language_neutral(text, context.get("product"))
        judgement = judge_languages([subject], [expected])[0]
        if judgement.verdict == "mismatch" and judgement.detected:
            raise ValueError(
                f"is written in {SUPPORTED_LANGUAGES[judgement.detected]}, "
                f"expected {SUPPORTED_LANGUAGES[expected]}"
            )
    return text


class Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class TopicAnswer(Answer):
    topic: CleanText


class EmailAnswer(Answer):
    subject: CleanText
    body: CleanText

    _subject_language = field_validator("subject")(_subject_in_expected_language)
    _body_language = field_validator("body")(_in_expected_language)


class TagsAnswer(Answer):
    tags: list[str]

    @field_validator("tags")
    @classmethod
    def _canonical_tags(cls, tags: list[str], info: ValidationInfo) -> list[str]:
        vocabulary: dict[str, str] = (info.context or {}).get("tag_vocabulary", {})
        canonical: list[str] = []
        for tag in tags:
            known = vocabulary.get(tag.strip().casefold()) if vocabulary else tag.strip()
            if known is None:
                raise ValueError(f"tag {tag!r} is not in the tag vocabulary (tables/)")
            if known not in canonical:
                canonical.append(known)
        if not MIN_TAGS <= len(canonical) <= MAX_TAGS:
            raise ValueError(f"needs {MIN_TAGS}-{MAX_TAGS} distinct tags, got {len(canonical)}")
        return canonical


class FirstResponseAnswer(Answer):
    first_response: CleanText

    _reply_language = field_validator("first_response")(_in_expected_language)
