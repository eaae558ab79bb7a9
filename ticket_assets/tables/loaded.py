"""The tables of a run config, loaded and checked once per folder and process."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from ticket_assets.config import RunConfig
from ticket_assets.tables.taxonomy import Tables


@cache
def load_tables(directory: Path) -> Tables:
    return Tables.load(directory)


def tables_for(config: RunConfig) -> Tables:
    return load_tables(config.tables_path)
