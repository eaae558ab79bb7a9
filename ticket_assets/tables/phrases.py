"""The offline provider's phrase banks (`tables/offline/<code>.yaml`) and how labels map to them.

Every bank must mirror the reference language's (`en.yaml`): the same keys, the same number of
variants in every list (variants are index-aligned across languages, so rendering the same
choices with another bank translates an e-mail) and the same placeholders; only `topics` may
differ. A label of types.csv, queues.csv or tones.csv is worded by the bank entry its
`phrasing` column names (else its own name); priorities map onto three levels.
"""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ticket_assets.tables.reader import CsvTable, TablesError, read_yaml

OFFLINE_DIR = "offline"
REFERENCE_LANGUAGE = "EN"
# Phrase banks word priorities by level; priorities.csv lists labels from least to most urgent.
PRIORITY_LEVELS = ("low", "medium", "high")
# Sections of a phrase bank whose keys may differ between languages (missing topics fall back
# to the queue's generic phrasing), every other section must mirror the reference language.
PARTIAL_SECTIONS = frozenset({"topics"})

_FORMATTER = string.Formatter()


def phrasing_keys(
    table: CsvTable, column: str, reference: Mapping[str, Any] | None, section: str
) -> dict[str, str]:
    """Label -> the phrase-bank entry that words it (the `phrasing` column, else the label)."""
    phrasing = {}
    available = reference.get(section, {}) if reference is not None else None
    for row in table:
        label = row[column]
        key = row.values.get("phrasing", "").strip() or label
        if available is not None and key not in available:
            raise row.fail(
                "phrasing",
                f"{key!r} has no phrase set in {OFFLINE_DIR}/ ({section}); "
                f"allowed: {', '.join(available)}",
            )
        phrasing[label] = key
    return phrasing


def priority_levels(priorities: Sequence[str]) -> dict[str, str]:
    top = len(PRIORITY_LEVELS) - 1
    if len(priorities) == 1:
        return {priorities[0]: PRIORITY_LEVELS[1]}
    return {
        name: PRIORITY_LEVELS[int(index * top / (len(priorities) - 1) + 0.5)]
        for index, name in enumerate(priorities)
    }


def load_phrase_banks(directory: Path) -> dict[str, dict[str, Any]]:
    """language -> bank from offline/<code>.yaml, checked to be index-aligned across languages."""
    if not directory.is_dir():
        return {}
    banks: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        bank = read_yaml(path)
        if not isinstance(bank, dict):
            raise TablesError(f"{path}: expected a mapping of phrase sections")
        banks[path.stem.upper()] = bank
    if not banks:
        return banks
    reference = REFERENCE_LANGUAGE if REFERENCE_LANGUAGE in banks else next(iter(banks))
    for language, bank in banks.items():
        _check_aligned(
            bank,
            banks[reference],
            _Alignment(directory / f"{language.lower()}.yaml", f"{reference.lower()}.yaml"),
            (),
        )
    return banks


def reference_bank(banks: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any] | None:
    if not banks:
        return None
    return banks.get(REFERENCE_LANGUAGE) or next(iter(banks.values()))


@dataclass(frozen=True)
class _Alignment:
    path: Path  # the bank being checked
    reference: str  # file name of the reference bank

    def fail(self, keys: tuple[str, ...], message: str) -> TablesError:
        return TablesError(f"{self.path}: {'.'.join(keys) or '(top level)'}: {message}")

    def placeholders(self, text: str, keys: tuple[str, ...]) -> frozenset[str]:
        try:
            return frozenset(name for _, name, _, _ in _FORMATTER.parse(text) if name is not None)
        except ValueError as error:
            raise self.fail(keys, f"{error} in {text!r}") from None


def _check_aligned(value: Any, reference: Any, check: _Alignment, keys: tuple[str, ...]) -> None:
    """Same structure as the reference bank: same keys, same list lengths, same placeholders."""
    if isinstance(reference, dict):
        if not isinstance(value, dict):
            raise check.fail(keys, f"expected a mapping as in {check.reference}")
        if not (len(keys) == 1 and keys[0] in PARTIAL_SECTIONS):
            for key in reference:
                if key not in value:
                    raise check.fail(keys, f"missing {key!r} (see {check.reference})")
            for key in value:
                if key not in reference:
                    allowed = ", ".join(map(str, reference))
                    raise check.fail(keys, f"unknown key {key!r}; allowed: {allowed}")
        for key, item in value.items():
            # An entry only this language has is checked against itself (text, placeholders).
            _check_aligned(item, reference.get(key, item), check, (*keys, str(key)))
    elif isinstance(reference, list):
        if not isinstance(value, list) or len(value) != len(reference):
            count = len(value) if isinstance(value, list) else "no"
            raise check.fail(
                keys,
                f"has {count} variants but {check.reference} has {len(reference)}; "
                "variants are index-aligned across languages",
            )
        for index, (item, reference_item) in enumerate(zip(value, reference, strict=True)):
            _check_aligned(item, reference_item, check, (*keys, str(index)))
    elif isinstance(reference, str):
        # Whitespace is text here: French groups thousands with a (narrow) space.
        if not isinstance(value, str) or not value:
            raise check.fail(keys, "expected non-empty text")
        own, expected = check.placeholders(value, keys), check.placeholders(reference, keys)
        if own != expected:
            raise check.fail(
                keys,
                f"uses placeholders {sorted(own)} but {check.reference} uses {sorted(expected)}; "
                "aligned variants must match",
            )
    elif type(value) is not type(reference):
        raise check.fail(keys, f"expected a {type(reference).__name__} as in {check.reference}")
