-- Run once by the postgres image when its volume is empty (/docker-entrypoint-initdb.d):
-- the compose Postgres holds the Dagster instance (POSTGRES_DB, `dagster`) and, in a
-- database of its own, the DuckLake catalog with the shared LLM cache and ledger.
CREATE DATABASE ducklake;
