"""The languages a run can generate tickets in."""

from __future__ import annotations

from typing import Any

from ticket_assets.core.languages import LANGUAGES

# Code -> English name of each language in the registry (core/languages.py), in its order.
SUPPORTED_LANGUAGES: dict[str, str] = {language.code: language.name for language in LANGUAGES}


def language_code(value: Any) -> str:
    """The upper-case code of a supported language; ValueError (a config error) otherwise."""
    code = str(value).strip().upper()
    if code not in SUPPORTED_LANGUAGES:
        raise ValueError(
            f"{value!r} is not a supported language; allowed: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return code
