"""Pydantic models of node answers: what a valid LLM answer looks like, checked field by field."""

from __future__ import annotations

import copyreg
import functools
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    create_model,
    field_validator,
)

from ticket_assets.config import SUPPORTED_LANGUAGES
from ticket_assets.core.detection import detect_language, judge_languages, language_neutral
from ticket_assets.tables.vocabulary import VocabularyMatcher

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


class _BuiltModelMeta(type(Answer)):  # type: ignore[misc]
    """Marks answer models built at run time, so they pickle as the call that builds them."""


class BuiltAnswer(Answer, metaclass=_BuiltModelMeta):
    """Base of answer models built per vocabulary or declaration (`create_model`)."""

    # (builder, arguments) that rebuild the class: set on every class a builder makes.
    built_by: ClassVar[tuple[Callable[..., type[BuiltAnswer]], tuple[Any, ...]] | None] = None


def _pickle_built_model(model: type[BuiltAnswer]) -> Any:
    # Worker processes (models.<node>.workers) receive requests by pickle; a class made by
    # create_model is no module attribute, so it travels as the call that builds it.
    return model.built_by or model.__qualname__


copyreg.pickle(_BuiltModelMeta, _pickle_built_model)


def vocabulary_choice(matcher: VocabularyMatcher) -> Any:
    """An enum answer: the JSON schema lists the values (`enum`), but validation matches the
    answer tolerantly (case, spacing, number, synonyms) instead of rejecting `high` for
    `High`, and stores the vocabulary's spelling."""
    return Annotated[
        str, AfterValidator(matcher.one), Field(json_schema_extra={"enum": list(matcher.values)})
    ]


def vocabulary_choices(matcher: VocabularyMatcher, min_items: int, max_items: int) -> Any:
    """A list answer of `min_items`..`max_items` distinct values, the same way: the schema
    states enum and counts, validation drops unknown values while enough known ones remain
    and keeps the first `max_items` (see `VocabularyMatcher.some`)."""
    items = {"type": "string", "enum": list(matcher.values)}
    return Annotated[
        list[str],
        AfterValidator(functools.partial(matcher.some, min_items=min_items, max_items=max_items)),
        Field(json_schema_extra={"items": items, "minItems": min_items, "maxItems": max_items}),
    ]


@functools.cache
def tags_answer_model(
    vocabulary: tuple[str, ...], synonyms: tuple[tuple[str, str], ...]
) -> type[BuiltAnswer]:
    """The tagging node's answer model for one vocabulary: `tags`, 4-8 of it (unknown tags
    dropped while 4 known remain; past 8, the first 8 kept). Named TagsAnswer whatever the
    vocabulary, which names the schema sent to the model."""
    matcher = VocabularyMatcher(vocabulary, synonyms)
    tags = vocabulary_choices(matcher, MIN_TAGS, MAX_TAGS)
    model = create_model("TagsAnswer", __base__=BuiltAnswer, tags=(tags, ...))
    model.built_by = (tags_answer_model, (vocabulary, synonyms))
    return model


class FirstResponseAnswer(Answer):
    first_response: CleanText

    _reply_language = field_validator("first_response")(_in_expected_language)
