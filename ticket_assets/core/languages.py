"""The languages tickets can be written in: the one registry.

Adding a language is one entry in LANGUAGES; everything else is derived from it: the allowed
codes and names of the config (`config/languages.py`), the id digits (`ids.py`) and the
detector's languages (`detection.py`). The data needs a language's rows as well (names,
phrase bank: see docs/extending.md, "Add a language").
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class SupportedLanguage:
    """One language: `code` as in configs, tables and exports (upper case, `DE`), its English
    `name` (in prompts and messages), `id_digit` (its digit inside ticket ids, never reused:
    changing it changes every id already made) and `lingua` (the name of its
    `lingua.Language` member, `GERMAN`, for the language check)."""

    code: str
    name: str
    id_digit: int
    lingua: str


LANGUAGES: tuple[SupportedLanguage, ...] = (
    SupportedLanguage("DE", "German", 1, "GERMAN"),
    SupportedLanguage("EN", "English", 2, "ENGLISH"),
    SupportedLanguage("ES", "Spanish", 3, "SPANISH"),
    SupportedLanguage("FR", "French", 4, "FRENCH"),
    SupportedLanguage("PT", "Portuguese", 5, "PORTUGUESE"),
)


def checked_registry(languages: tuple[SupportedLanguage, ...]) -> dict[str, SupportedLanguage]:
    """The languages by code; ValueError when two share a code or an id digit, or a code or
    digit is malformed (a mistake in the registry, caught at import)."""
    by_code: dict[str, SupportedLanguage] = {}
    digits: dict[int, str] = {}
    for language in languages:
        if not (language.code.isalpha() and language.code.isupper()):
            raise ValueError(f"language code {language.code!r} is not upper-case letters")
        if not 0 <= language.id_digit <= 9:
            raise ValueError(f"{language.code}: id digit {language.id_digit} is not 0-9")
        if language.code in by_code:
            raise ValueError(f"language {language.code} is registered twice")
        if language.id_digit in digits:
            raise ValueError(
                f"{language.code}: id digit {language.id_digit} is taken by "
                f"{digits[language.id_digit]}"
            )
        by_code[language.code] = language
        digits[language.id_digit] = language.code
    return by_code


LANGUAGES_BY_CODE: dict[str, SupportedLanguage] = checked_registry(LANGUAGES)
