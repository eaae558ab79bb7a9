"""Customer and agent names per language (`tables/names.yaml`)."""

from __future__ import annotations

from pathlib import Path

from ticket_assets.tables.reader import TablesError, read_yaml

NAME_KEYS = ("customer_first", "customer_last", "agent_first", "agent_last")


def load_names(path: Path) -> dict[str, tuple[tuple[str, ...], ...]]:
    data = read_yaml(path)
    if not isinstance(data, dict) or not data:
        raise TablesError(f"{path}: expected a mapping of language codes (DE, EN, ...) to names")
    names = {}
    for language, block in data.items():
        code = str(language).upper()
        if not isinstance(block, dict):
            raise TablesError(f"{path}: {language}: expected the keys {', '.join(NAME_KEYS)}")
        lists = []
        for key in NAME_KEYS:
            values = block.get(key)
            if (
                not isinstance(values, list)
                or not values
                or not all(isinstance(value, str) and value.strip() for value in values)
            ):
                raise TablesError(f"{path}: {language}.{key}: must be a non-empty list of names")
            lists.append(tuple(value.strip() for value in values))
        unknown = set(block) - set(NAME_KEYS)
        if unknown:
            raise TablesError(
                f"{path}: {language}: unknown key {sorted(unknown)[0]!r}; "
                f"allowed: {', '.join(NAME_KEYS)}"
            )
        names[code] = tuple(lists)
    return names
