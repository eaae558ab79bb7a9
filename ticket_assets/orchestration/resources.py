"""The services the assets use, as Dagster resources: declared once in the Definitions
(`definitions.ticket_resources`), shown on the UI's resource pages, injected into assets and
checks as typed parameters, and swappable in tests (`ticket_resources(config, store=...)`)."""

import logging
from pathlib import Path

import dagster as dg
from pydantic import Field

from ticket_assets.config import RunConfig
from ticket_assets.llm.budget import Budget, budget_for_run
from ticket_assets.llm.client import LLMClient
from ticket_assets.storage import LOCK_TIMEOUT_SECONDS, Lake, LocalFile, TicketStore, backend_for
from ticket_assets.tables import Tables
from ticket_assets.tables.loaded import load_tables

# The resource keys: the names of the asset and check parameters they are injected into.
STORE = "store"
TABLES = "tables"
LLM = "llm"
IO_MANAGER = "io_manager"


class TicketStoreResource(dg.ConfigurableResource):
    """The dataset's tables (`TicketStore`: one transaction per write, retried on another
    process's lock or a lake's commit conflict): in one DuckDB file, or in a DuckLake when
    `catalog` is set."""

    database: str | None = Field(
        default=None, description="Path of the DuckDB file (storage.backend: duckdb)."
    )
    dataset: str = Field(description="DuckDB schema of the dataset, e.g. support_tickets.")
    catalog: str | None = Field(
        default=None,
        description="DuckLake catalog (storage.backend: ducklake): postgres:… or a .ducklake file.",
    )
    data_path: str | None = Field(
        default=None, description="DuckLake data: a directory or s3://bucket/prefix/."
    )
    lock_timeout_seconds: float = Field(
        default=LOCK_TIMEOUT_SECONDS,
        description="How long to wait for another process's lock or for commits that keep"
        " conflicting with other writers before failing.",
    )

    @classmethod
    def for_config(cls, config: RunConfig) -> "TicketStoreResource":
        backend = backend_for(config)
        if isinstance(backend, Lake):
            return cls(
                dataset=config.dataset, catalog=backend.catalog_source, data_path=backend.data_path
            )
        return cls(database=str(backend.path), dataset=config.dataset)

    def get_store(self) -> TicketStore:
        if self.catalog is not None and self.data_path is not None:
            backend: Lake | LocalFile = Lake(self.catalog, self.data_path)
        elif self.database is not None:
            backend = LocalFile(self.database)
        else:
            raise ValueError("the store needs `database`, or `catalog` and `data_path`")
        return TicketStore(backend, self.dataset, lock_timeout=self.lock_timeout_seconds)


class TablesResource(dg.ConfigurableResource):
    """The randomization tables (types, queues, tags, phrase banks…), loaded and checked
    once per folder and process."""

    tables_dir: str = Field(description="Folder of the tables (CSV and YAML).")

    @classmethod
    def for_config(cls, config: RunConfig) -> "TablesResource":
        return cls(tables_dir=str(config.tables_path))

    def get_tables(self) -> Tables:
        return load_tables(Path(self.tables_dir))


class LLMResource(dg.ConfigurableResource):
    """The LLM facade of a step (`LLMClient`: cache, budget, rate limits, validation and
    repairs, the ledger), for the run config's models, prices and limits."""

    # The run config itself (models, prices, limits, cache): not Dagster config, a dependency.
    # (No `from __future__ import annotations` in this module: Dagster reads this annotation.)
    config: dg.ResourceDependency[RunConfig]
    tables: TablesResource

    def get_budget(self, run_id: str) -> Budget:
        """The run's budget, shared by all its steps in this process."""
        return budget_for_run(run_id, self.config.budget_usd)

    def get_client(self, logger: logging.Logger, run_id: str) -> LLMClient:
        return LLMClient(
            self.config,
            self.tables.get_tables(),
            logger=logger,
            budget=self.get_budget(run_id),
            run_id=run_id,
        )
