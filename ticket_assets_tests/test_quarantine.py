"""Runs that finish with imperfect models: tickets whose answers stay invalid are quarantined
(not written, recorded in `rejects`), no invalid answer is replayed from the cache, and every
paid call reaches the ledger once, even after kill -9. Through the CLI and the real litellm
client against the fake OpenAI-compatible server on 127.0.0.1."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from ticket_assets.__main__ import main
from ticket_assets_tests.conftest import CANARY_KEY
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.test_llm_remote import ROOT, exported, ledger, run, write_config


def table(data: Path, name: str) -> pd.DataFrame:
    with duckdb.connect(str(data / "tickets.duckdb"), read_only=True) as con:
        return con.execute(f"SELECT * FROM support_tickets.{name} ORDER BY ticket_id").df()


def test_tickets_a_model_cannot_answer_are_quarantined_and_a_rerun_completes_them(
    env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = env / "data"
    state = FakeLLMState(poisoned_share=0.04, seed=1)
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, max_reject_rate=0.2)
        assert run(config, data, "--rows", "60") == 0
        first_run_requests = state.requests
        out = capsys.readouterr().out
        rejects = table(data, "rejects")
        assert len(rejects) > 0
        assert (rejects["attempts"] == 3).all()  # the first ask and two repairs
        assert rejects["reason"].str.startswith("answer is not valid JSON").all()
        tickets = exported(data)
        assert len(tickets) == 60 - rejects["ticket_id"].nunique()
        assert not set(tickets["ticket_id"]) & set(rejects["ticket_id"])
        assert f"quarantine: {rejects['ticket_id'].nunique()} tickets quarantined" in out
        with dg.DagsterInstance.get() as instance:
            # Each partition's materialization counts that partition's quarantined tickets.
            for (node, language, batch), group in rejects.groupby(["node", "language", "batch"]):
                latest = dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(node), asset_partitions=[f"{batch}|{language}"]
                )
                [event] = instance.fetch_materializations(latest, limit=1).records
                metadata = event.asset_materialization.metadata
                assert metadata["llm/rejected"].value == len(group)
                assert "answer is not valid JSON" in metadata["llm/rejected_reasons"].value
        card = (data / "exports" / "README.md").read_text(encoding="utf-8")
        assert "## Quarantined tickets" in card and "answer is not valid JSON" in card
        # A rerun against the same model asks the quarantined tickets afresh (no replay of
        # the broken answers from the cache) and pays nothing for the valid ones; --strict
        # says that tickets are still missing.
        state.requests = 0
        assert run(config, data, "--rows", "60", "--strict") == 1
        assert state.requests == 3 * len(rejects)  # each conversation broken again
        assert "tickets quarantined" in capsys.readouterr().err
        # Against a healthy model the rerun completes them, without re-paying the others.
        state.poisoned_share, state.requests = 0.0, 0
        assert run(config, data, "--rows", "60") == 0
        assert "quarantine: No ticket was quarantined" in capsys.readouterr().out
    assert len(exported(data)) == 60
    assert table(data, "rejects").empty
    assert state.requests < first_run_requests / 4
    paid = ledger(data).query("not cache_hit")
    assert not paid.duplicated("call_id").any()


def test_past_max_reject_rate_the_step_fails_and_keeps_its_old_rows(
    env: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    data = env / "data"
    state = FakeLLMState()
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url)
        assert run(config, data, "--rows", "20", "--languages", "en") == 0
        before = table(data, "topic")
        capsys.readouterr()
        state.poisoned_share = 0.5
        assert run(config, data, "--rows", "20", "--languages", "en", "--no-cache") == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: step topic failed: node topic:")
    assert "over max_reject_rate 2.0%" in err[-1] and "answer is not valid JSON" in err[-1]
    pd.testing.assert_frame_equal(before, table(data, "topic"))
    assert len(exported(data)) == 20


def test_a_run_killed_mid_step_then_rerun_books_each_billed_call_once(
    env: Path,
) -> None:
    """Each call is journaled as it is sent and as its answer arrives: after kill -9 and a
    rerun, the ledger's paid calls are exactly the calls the server billed (which, like a
    hosted API, finishes and bills the requests in flight when their client died)."""
    data = env / "data"
    state = FakeLLMState(latency_s=0.05)
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, model={"concurrency": 8})
        command = [sys.executable, "-m", "ticket_assets", "run"]
        command += ["--config", str(config), "--data-dir", str(data), "--rows", "40"]
        child = subprocess.Popen(
            command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        # Mid-step: past topic and email_draft (80 calls), in the middle of tagging.
        while state.calls < 100 and time.monotonic() < deadline:
            time.sleep(0.005)
        child.send_signal(signal.SIGKILL)
        child.wait()
        time.sleep(0.2)  # requests in flight at the kill are answered (and billed) anyway
        billed_before_rerun = state.calls
        assert 0 < billed_before_rerun < 240
        rerun = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        assert rerun.returncode == 0, rerun.stderr
    assert len(exported(data)) == 40
    calls = ledger(data)
    paid = calls[~calls["cache_hit"]]
    assert not paid["call_id"].duplicated().any()
    # Each billed request (matched by the X-Client-Request-Id it was sent with) is booked once;
    # beyond them only requests the process journaled and died before sending.
    assert sorted(state.billed_ids) == sorted(set(state.billed_ids))
    assert set(state.billed_ids) <= set(paid["call_id"])
    never_sent = paid[~paid["call_id"].isin(state.billed_ids)]
    assert (never_sent["price_source"] == "estimated: no answer received").all()
    assert len(never_sent) <= 8  # at most the calls in flight
    answered = paid[paid["price_source"] == "litellm"]
    assert answered["input_tokens"].sum() <= state.prompt_tokens
    assert CANARY_KEY not in rerun.stdout + rerun.stderr
    # The rerun's summary counts its own calls and the killed run's calls it booked from the
    # journal (kept under the killed run's id, marked folded_by_run), not the killed run's
    # calls booked before it died.
    assert paid["folded_by_run"].notna().any()
    rerun_id = paid.sort_values("recorded_at")["run_id"].iloc[-1]
    booked_before = paid[paid["folded_by_run"].isna() & (paid["run_id"] != rerun_id)]
    total = next(line for line in rerun.stdout.splitlines() if line.strip().startswith("total"))
    assert int(total.split()[1]) == len(paid) - len(booked_before)


def test_an_answer_that_fails_validation_is_not_served_from_the_cache(
    env: Path,
) -> None:
    data = env / "data"
    state = FakeLLMState(fixed_answers={"TopicAnswer": {"topic": ""}})
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, model={"max_repairs": 0}, max_reject_rate=1.0)
        assert run(config, data, "--rows", "3", "--languages", "en") == 0
        assert state.requests == 3 and table(data, "rejects")["node"].tolist() == ["topic"] * 3
        state.fixed_answers = {}
        assert run(config, data, "--rows", "3", "--languages", "en") == 0
    # The topics asked again, then four more nodes (EN tickets need no translation).
    assert state.requests == 3 + 3 * 5
    assert len(exported(data)) == 3


def test_a_repaired_answer_is_what_a_rerun_is_served(env: Path) -> None:
    data = env / "data"
    state = FakeLLMState(faults=["malformed"])  # the first call (a topic) is cut short
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url, model={"concurrency": 1})
        assert run(config, data, "--rows", "2", "--languages", "en") == 0
        before, requests = exported(data), state.requests
        assert run(config, data, "--rows", "2", "--languages", "en") == 0
    assert state.requests == requests  # nothing asked again, the repair included
    calls = ledger(data)
    rerun = calls[calls["run_id"] == calls["run_id"].iloc[-1]]
    assert rerun["cache_hit"].all() and (rerun["attempt"] == 1).all()
    pd.testing.assert_frame_equal(before, exported(data))


def test_a_corrupt_cache_file_is_one_line_naming_it_and_the_fix(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = env / "data"
    data.mkdir()
    cache = data / "llm_cache.sqlite"
    cache.write_bytes(os.urandom(4096))
    state = FakeLLMState()
    with fake_llm_server(state) as (url, _):
        config = write_config(env, url)
        assert main(["cache", "stats", "--config", str(config), "--data-dir", str(data)]) == 1
        assert run(config, data, "--rows", "2", "--languages", "en") != 0
    errors = [line for line in capsys.readouterr().err.splitlines() if "error:" in line]
    assert len(errors) == 2
    for line in errors:
        assert line.startswith("error:") and str(cache) in line and "corrupt" in line
        assert "delete it or run `python -m ticket_assets cache clear`" in line
    assert state.requests == 0
