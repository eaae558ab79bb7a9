"""Where the ticket tables live: a local DuckDB file, or a DuckLake shared by many machines.

Secrets never come from the config file: a catalog string with `password=` is refused (libpq
reads `PGPASSWORD` or `~/.pgpass`), and S3 credentials, region and endpoint come from the
standard `AWS_*` environment variables.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import model_validator

from ticket_assets.config.base import StrictModel

POSTGRES_CATALOG_PREFIX = "postgres:"
# `password=…` in a libpq keyword string, or `user:password@` in a postgresql:// URI.
_PASSWORD = re.compile(r"(?i)\bpassword\s*=|://[^/@:]*:[^/@]*@")


class StorageConfig(StrictModel):
    """`backend: duckdb` keeps the tables in `data_dir/tickets.duckdb` (one machine).
    `backend: ducklake` keeps them in a DuckLake: its catalog (`postgres:host=… dbname=…`, or
    a local `.ducklake` file) and its Parquet data under `data_path` (a directory or
    `s3://bucket/prefix/`), so runs on several machines share one dataset."""

    backend: Literal["duckdb", "ducklake"] = "duckdb"
    catalog: str | None = None
    data_path: str | None = None

    @model_validator(mode="after")
    def _check_lake(self) -> StorageConfig:
        if self.backend == "duckdb":
            if self.catalog is not None or self.data_path is not None:
                raise ValueError("catalog and data_path are settings of backend: ducklake")
            return self
        if not self.catalog or not self.data_path:
            raise ValueError(
                "backend: ducklake needs catalog (postgres:host=… dbname=…, or a .ducklake file)"
                " and data_path (a directory or s3://bucket/prefix/)"
            )
        if not self.catalog.startswith(POSTGRES_CATALOG_PREFIX) and re.match(
            r"[a-z]+:", self.catalog
        ):
            raise ValueError(
                "catalog must be postgres:<libpq connection string> or the path of a .ducklake"
                " file (DuckDB extensions for other catalogs are not packaged on PyPI)"
            )
        if _PASSWORD.search(self.catalog):
            raise ValueError(
                "catalog must not hold a password; set PGPASSWORD (or use ~/.pgpass) instead"
            )
        return self

    @property
    def is_lake(self) -> bool:
        return self.backend == "ducklake"

    @property
    def postgres_conninfo(self) -> str | None:
        """The libpq connection string of a Postgres catalog (None for other catalogs): where
        the shared LLM cache lives too."""
        if self.is_lake and self.catalog and self.catalog.startswith(POSTGRES_CATALOG_PREFIX):
            return self.catalog.removeprefix(POSTGRES_CATALOG_PREFIX).strip()
        return None

    @property
    def on_object_storage(self) -> bool:
        return bool(self.data_path) and str(self.data_path).startswith("s3://")
