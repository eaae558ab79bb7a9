"""Dagster wiring: partitions, the DuckDB store and I/O manager, assets, checks, Definitions."""
