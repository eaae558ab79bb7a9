"""Ticket ids: 13 digits composed from where a ticket was made, so uniqueness needs no luck.

    1 DDD L BBBB RRRR
    | |   | |    `- row within the partition (0-9998)
    | |   | `------ batch index (0-9999)
    | |   `-------- language digit (fixed per language, core/languages.py)
    | `------------ dataset code (0-999, registered per store)
    `-------------- leading 1 keeps the width at 13 digits

The same (dataset, language, batch, row) always gives the same id, so rematerializing a
partition keeps its ids; any other combination gives another id.
"""

from __future__ import annotations

import re

from ticket_assets.core.languages import LANGUAGES

# Each language's digit, from the registry (core/languages.py).
LANGUAGE_DIGITS = {language.code: language.id_digit for language in LANGUAGES}
MAX_DATASET_CODE = 999
MAX_BATCH = 9999
MAX_ROW = 9998
TICKET_ID_PATTERN = re.compile(r"^\d{12,13}$")


def ticket_id(dataset_code: int, language: str, batch: int, row: int) -> str:
    if not 0 <= dataset_code <= MAX_DATASET_CODE:
        raise ValueError(f"dataset code {dataset_code} is outside 0-{MAX_DATASET_CODE}")
    if language not in LANGUAGE_DIGITS:
        raise ValueError(f"language {language!r} has no id digit; known: {sorted(LANGUAGE_DIGITS)}")
    if not 0 <= batch <= MAX_BATCH:
        raise ValueError(f"batch {batch} is outside 0-{MAX_BATCH}")
    if not 0 <= row <= MAX_ROW:
        raise ValueError(f"row {row} is outside 0-{MAX_ROW}")
    return f"1{dataset_code:03d}{LANGUAGE_DIGITS[language]}{batch:04d}{row:04d}"


def parse_ticket_id(value: str) -> tuple[int, str, int, int]:
    """(dataset code, language, batch, row) of an id made by `ticket_id`."""
    if not re.fullmatch(r"1\d{12}", value):
        raise ValueError(f"{value!r} is not a ticket id")
    languages = {digit: code for code, digit in LANGUAGE_DIGITS.items()}
    return int(value[1:4]), languages[int(value[4])], int(value[5:9]), int(value[9:13])
