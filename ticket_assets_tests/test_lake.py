"""The store on a DuckLake with its catalog in a private PostgreSQL and its data on a private
S3 server: the local file's guarantees across processes that share nothing but the lake."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
import pytest

from ticket_assets.storage import Lake, LakeUnavailableError, StoreError, TicketStore
from ticket_assets_tests.services import PostgresServer, S3Server
from ticket_assets_tests.test_store import counts, tickets

SCHEMA = "support_tickets"
ROWS = 40  # per partition and round: enough for Parquet files, not inlined catalog rows


@pytest.fixture
def lake(
    postgres_server: PostgresServer, s3_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> Lake:
    """A new, empty lake: its own catalog database and bucket; S3 settings in AWS_*."""
    name = f"lake_{uuid.uuid4().hex[:10]}"
    conninfo = postgres_server.create_database(name)
    s3_server.create_bucket(name.replace("_", "-"))
    for variable, value in s3_server.environment().items():
        monkeypatch.setenv(variable, value)
    return Lake(f"postgres:{conninfo}", f"s3://{name.replace('_', '-')}/data/")


@pytest.fixture
def pool() -> Iterator[ProcessPoolExecutor]:
    # Spawned, so that each worker attaches the lake itself, as another machine would.
    with ProcessPoolExecutor(max_workers=2, mp_context=mp.get_context("spawn")) as executor:
        yield executor


def _rounds(lake: Lake, tag: str, rounds: int) -> int:
    """Rewrite DE and EN in each round (both writers on the same partitions), with ledger rows."""
    store = TicketStore(lake, SCHEMA, lock_timeout=120)
    for round_ in range(rounds):
        frame = pd.concat(
            [tickets(lang, "b0000", ROWS, writer=tag, round=round_) for lang in ("DE", "EN")]
        )
        calls = pd.DataFrame({"call_id": [f"{tag}-{round_}"], "cost_usd": [0.01]})
        store.write_partitions(
            "draft", frame, [("DE", "b0000"), ("EN", "b0000")], appended={"llm_calls": calls}
        )
    return rounds


def _code(lake: Lake, name: str) -> int:
    return TicketStore(lake, SCHEMA, lock_timeout=120).dataset_code(name)


def test_round_trip_with_ledger_rejects_and_new_columns(lake: Lake, s3_server: S3Server) -> None:
    store = TicketStore(lake, SCHEMA)
    rejects = pd.DataFrame(
        {
            "node": ["draft"],
            "ticket_id": ["x"],
            "language": ["DE"],
            "batch": ["b0000"],
            "reason": ["answer is not valid JSON"],
            "attempts": [3],
            "model": ["m"],
            "run_id": ["r"],
            "recorded_at": [pd.Timestamp.now(tz="UTC")],
        }
    )
    calls = pd.DataFrame({"call_id": ["c1", "c2"], "cost_usd": [0.1, 0.2]})
    store.write_partitions(
        "draft",
        tickets("DE", "b0000", ROWS),
        [("DE", "b0000")],
        appended={"llm_calls": calls},
        rejects=rejects,
    )
    # A rewrite with a new column and a ledger row already booked: booked once, column added.
    store.write_partitions(
        "draft",
        tickets("DE", "b0000", ROWS, summary="s"),
        [("DE", "b0000")],
        appended={"llm_calls": calls.iloc[1:]},
        rejects=rejects.iloc[:0],
    )
    frame = store.read_partitions("draft", [("DE", "b0000")])
    assert len(frame) == ROWS and (frame["summary"] == "s").all()
    assert frame["tags"].iloc[0] == ["Outage", "t0"]
    assert store.read_table("llm_calls")["call_id"].tolist() == ["c1", "c2"]
    assert store.read_table("rejects").empty
    assert store.table_exists("draft") and not store.table_exists("translate")
    assert store.present_values("draft", "ticket_id", ["x", frame["ticket_id"][0]]) == {
        frame["ticket_id"][0]
    }
    bucket = lake.data_path.split("/")[2]
    keys = [o["Key"] for o in s3_server.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert any(key.endswith(".parquet") for key in keys)


def test_two_processes_rewriting_the_same_partitions_both_finish_consistently(
    lake: Lake, pool: ProcessPoolExecutor
) -> None:
    futures = [pool.submit(_rounds, lake, tag, 6) for tag in ("a", "b")]
    assert [future.result(timeout=300) for future in futures] == [6, 6]
    frame = TicketStore(lake, SCHEMA).read_table("draft")
    assert counts(frame) == {("DE", "b0000"): ROWS, ("EN", "b0000"): ROWS}
    # Each partition holds one write, whole: rows of one writer and round.
    for _, rows in frame.groupby("language"):
        assert rows[["writer", "round"]].drop_duplicates().shape[0] == 1
    calls = TicketStore(lake, SCHEMA).read_table("llm_calls")["call_id"]
    assert sorted(calls) == sorted(f"{tag}-{r}" for tag in "ab" for r in range(6))


def test_concurrent_processes_register_one_code_per_dataset(
    lake: Lake, pool: ProcessPoolExecutor
) -> None:
    names = ["alpha", "beta", "alpha", "gamma", "beta", "delta"]
    codes = list(pool.map(_code, [lake] * len(names), names))
    by_name = dict(zip(names, codes, strict=True))
    assert [by_name[name] for name in names] == codes  # one code per name, in every process
    assert len(set(by_name.values())) == 4
    assert {name: _code(lake, name) for name in by_name} == by_name


def test_a_writer_killed_mid_commit_leaves_the_old_rows(lake: Lake, tmp_path: Path) -> None:
    store = TicketStore(lake, SCHEMA)
    _rounds(lake, "before", 1)
    before = store.read_table("draft")
    script = (
        "import sys; from ticket_assets.storage import Lake;"
        "from ticket_assets_tests.test_lake import _rounds;"
        f"_rounds(Lake({lake.catalog_source!r}, {lake.data_path!r}), 'killed', 1000)"
    )
    survived = 0
    for delay in (0.6, 1.3, 2.1):
        writer = subprocess.Popen([sys.executable, "-c", script], env=os.environ.copy())
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        frame = store.read_table("draft")
        assert counts(frame) == {("DE", "b0000"): ROWS, ("EN", "b0000"): ROWS}
        # Both partitions come from one commit: the killed writer's last, or the old rows.
        assert frame[["writer", "round"]].drop_duplicates().shape[0] == 1
        survived += frame.equals(before)
    ledger = store.read_table("llm_calls")["call_id"]
    assert ledger.is_unique
    # The table is still writable after the kills.
    _rounds(lake, "after", 1)
    assert set(store.read_table("draft")["writer"]) == {"after"}
    assert survived < 3 or len(ledger) == 1


def test_an_unreachable_catalog_is_one_line_without_the_password(
    postgres_server: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PGPASSWORD", "s3cret-canary")
    lake = Lake("postgres:host=127.0.0.1 port=1 dbname=nope user=x", str(tmp_path / "data"))
    with pytest.raises(LakeUnavailableError) as info:
        TicketStore(lake, SCHEMA).table_exists("draft")
    message = str(info.value)
    assert "\n" not in message and "s3cret-canary" not in message
    assert "cannot open the DuckLake postgres:host=127.0.0.1 port=1 dbname=nope" in message
    assert isinstance(info.value, StoreError)


def test_wrong_s3_credentials_show_when_the_data_path_is_probed(
    lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong-canary")
    bucketless = Lake(lake.catalog_source, "s3://no-such-bucket/data/")
    with pytest.raises(LakeUnavailableError) as info:
        bucketless.probe_data_path()
    assert "cannot list the lake's data path s3://no-such-bucket/data/" in str(info.value)
    assert "wrong-canary" not in str(info.value)


def test_maintain_deletes_replaced_files_and_keeps_the_rows(
    lake: Lake, s3_server: S3Server
) -> None:
    store = TicketStore(lake, SCHEMA)
    for round_ in range(3):  # each rewrite leaves the previous Parquet file behind
        store.write_partitions(
            "draft", tickets("DE", "b0000", ROWS, round=round_), [("DE", "b0000")]
        )
    bucket = lake.data_path.split("/")[2]

    def parquet_files() -> int:
        listed = s3_server.client().list_objects_v2(Bucket=bucket).get("Contents", [])
        return sum(item["Key"].endswith(".parquet") for item in listed)

    before = parquet_files()
    done = lake.maintain(keep_days=0)
    assert done["snapshots expired"] >= 2 and done["files deleted"] >= 2
    assert parquet_files() < before
    frame = store.read_table("draft")
    assert len(frame) == ROWS and set(frame["round"]) == {2}


def test_lake_maintain_on_a_local_file_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from ticket_assets.__main__ import main

    assert main(["lake", "maintain"]) == 2
    assert capsys.readouterr().err.strip().endswith("is for storage.backend: ducklake")
