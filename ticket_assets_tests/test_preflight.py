"""The preflight: a bad prompt, table, model, endpoint, data file or plan stops `run` before
any node, with exit code 2 and one `error:` line naming the file or flag; no call reaches the
model server and nothing in the data directory changes."""

from __future__ import annotations

import gc
import os
import runpy
import shutil
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ticket_assets.__main__ import main
from ticket_assets.config import ConfigError, load_config
from ticket_assets.core.run_lock import LOCK_FILE
from ticket_assets.llm.cache import ResponseCache
from ticket_assets.preflight import config_problems, environment_problems
from ticket_assets.storage import TicketStore
from ticket_assets_tests.fake_llm_server import fake_llm_server
from ticket_assets_tests.test_llm_remote import CANARY_KEY, ROOT, write_config

# Settings for the config file, and flags, given the temporary directory and the data dir.
Prepare = Callable[[Path, Path], tuple[dict[str, object], list[str]]]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _copied(source: str, tmp: Path) -> Path:
    target = tmp / f"my_{source}"
    shutil.copytree(ROOT / source, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, path
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _undefined_variable(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    prompts = _copied("prompts", tmp)
    _edit(prompts / "first_response.yaml", "{{ subject }}", "{{ subjcet }}")
    return {"prompts_dir": str(prompts)}, []


def _unclosed_braces(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    prompts = _copied("prompts", tmp)
    _edit(prompts / "tagging.yaml", "{{ subject }}", "{{ subject")
    return {"prompts_dir": str(prompts)}, []


def _missing_prompt(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    prompts = _copied("prompts", tmp)
    (prompts / "first_response.yaml").unlink()
    return {"prompts_dir": str(prompts)}, []


def _missing_column(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    tables = _copied("tables", tmp)
    _edit(tables / "queues.csv", "queue,phrasing,", "name,phrasing,")
    return {"tables_dir": str(tables)}, []


def _text_weight(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    tables = _copied("tables", tmp)
    _edit(tables / "types.csv", "Incident,4,", "Incident,four,")
    return {"tables_dir": str(tables)}, []


def _flags(*flags: str) -> Prepare:
    return lambda tmp, data: ({}, list(flags))


def _closed_port(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    return {}, ["--api-base", f"http://127.0.0.1:{_free_port()}/v1"]


def _random_database(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    (data / "tickets.duckdb").unlink()
    (data / "tickets.duckdb").write_bytes(os.urandom(64 * 1024))
    return {}, []


def _corrupt_cache(tmp: Path, data: Path) -> tuple[dict[str, object], list[str]]:
    cache = data / "llm_cache.sqlite"
    # A valid SQLite header over garbage: only reading the file's pages shows the damage.
    header = cache.read_bytes()[:100]
    cache.write_bytes(header + os.urandom(16 * 1024))
    return {}, []


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Prepare
    # What the first line names (file or flag) and says, given the temporary directory.
    expected: Callable[[Path], list[str]] = field(default=lambda tmp: [])


CASES = [
    Case(
        "undefined variable",
        _undefined_variable,
        lambda tmp: [f"{tmp}/my_prompts/first_response.yaml: line ", "'subjcet' is undefined"],
    ),
    Case(
        "unclosed {{",
        _unclosed_braces,
        lambda tmp: [f"{tmp}/my_prompts/tagging.yaml: line ", "user:"],
    ),
    Case(
        "missing prompt file",
        _missing_prompt,
        lambda tmp: [f"{tmp}/my_prompts/first_response.yaml: prompt file missing"],
    ),
    Case(
        "table without a required column",
        _missing_column,
        lambda tmp: [f"{tmp}/my_tables/queues.csv", "missing column 'queue'"],
    ),
    Case(
        "non-numeric weight",
        _text_weight,
        lambda tmp: [f"{tmp}/my_tables/types.csv", "four"],
    ),
    Case(
        "unknown provider",
        _flags("--model", "nosuchprovider/x"),
        lambda tmp: ["--model: ", "'nosuchprovider/x': litellm knows no provider 'nosuchprovider'"],
    ),
    Case(
        "api_base not a URL",
        _flags("--api-base", "not a url"),
        lambda tmp: ["--api-base: ", "'not a url' is not an http(s) URL"],
    ),
    Case(
        "api_base where nothing listens",
        _closed_port,
        lambda tmp: ["--api-base: ", "nothing answers at http://127.0.0.1:", "connection refused"],
    ),
    Case(
        "tickets.duckdb of random bytes",
        _random_database,
        lambda tmp: [f"{tmp}/data/tickets.duckdb: not a readable DuckDB database"],
    ),
    Case(
        "corrupt llm_cache.sqlite",
        _corrupt_cache,
        lambda tmp: [f"{tmp}/data/llm_cache.sqlite: the LLM cache is corrupt", "cache clear"],
    ),
    Case(
        "rows beyond the id space",
        _flags("--rows", "1000000000"),
        lambda tmp: ["--rows: 1000000000 tickets need", "use at most 1250000 rows"],
    ),
]


def _snapshot(directory: Path) -> dict[str, tuple[int, int]]:
    """Name, mtime and size of every file but the CLI's run lock (run_lock.py), which the
    CLI takes before it checks anything."""
    return {
        str(path.relative_to(directory)): (path.stat().st_mtime_ns, path.stat().st_size)
        for path in directory.rglob("*")
        if path.name != LOCK_FILE
    }


def _data_dir(tmp: Path) -> Path:
    """A data directory as a previous run leaves it: a store and an LLM cache."""
    data = tmp / "data"
    TicketStore(data / "tickets.duckdb", "support_tickets").dataset_code("support_tickets")
    ResponseCache(data / "llm_cache.sqlite").stats()
    gc.collect()  # closes the cache's connection (SQLite folds its WAL into the file then)
    return data


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_stops_before_any_node(
    case: Case,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    data = _data_dir(tmp_path)
    settings, flags = case.prepare(tmp_path, data)
    before = _snapshot(data)
    with fake_llm_server() as (url, state):
        config = write_config(tmp_path, url, **settings)
        started = time.monotonic()
        code = main(["run", "--config", str(config), "--data-dir", str(data), *flags])
        elapsed = time.monotonic() - started
    out, err = capsys.readouterr()
    assert code == 2, err
    assert elapsed < 10
    first = err.splitlines()[0]
    assert first.startswith("error: "), err
    for expected in case.expected(tmp_path):
        assert expected in first, err
    assert "Traceback" not in out + err
    assert CANARY_KEY not in out + err
    assert state.requests == 0
    assert _snapshot(data) == before


def test_every_problem_is_reported_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings, _ = _undefined_variable(tmp_path, tmp_path)
    config = write_config(tmp_path, f"http://127.0.0.1:{_free_port()}/v1", **settings)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    code = main(["run", "--config", str(config), "--data-dir", str(tmp_path / "data")])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2
    assert all(line.startswith("error: ") for line in lines), lines
    said = "\n".join(lines)
    assert "'subjcet' is undefined" in said
    assert "nothing answers at" in said
    assert "needs OPENAI_API_KEY" in said
    assert not (tmp_path / "data" / "tickets.duckdb").exists()
    assert not (tmp_path / "data" / "llm_cache.sqlite").exists()


def test_the_default_config_passes(tmp_path: Path) -> None:
    config = load_config(overrides={"data_dir": str(tmp_path / "data")})
    assert config_problems(config) == []
    assert environment_problems(config) == []


def test_the_code_location_fails_to_load_with_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, _ = _missing_prompt(tmp_path, tmp_path)
    config = write_config(tmp_path, "http://127.0.0.1:9/v1", **settings, model={"model": "offline"})
    monkeypatch.setenv("TICKET_ASSETS_CONFIG", str(config))
    with pytest.raises(ConfigError, match=r"my_prompts/first_response.yaml: prompt file missing"):
        runpy.run_module("ticket_assets.definitions")
