"""Failures on the command line: one `error:` line that names the file, flag or command, no
Python traceback or Dagster stack dump, the full trace in a log file; one run per data
directory at a time."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ticket_assets.__main__ import main
from ticket_assets.cli import dispatch
from ticket_assets.core.run_lock import LOCK_FILE
from ticket_assets.core.run_logs import write_exception

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = "ticket_assets_tests.plugin_nodes"
# Python's and Dagster's headers of a stack dump.
DUMP_MARKERS = ("Traceback", "Stack Trace")


def _run_main(arguments: list[str], capfd: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of the CLI (argparse errors exit through SystemExit)."""
    try:
        code = main(arguments)
    except SystemExit as exit_:
        code = int(exit_.code or 0)
    out, err = capfd.readouterr()
    return code, out, err


def _assert_one_clear_error(out: str, err: str, expected: str) -> str:
    last = err.strip().splitlines()[-1]
    assert last.startswith("error:"), err
    assert expected in last, last
    for marker in DUMP_MARKERS:
        assert marker not in out + err
    return last


def _write(path: Path, content: str | bytes) -> str:
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return str(path)


# Each case: the arguments (built in a temporary directory), the exit code, and what the last
# line names.
BAD_INPUTS: list[tuple[str, Callable[[Path], list[str]], int, str]] = [
    (
        "non-UTF-8 config",
        lambda tmp: ["--config", _write(tmp / "latin1.yaml", b"rows: 5\ndataset: caf\xe9\n")],
        2,
        "latin1.yaml:2:13: not UTF-8 text (byte 0xe9)",
    ),
    (
        "YAML syntax error",
        lambda tmp: ["--config", _write(tmp / "broken.yaml", "rows: 5\nlanguages: [EN, DE\n")],
        2,
        "broken.yaml:3:1: not valid YAML: expected ',' or ']'",
    ),
    (
        "bad value in the config file",
        lambda tmp: ["--config", _write(tmp / "zero.yaml", "seed: 1\nrows: 0\n")],
        2,
        "zero.yaml:2:7: rows: Input should be greater than 0",
    ),
    ("--rows 0", lambda tmp: ["--rows", "0"], 2, "--rows: Input should be greater than 0"),
    (
        "--languages de,xx",
        lambda tmp: ["run", "--languages", "de,xx"],
        2,
        "--languages: 'xx' is not a supported language; allowed: DE, EN, ES, FR, PT",
    ),
    (
        "subcommand typo",
        lambda tmp: ["estimat"],
        2,
        "unknown command 'estimat'; valid commands: run, export, estimate, cache, lake, ui, "
        "evaluate, init; did you mean 'estimate'?",
    ),
    (
        "unknown flag",
        lambda tmp: ["run", "--rowz", "3"],
        2,
        "unrecognized arguments: --rowz 3",
    ),
]


@pytest.mark.parametrize(
    ("arguments", "code", "expected"),
    [pytest.param(build, code, expected, id=name) for name, build, code, expected in BAD_INPUTS],
)
def test_bad_input_is_one_line_naming_its_source(
    arguments: Callable[[Path], list[str]],
    code: int,
    expected: str,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    data = tmp_path / "data"
    exit_code, out, err = _run_main([*arguments(tmp_path), "--data-dir", str(data)], capfd)
    assert exit_code == code
    _assert_one_clear_error(out, err, expected)


def test_a_mode_from_the_environment_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TICKET_ASSETS_MODE", "staging")
    code, out, err = _run_main(["estimate", "--data-dir", str(tmp_path)], capfd)
    assert code == 2
    _assert_one_clear_error(out, err, "TICKET_ASSETS_MODE: mode: 'staging' is not a mode")


def test_a_step_failure_is_one_line_and_its_trace_goes_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    config = _write(
        tmp_path / "exploding.yaml",
        f"pipeline: [topic, email_draft, '{PLUGIN}:ExplodingNode']\n",
    )
    arguments = ["--config", config, "--rows", "4", "--languages", "en"]
    code, out, err = _run_main([*arguments, "--data-dir", str(tmp_path / "data")], capfd)
    assert code == 1
    _assert_one_clear_error(
        out, err, "step exploding failed: ZeroDivisionError: the exploding node divided by zero"
    )
    [log] = (tmp_path / "data" / "logs").glob("*-run.log")
    assert f"full trace: {log}" in err
    trace = log.read_text(encoding="utf-8")
    assert "Stack Trace" in trace and 'raise ZeroDivisionError("the exploding node' in trace


def test_an_unexpected_exception_is_one_line_and_a_log_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    def broken_estimate(*_: object) -> int:
        raise RuntimeError("the estimate broke\nwith a second line")

    monkeypatch.setitem(dispatch.HANDLERS, "estimate", broken_estimate)
    code, out, err = _run_main(["estimate", "--data-dir", str(tmp_path)], capfd)
    assert code == 1
    _assert_one_clear_error(out, err, "error: unexpected RuntimeError: the estimate broke")
    [log] = (tmp_path / "logs").glob("*-estimate.log")
    assert f"full trace: {log}" in err
    assert "Traceback" in log.read_text(encoding="utf-8")


def _cli(*arguments: str, data: Path) -> list[str]:
    return [sys.executable, "-m", "ticket_assets", *arguments, "--data-dir", str(data)]


def _wait_for_lock(data: Path, pid: int, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    lock = data / LOCK_FILE
    while time.monotonic() < deadline:
        if lock.exists() and f"pid {pid}," in lock.read_text(encoding="utf-8"):
            return
        time.sleep(0.1)
    raise AssertionError(f"pid {pid} never took {lock}")


def test_a_second_run_on_a_data_directory_in_use_stops_at_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    first = subprocess.Popen(
        _cli("--rows", "2000", "--seed", "1", data=data),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for_lock(data, first.pid)
        for second in (["--rows", "2000", "--seed", "2"], ["export"]):
            started = time.monotonic()
            result = subprocess.run(
                _cli(*second, data=data), cwd=ROOT, env=env, capture_output=True, text=True
            )
            elapsed = time.monotonic() - started
            assert result.returncode != 0
            assert elapsed < 5, f"{second}: {elapsed:.1f} s"
            last = _assert_one_clear_error(result.stdout, result.stderr, "in use by another run")
            assert f"pid {first.pid}, `python -m ticket_assets --rows 2000 --seed 1" in last
        out, err = first.communicate(timeout=300)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert "2000 tickets exported" in out
    tickets = pd.read_parquet(data / "exports" / "tickets.parquet")
    assert len(tickets) == 2000 and tickets["ticket_id"].is_unique


def test_trace_files_carry_no_api_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-canary-trace-0f9e8d7c6b5a"
    monkeypatch.setenv("SOMEPROVIDER_API_KEY", key)
    try:
        raise RuntimeError(f"the server echoed Bearer {key}")
    except RuntimeError as error:
        written = write_exception(tmp_path / "logs" / "trace.log", error)
    assert written is not None
    text = written.read_text(encoding="utf-8")
    assert "the server echoed Bearer ***" in text and key not in text
