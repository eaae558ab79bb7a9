"""The shared backend: the dataset's tables in a DuckLake that many machines write at once.

A DuckLake keeps its catalog in Postgres (or a local `.ducklake` DuckDB file) and its data as
Parquet files in a directory or on S3; each commit is a snapshot transaction, and two writers
that touch the same rows get a retryable conflict (connection.py retries the transaction).

The extensions come from PyPI packages (`duckdb-extension-*`, pinned with duckdb in the lock
file) and are loaded from their files: DuckDB's own extension downloads are not reachable in
CI or air-gapped sites. Each process attaches a Postgres-catalog lake once (about 0.4 s:
loading the extensions, reading the catalog) and gives every operation its own cursor on it; a
fork attaches again. S3 settings come from the standard `AWS_*` environment variables only.
"""

from __future__ import annotations

import importlib.util
import os
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from ticket_assets.config.storage import POSTGRES_CATALOG_PREFIX
from ticket_assets.core.secrets import redact
from ticket_assets.storage.errors import StoreError

LAKE_CATALOG = "lake"
_EXTENSIONS = {
    "ducklake": "duckdb_extension_ducklake",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "httpfs": "duckdb_extension_httpfs",
}
_ATTACH_ATTEMPTS = 5
# `password=…` in a libpq keyword string, `user:password@` in a postgresql:// URI.
_PASSWORD = re.compile(r"(?i)(password\s*=\s*)\S+|(://[^/@:]*:)[^/@]*(@)")


class LakeUnavailableError(StoreError):
    """The lake's catalog or data could not be opened (server down, bad settings)."""


def redacted(text: str) -> str:
    """`text` with connection-string passwords and secret environment values masked."""
    masked = _PASSWORD.sub(lambda m: f"{m[1]}***" if m[1] else f"{m[2]}***{m[3]}", text)
    return redact(masked)


