"""Matching what a model answers to a vocabulary (tags, and enum or list outputs).

Models write `printers`, `Follow up` or `network issues` where the vocabulary says `Printer`,
`Follow-up` and `Network`. An answer matches a vocabulary value when it is the same after
ignoring case, spaces, hyphens and underscores, possibly with its last word in the other
number (Printers/Printer, Outage/Outages), or when it is a synonym listed in
`tables/tag_synonyms.csv` (matched the same tolerant way). Anything else is unknown: it is
dropped from a list that keeps enough known values, and rejected otherwise, so only
vocabulary values ever reach a row. `load_tag_synonyms` reads and checks that file.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ticket_assets.tables.reader import CsvTable

TAG_SYNONYMS = "tag_synonyms.csv"  # optional: what models write -> a tag of tags.csv

_SEPARATORS = re.compile(r"[\s_-]+")


def match_key(text: str) -> str:
    """What two spellings of one label share: no case, spaces, hyphens or underscores."""
    return _SEPARATORS.sub("", text).casefold()


def _number_variants(key: str) -> tuple[str, ...]:
    """The key, then the key with its last word singular or plural (English endings)."""
    variants = [key]
    if key.endswith("ies"):
        variants.append(key[:-3] + "y")
    if key.endswith("es"):
        variants.append(key[:-2])
    if key.endswith("s"):
        variants.append(key[:-1])
    else:
        variants += [key + "s", key + "es"]
    if key.endswith("y"):
        variants.append(key[:-1] + "ies")
    return tuple(variants)


@dataclass(frozen=True)
class VocabularyMatcher:
    """Maps answers to `values`; `synonyms` are (what models write, value) pairs, used for
    the pairs whose value is in `values`. Hashable, so answer models can be cached by it."""

    values: tuple[str, ...]
    synonyms: tuple[tuple[str, str], ...] = ()
    _index: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        allowed = set(self.values)
        index = {match_key(said): value for said, value in self.synonyms if value in allowed}
        # A value spelled like a synonym of another value is still itself.
        index.update((match_key(value), value) for value in reversed(self.values))
        object.__setattr__(self, "_index", index)

    def canonical(self, answer: str) -> str | None:
        """The vocabulary value `answer` means, or None if it means none."""
        key = match_key(answer)
        for variant in _number_variants(key) if key else ():
            if variant in self._index:
                return self._index[variant]
        return None

    def one(self, answer: str) -> str:
        """The value of an enum answer; ValueError if it is not in the vocabulary."""
        value = self.canonical(answer)
        if value is None:
            raise ValueError(f"{answer!r} is not in the vocabulary (the schema's enum)")
        return value

    def some(self, answers: Sequence[str], min_items: int, max_items: int) -> list[str]:
        """The distinct values of a list answer, in the order given: unknown answers are
        dropped if at least `min_items` known values remain, and only the first `max_items`
        values are kept. ValueError naming the unknown answers if too few remain."""
        known: list[str] = []
        unknown: list[str] = []
        for answer in answers:
            value = self.canonical(answer)
            if value is None:
                unknown.append(answer)
            elif value not in known:
                known.append(value)
        if len(known) < min_items:
            found = f"{len(known)} valid value{'' if len(known) == 1 else 's'}"
            listed = f" ({', '.join(map(repr, known))})" if known else ""
            not_in = f"; not in the vocabulary: {', '.join(map(repr, unknown))}" if unknown else ""
            raise ValueError(
                f"has {found}{listed}, needs {min_items}-{max_items} distinct ones{not_in}"
            )
        return known[:max_items]


def load_tag_synonyms(directory: Path, vocabulary: tuple[str, ...]) -> dict[str, str]:
    """tag_synonyms.csv (optional): `synonym,tag` rows, every tag one of tags.csv."""
    if not (directory / TAG_SYNONYMS).exists():
        return {}
    rows = CsvTable.read(directory, TAG_SYNONYMS, ("synonym", "tag"))
    # Synonyms match ignoring case and separators, so they must differ in that form too.
    taken = {match_key(tag): f"the tag {tag!r}" for tag in vocabulary}
    synonyms = {}
    for row in rows:
        synonym, tag = row["synonym"], row["tag"]
        if tag not in vocabulary:
            raise row.fail("tag", f"{tag!r} is not a tag in tags.csv; add it there first")
        clash = taken.get(match_key(synonym))
        if clash is not None:
            raise row.fail("synonym", f"{synonym!r} already matches {clash}")
        taken[match_key(synonym)] = f"the synonym on line {row.line}"
        synonyms[synonym] = tag
    return synonyms
