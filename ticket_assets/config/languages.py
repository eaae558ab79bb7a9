"""The languages a run can generate tickets in."""

from __future__ import annotations

from typing import Any

# Languages the offline provider can write; each has a fixed digit inside ticket ids.
SUPPORTED_LANGUAGES: dict[str, str] = {
    "DE": "German",
    "EN": "English",
    "ES": "Spanish",
    "FR": "French",
    "PT": "Portuguese",
}


def language_code(value: Any) -> str:
    """The upper-case code of a supported language; ValueError (a config error) otherwise."""
    code = str(value).strip().upper()
    if code not in SUPPORTED_LANGUAGES:
        raise ValueError(
            f"{value!r} is not a supported language; allowed: {', '.join(SUPPORTED_LANGUAGES)}"
        )
    return code
