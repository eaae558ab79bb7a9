"""Real PostgreSQL and S3 servers on 127.0.0.1 that tests start and stop themselves.

Scale-out tests (issue 14) put Dagster's storage and DuckLake's catalog in PostgreSQL and its
Parquet files in S3; mocks would hide what they check (connections, locking, real HTTP). Each
session (each xdist worker) gets private servers on free ports. One that cannot start fails
the test with the reason and its log tail: a skip would let CI pass without those tests.
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

LOOPBACK = "127.0.0.1"
START_TIMEOUT_S = 30.0
# Attempts with a fresh port each: another process may take a free port before we bind it.
PORT_ATTEMPTS = 5
# Named like its default database, so PGHOST/PGPORT/PGUSER alone reach an existing database.
POSTGRES_SUPERUSER = "postgres"
# initdb and postgres refuse to run as root, and tests run as root in CI.
POSTGRES_RUN_AS = "postgres"
# Speed over durability: a test server's data dies with the session anyway. Dagster and
# DuckLake each open many connections; parallel query workers are not worth their memory.
POSTGRES_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "shared_buffers": "32MB",
    "max_parallel_workers_per_gather": "0",
}
# A unix socket path holds at most 107 bytes, "/.s.PGSQL.65535" included.
MAX_SOCKET_DIR_CHARS = 90
ADDRESS_IN_USE = re.compile(r"address already in use|could not bind", re.IGNORECASE)
ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
S3_REGION = "us-east-1"
# moto accepts any credentials; fixed ones keep failures reproducible.
S3_ACCESS_KEY_ID = "testing"
S3_SECRET_ACCESS_KEY = "testing"


def _conninfo_value(value: str) -> str:
    """Quotes a libpq conninfo value only when needed, so the common case stays readable."""
    if re.fullmatch(r"[\w.-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class PostgresServer:
    """A running private PostgreSQL server: trust auth for its superuser on loopback."""

    host: str
    port: int
    user: str

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq connection string, the form DuckLake's `ducklake:postgres:` takes."""
        return (
            f"host={self.host} port={self.port} user={_conninfo_value(self.user)} "
            f"dbname={_conninfo_value(dbname)}"
        )

    def create_database(self, name: str) -> str:
        """Creates database `name` and returns its conninfo; an existing one is an error,
        since a test reusing another test's database would see that test's data."""
        import psycopg2
        from psycopg2 import errors, sql

        connection = psycopg2.connect(self.conninfo())
        try:
            connection.autocommit = True  # CREATE DATABASE refuses to run in a transaction
            with connection.cursor() as cursor:
                cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        except errors.DuplicateDatabase as error:
            raise ValueError(f"database {name!r} already exists on port {self.port}") from error
        finally:
            connection.close()
        return self.conninfo(name)

    def environment(self) -> dict[str, str]:
        """libpq's variables, for subprocesses (psql, Dagster daemons) that read them."""
        return {"PGHOST": self.host, "PGPORT": str(self.port), "PGUSER": self.user}


@dataclass(frozen=True)
class S3Server:
    """A running private S3-compatible server (moto), reachable over real HTTP."""

    endpoint_url: str
    region: str
    access_key_id: str
    secret_access_key: str

    def create_bucket(self, name: str) -> None:
        """Creates bucket `name`; moto starts empty, so every test creates its own."""
        self.client().create_bucket(Bucket=name)

    def client(self) -> Any:  # a botocore S3 client: boto3 ships no importable type for it
        """A boto3 S3 client for this server, to check what tests wrote."""
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )

    def environment(self) -> dict[str, str]:
        """The AWS SDKs' variables, so subprocesses find this server instead of AWS."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.endpoint_url,
        }


def _log_since(path: Path, since: int) -> str:
    """What a log gained after byte `since`: this attempt's lines, not an earlier one's."""
    try:
        return path.read_bytes()[since:].decode(errors="replace")
    except OSError:
        return ""


def _log_tail(path: Path, since: int = 0, shown_as: Path | None = None, lines: int = 8) -> str:
    """The last lines of a log written after byte `since`, on one line for pytest.fail;
    `shown_as` names the copy that outlives a removed directory."""
    text = ANSI_ESCAPE.sub("", _log_since(path, since))  # werkzeug colours moto's log
    tail = [line.strip() for line in text.splitlines() if line.strip()][-lines:]
    return f"log tail ({shown_as or path}): " + (" | ".join(tail) if tail else "empty")


def _fail(reason: str, log: Path, since: int = 0, shown_as: Path | None = None) -> NoReturn:
    """Fails (never skips) the test that needs the service, with the cause and the log."""
    pytest.fail(f"{reason}; {_log_tail(log, since, shown_as)}", pytrace=False)


def _free_port() -> int:
    """A loopback port nobody listens on right now (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOOPBACK, 0))
        return int(probe.getsockname()[1])