class Lake:
    """Tables in the DuckLake whose catalog is `catalog` (`postgres:<libpq string>` or the
    path of a `.ducklake` file) and whose Parquet files live under `data_path`."""

    catalog = LAKE_CATALOG
    shared = True

    def __init__(self, catalog: str, data_path: str) -> None:
        self.catalog_source = catalog
        self.data_path = data_path if data_path.endswith("/") else data_path + "/"

    def __str__(self) -> str:
        return f"DuckLake {redacted(self.catalog_source)} (data {self.data_path})"

    def exists(self) -> bool:
        return True

    @property
    def on_postgres(self) -> bool:
        return self.catalog_source.startswith(POSTGRES_CATALOG_PREFIX)

    @contextmanager
    def connect(
        self, *, read_only: bool, lock_timeout: float
    ) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of this process's attached lake (`read_only` changes nothing: DuckLake
        readers never block writers). A `.ducklake` file catalog is a DuckDB file, which one
        process may hold at a time: it is attached per operation, waiting for other processes'
        locks like a local file."""
        if self.on_postgres:
            connection = _attached(self).cursor()
        else:
            connection = _attach_when_free(self, lock_timeout)
        try:
            yield connection
        finally:
            connection.close()

    def probe_data_path(self) -> None:
        """List the data path once, so wrong credentials, endpoint or bucket show before any
        paid work rather than at the first commit."""
        with self.connect(read_only=True, lock_timeout=0) as cursor:
            try:
                cursor.execute("SELECT count(*) FROM glob(?)", [self.data_path + "*.probe"])
            except duckdb.Error as exc:
                reason = redacted(str(exc).strip().splitlines()[0])
                raise LakeUnavailableError(
                    f"cannot list the lake's data path {self.data_path}: {reason}"
                ) from None

    def maintain(self, keep_days: float) -> dict[str, int]:
        """Reclaim what rewrites leave behind: expire snapshots older than `keep_days` (time
        travel before them ends), merge small adjacent files, delete the files no snapshot
        needs any more that were scheduled for deletion before then. DuckLake never deletes
        a replaced file by itself. Returns how many snapshots, merges and files."""
        lake, cutoff = f"'{LAKE_CATALOG}'", f"now() - INTERVAL '{float(keep_days)} days'"
        steps = {
            "snapshots expired": f"ducklake_expire_snapshots({lake}, older_than => {cutoff})",
            "file groups merged": f"ducklake_merge_adjacent_files({lake})",
            "files deleted": f"ducklake_cleanup_old_files({lake}, older_than => {cutoff})",
        }
        done: dict[str, int] = {}
        with self.connect(read_only=False, lock_timeout=0) as cursor:
            for label, call in steps.items():
                try:
                    done[label] = len(cursor.execute(f"CALL {call}").fetchall())
                except duckdb.Error as exc:
                    reason = redacted(str(exc).strip().splitlines()[0])
                    raise LakeUnavailableError(f"{self}: {label.split()[0]}: {reason}") from None
        return done

    def attach_statements(self, environ: Mapping[str, str]) -> list[str]:
        """The SQL that opens the lake: extensions, the S3 secret, the ATTACH."""
        statements = [f"LOAD {_literal(_extension_file(name))}" for name in _EXTENSIONS]
        if self.data_path.startswith("s3://"):
            statements.append(s3_secret(environ))
        else:
            Path(self.data_path).mkdir(parents=True, exist_ok=True)
        statements.append(
            f"ATTACH {_literal('ducklake:' + self.catalog_source)} AS {LAKE_CATALOG}"
            f" (DATA_PATH {_literal(self.data_path)})"
        )
        return statements


_lock = threading.Lock()
_attachments: dict[tuple[str, str, int], duckdb.DuckDBPyConnection] = {}


def _attached(lake: Lake) -> duckdb.DuckDBPyConnection:
    key = (lake.catalog_source, lake.data_path, os.getpid())
    with _lock:
        connection = _attachments.get(key)
        if connection is None:
            connection = _attach(lake)
            _attachments[key] = connection
        return connection


def _attach_when_free(lake: Lake, lock_timeout: float) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + lock_timeout
    delay = 0.02
    while True:
        try:
            return _attach(lake)
        except LakeUnavailableError as exc:
            remaining = deadline - time.monotonic()
            if "Could not set lock" not in str(exc) or remaining <= 0:
                raise
            time.sleep(min(remaining, delay * random.uniform(0.5, 1.0)))
            delay = min(delay * 2, 1.0)


def _attach(lake: Lake) -> duckdb.DuckDBPyConnection:
    """Open the lake, retrying briefly: processes attaching a new Postgres catalog at the same
    moment race to create its tables, and the losers succeed on a second try."""
    for attempt in range(1, _ATTACH_ATTEMPTS + 1):
        connection = duckdb.connect(
            config={"autoinstall_known_extensions": False, "autoload_known_extensions": False}
        )
        try:
            for statement in lake.attach_statements(os.environ):
                connection.execute(statement)
            return connection
        except duckdb.Error as exc:
            connection.close()
            if attempt == _ATTACH_ATTEMPTS or not lake.on_postgres:
                reason = redacted(str(exc).strip().splitlines()[0])
                raise LakeUnavailableError(f"cannot open the {lake}: {reason}") from None
            time.sleep(random.uniform(0.1, 0.5) * attempt)
    raise AssertionError("unreachable")


def s3_secret(environ: Mapping[str, str]) -> str:
    """A DuckDB S3 secret from the standard AWS variables; an endpoint (MinIO, moto, R2...)
    gets path-style URLs, and plain `http://` turns TLS off."""
    options = {"TYPE": "s3"}
    for variable, option in (
        ("AWS_ACCESS_KEY_ID", "KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "SECRET"),
        ("AWS_SESSION_TOKEN", "SESSION_TOKEN"),
    ):
        if environ.get(variable):
            options[option] = environ[variable]
    region = environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION")
    if region:
        options["REGION"] = region
    endpoint = environ.get("AWS_ENDPOINT_URL_S3") or environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        parts = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
        options["ENDPOINT"] = parts.netloc
        options["URL_STYLE"] = "path"
        options["USE_SSL"] = "true" if parts.scheme == "https" else "false"
    body = ", ".join(
        f"{key} {value if key in ('TYPE', 'USE_SSL') else _literal(value)}"
        for key, value in options.items()
    )
    return f"CREATE OR REPLACE SECRET ticket_assets_s3 ({body})"


def _extension_file(name: str) -> str:
    package = _EXTENSIONS[name]
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise LakeUnavailableError(
            f"the DuckDB extension {name} is missing: install the package"
            f" {package.replace('_', '-')}=={duckdb.__version__} (make env does)"
        )
    path = Path(spec.submodule_search_locations[0]) / "extensions"
    return str(path / f"v{duckdb.__version__}" / f"{name}.duckdb_extension")


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"