def _postgres_bindir() -> Path:
    """The newest installed server binaries: Debian keeps each major version apart."""

    def major(initdb: Path) -> int:
        name = initdb.parent.parent.name
        return int(name) if name.isdigit() else 0

    installed = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=major)
    if installed:
        return installed[-1].parent
    if pg_config := shutil.which("pg_config"):
        result = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        bindir = Path(result.stdout.strip())
        if result.returncode == 0 and (bindir / "initdb").exists():
            return bindir
    pytest.fail(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb, nor "
        "in pg_config --bindir); install Debian's postgresql-15 "
        "(make test installs it)",
        pytrace=False,
    )


def _unprivileged_user() -> pwd.struct_passwd | None:
    """The user to run PostgreSQL as when we are root, None when we are not."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(POSTGRES_RUN_AS)
    except KeyError:
        pytest.fail(
            f"running as root and there is no {POSTGRES_RUN_AS!r} user to run PostgreSQL as "
            "(initdb refuses root); installing Debian's postgresql-15 creates it",
            pytrace=False,
        )


def _as_user(args: Sequence[str | Path], user: pwd.struct_passwd | None) -> list[str]:
    """The command line that runs `args` as `user` (unchanged when user is None)."""
    command = [str(arg) for arg in args]
    if user is None:
        return command
    # runuser is in util-linux, which Debian marks essential; setpriv would need more flags.
    return ["runuser", "-u", user.pw_name, "--", *command]


def _cluster_root(directory: Path, user: pwd.struct_passwd | None) -> Path:
    """Where the cluster lives. pytest's temporary directories are private to their owner
    (mode 0700), so a server dropped to another user gets a fresh directory in the system
    temp dir instead; so does one whose socket path would be too long. `directory/cluster`
    then links to it, for whoever looks for the logs."""
    directory.mkdir(parents=True, exist_ok=True)
    cluster = directory / "cluster"
    if user is None and len(str(cluster)) <= MAX_SOCKET_DIR_CHARS:
        cluster.mkdir()
        return cluster
    root = Path(tempfile.mkdtemp(prefix="ticket-assets-pg-"))
    if user is not None:
        os.chown(root, user.pw_uid, user.pw_gid)
    cluster.symlink_to(root, target_is_directory=True)
    return root


def _initdb(bindir: Path, root: Path, user: pwd.struct_passwd | None, keep: Path) -> Path:
    """A fresh cluster in root/data with the test settings; returns the data directory.
    Logs are cited as their copies in `keep`, since `root` is removed."""
    data = root / "data"
    log = root / "initdb.log"
    initdb = [bindir / "initdb", "-D", data, "-U", POSTGRES_SUPERUSER, "--auth=trust"]
    initdb += ["--no-sync", "--encoding=UTF8", "--locale=C", "--no-instructions"]
    with log.open("wb") as out:
        try:
            result = subprocess.run(
                _as_user(initdb, user), cwd=root, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, timeout=120,
            )  # fmt: skip
        except subprocess.TimeoutExpired:
            _fail("initdb did not finish within 120 s", log, shown_as=keep / log.name)
    if result.returncode != 0:
        _fail(f"initdb failed with exit code {result.returncode}", log, shown_as=keep / log.name)
    settings = {**POSTGRES_SETTINGS, "unix_socket_directories": f"'{root}'"}
    with (data / "postgresql.conf").open("a") as conf:
        conf.write("\n# ticket_assets_tests.services: a fast, private test server\n")
        conf.writelines(f"{name} = {value}\n" for name, value in settings.items())
    return data


def _pg_ctl(
    bindir: Path, args: Sequence[str | Path], user: pwd.struct_passwd | None, root: Path
) -> subprocess.CompletedProcess[str]:
    command = _as_user([bindir / "pg_ctl", *args], user)
    return subprocess.run(
        command, cwd=root, capture_output=True, text=True, stdin=subprocess.DEVNULL,
        timeout=START_TIMEOUT_S + 15,
    )  # fmt: skip


def _start_postgres(bindir: Path, data: Path, user: pwd.struct_passwd | None, keep: Path) -> int:
    """Starts the server on a free port, retrying on a clash; returns the port. Logs are
    cited as their copies in `keep`, since the cluster directory is removed."""
    root = data.parent
    log = root / "postgres.log"
    kept = keep / log.name
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        since = log.stat().st_size if log.exists() else 0
        start = ["start", "-w", "-t", str(int(START_TIMEOUT_S)), "-D", data, "-l", log]
        try:
            result = _pg_ctl(bindir, [*start, "-o", shlex.join(["-p", str(port)])], user, root)
        except subprocess.TimeoutExpired:
            _stop_postgres(bindir, data, user)
            reason = f"pg_ctl start did not return within {START_TIMEOUT_S + 15:.0f} s"
            _fail(reason, log, since, kept)
        if result.returncode == 0:
            return port
        _stop_postgres(bindir, data, user)  # pg_ctl may give up on a server still starting
        clash = ADDRESS_IN_USE.search(_log_since(log, since))
        if clash and attempt < PORT_ATTEMPTS:
            continue
        reason = (result.stderr or result.stdout).strip().replace("\n", " ")
        _fail(f"PostgreSQL did not start on port {port}: {reason}", log, since, kept)
    raise AssertionError("unreachable")


def _stop_postgres(bindir: Path, data: Path, user: pwd.struct_passwd | None) -> None:
    """Stops the server at once (its data is thrown away); kills it if pg_ctl cannot."""
    try:
        result = _pg_ctl(bindir, ["stop", "-m", "immediate", "-w", "-D", data], user, data.parent)
        stopped = result.returncode == 0
    except subprocess.TimeoutExpired:
        stopped = False
    pid_file = data / "postmaster.pid"
    if stopped or not pid_file.exists():
        return
    pid = int(pid_file.read_text().split("\n", 1)[0])
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return  # already gone
    if b"postgres" in cmdline:  # not a stranger who inherited a stale PID
        os.kill(pid, signal.SIGKILL)


def _keep_logs_and_remove(root: Path, directory: Path) -> None:
    """Removes the cluster (tens of MB, possibly outside pytest's rotated temp dirs) but
    keeps its logs in `directory`, where a failure message says to look."""
    for log in root.glob("*.log"):
        shutil.copyfile(log, directory / log.name)
    shutil.rmtree(root, ignore_errors=True)
    link = directory / "cluster"
    if link.is_symlink():
        link.unlink()


@contextmanager
def running_postgres(directory: Path) -> Iterator[PostgresServer]:
    """A private PostgreSQL server for the duration of the block, then gone with its files."""
    bindir = _postgres_bindir()
    user = _unprivileged_user()
    root = _cluster_root(directory, user)
    try:
        data = _initdb(bindir, root, user, directory)
        port = _start_postgres(bindir, data, user, directory)
        try:
            yield PostgresServer(host=LOOPBACK, port=port, user=POSTGRES_SUPERUSER)
        finally:
            _stop_postgres(bindir, data, user)
    finally:
        _keep_logs_and_remove(root, directory)


def _moto_answers(port: int) -> bool:
    """True once moto itself answers, not just anything that holds the port."""
    url = f"http://{LOOPBACK}:{port}/moto-api/config"
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return 200 <= response.status < 300  # moto answers 201
    except (urllib.error.URLError, OSError):
        return False


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _start_moto(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Starts moto's server in its own process on a free port, retrying on a clash."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        port = _free_port()
        since = log.stat().st_size if log.exists() else 0
        command = [sys.executable, "-m", "moto.server", "-H", LOOPBACK, "-p", str(port)]
        with log.open("ab") as out:
            process = subprocess.Popen(
                command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while process.poll() is None:
            if _moto_answers(port):
                return process, port
            if time.monotonic() > deadline:
                _stop_process(process)
                reason = f"moto server did not answer on port {port} within {START_TIMEOUT_S:.0f} s"
                _fail(reason, log, since)
            time.sleep(0.05)
        clash = ADDRESS_IN_USE.search(_log_since(log, since))
        if clash and attempt < PORT_ATTEMPTS:
            continue
        _fail(f"moto server exited with code {process.returncode}", log, since)
    raise AssertionError("unreachable")


@contextmanager
def running_s3(directory: Path) -> Iterator[S3Server]:
    """A private S3 server (moto) in a separate process, so clients in the test process,
    DuckDB included, talk to it over real HTTP; its log stays in `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    process, port = _start_moto(directory / "moto.log")
    try:
        yield S3Server(
            endpoint_url=f"http://{LOOPBACK}:{port}",
            region=S3_REGION,
            access_key_id=S3_ACCESS_KEY_ID,
            secret_access_key=S3_SECRET_ACCESS_KEY,
        )
    finally:
        _stop_process(process)
