"""Batch mode against a real-HTTP fake of the OpenAI Batch API: submit, poll, collect,
resume after a stop, per-line and whole-batch failures, and the API key kept out of sight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from ticket_assets.llm.providers.openai_batch import BatchRunner, BatchSettings
from ticket_assets.llm.types import (
    PermanentProviderError,
    ProviderError,
    ProviderReply,
    TransientProviderError,
)
from ticket_assets_tests.fake_batch_server import FakeBatchState, fake_batch_server
from ticket_assets_tests.fake_llm_server import FakeLLMState, _answer

KEY = "sk-canary-batch-123"
MODEL = "gpt-4o-mini"
FAST = BatchSettings(poll_interval_s=0.001)


def _requests(count: int = 5, language: str = "German") -> list[tuple[str, dict[str, Any]]]:
    return [
        (
            f"ticket-{n}",
            {
                "messages": [
                    {"role": "system", "content": f"Write a support ticket in {language}."},
                    {"role": "user", "content": f"Ticket number {n} about a printer."},
                ],
                "temperature": 0.7,
                "response_format": {"type": "json_object"},
            },
        )
        for n in range(count)
    ]


class _Sleeps:
    """The injected sleep: records intervals; optionally stops the 'process' on call N."""

    def __init__(self, stop_on: int | None = None) -> None:
        self.calls: list[float] = []
        self._stop_on = stop_on

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)
        if len(self.calls) == self._stop_on:
            raise KeyboardInterrupt


def _runner(
    tmp_path: Path, base_url: str, settings: BatchSettings = FAST, **kwargs: Any
) -> BatchRunner:
    return BatchRunner(
        state_path=tmp_path / "state" / "batches.sqlite",
        api_base=base_url,
        api_key=kwargs.pop("api_key", KEY),
        settings=settings,
        sleep=kwargs.pop("sleep", _Sleeps()),
    )


def test_happy_path_returns_replies_with_server_usage(tmp_path: Path) -> None:
    requests = _requests()
    sleeps = _Sleeps()
    with fake_batch_server(FakeBatchState(expected_key=KEY)) as (base_url, state):
        results = _runner(tmp_path, base_url, sleep=sleeps).run("job-a", MODEL, requests)

    assert list(results) == [custom_id for custom_id, _ in requests]
    for custom_id, body in requests:
        reply = results[custom_id]
        assert isinstance(reply, ProviderReply)
        expected = json.dumps(_answer(body["messages"], FakeLLMState()), ensure_ascii=False)
        assert reply.text == expected
        assert (reply.input_tokens, reply.output_tokens) == state.usage[custom_id]
        assert reply.input_tokens > 0 and reply.output_tokens > 0
    assert (state.files_uploaded, state.batches_created, state.polls) == (1, 1, 2)
    assert sleeps.calls == [FAST.poll_interval_s]
    assert set(state.authorization) == {f"Bearer {KEY}"}

    upload = state.files["file-1"]
    assert upload.purpose == "batch" and upload.filename.endswith(".jsonl")
    lines = [json.loads(line) for line in upload.content.decode().splitlines()]
    assert [line["custom_id"] for line in lines] == [custom_id for custom_id, _ in requests]
    for line, (_, body) in zip(lines, requests, strict=True):
        assert set(line) == {"custom_id", "method", "url", "body"}
        assert (line["method"], line["url"]) == ("POST", "/v1/chat/completions")
        assert line["body"] == {**body, "model": MODEL}
    batch = state.batches["batch_1"]
    assert batch["endpoint"] == "/v1/chat/completions"
    assert batch["request_counts"] == {"total": 5, "completed": 5, "failed": 0}


def test_resumes_the_submitted_batch_after_the_process_stopped(tmp_path: Path) -> None:
    requests = _requests()
    with fake_batch_server(FakeBatchState(polls_to_complete=3)) as (base_url, state):
        with pytest.raises(KeyboardInterrupt):
            _runner(tmp_path, base_url, sleep=_Sleeps(stop_on=1)).run("job-a", MODEL, requests)
        assert (state.files_uploaded, state.batches_created, state.polls) == (1, 1, 1)

        results = _runner(tmp_path, base_url).run("job-a", MODEL, requests)
        assert (state.files_uploaded, state.batches_created, state.polls) == (1, 1, 3)
        assert all(isinstance(result, ProviderReply) for result in results.values())
        assert len(results) == 5

        # A completed batch is just collected again: one poll, nothing submitted.
        again = _runner(tmp_path, base_url).run("job-a", MODEL, requests)
        assert again == results
        assert (state.files_uploaded, state.batches_created, state.polls) == (1, 1, 4)


def test_a_batch_the_server_no_longer_knows_is_resubmitted(tmp_path: Path) -> None:
    with fake_batch_server(FakeBatchState(polls_to_complete=3)) as (base_url, state):
        with pytest.raises(KeyboardInterrupt):
            _runner(tmp_path, base_url, sleep=_Sleeps(stop_on=1)).run("job-a", MODEL, _requests())
        state.batches.clear()
        with pytest.raises(PermanentProviderError, match=r"batch_1 poll: HTTP 404.*submits anew"):
            _runner(tmp_path, base_url).run("job-a", MODEL, _requests())
        results = _runner(tmp_path, base_url).run("job-a", MODEL, _requests())
        assert len(results) == 5 and state.batches_created == 2


def test_changed_requests_for_the_same_job_submit_a_new_batch(tmp_path: Path) -> None:
    with fake_batch_server() as (base_url, state):
        runner = _runner(tmp_path, base_url)
        runner.run("job-a", MODEL, _requests())
        runner.run("job-a", MODEL, _requests(language="French"))
        assert (state.files_uploaded, state.batches_created) == (2, 2)
        runner.run("job-a", "gpt-4.1-mini", _requests())  # the model is part of the content
        assert state.batches_created == 3
        runner.run("job-a", MODEL, _requests(language="French"))  # seen before: resumed
        assert state.batches_created == 3


def test_per_line_errors_only_affect_their_requests(tmp_path: Path) -> None:
    failing = FakeBatchState(
        line_errors={"ticket-1": (400, "Invalid value for 'temperature'"), "ticket-3": (500, "x")}
    )
    with fake_batch_server(failing) as (base_url, state):
        results = _runner(tmp_path, base_url).run("job-a", MODEL, _requests())

    bad = results["ticket-1"]
    assert isinstance(bad, PermanentProviderError)
    assert "batch_1" in str(bad) and "ticket-1" in str(bad) and "HTTP 400" in str(bad)
    assert "Invalid value for 'temperature'" in str(bad)
    assert isinstance(results["ticket-3"], TransientProviderError)
    for custom_id in ("ticket-0", "ticket-2", "ticket-4"):
        assert isinstance(results[custom_id], ProviderReply)
    batch = state.batches["batch_1"]
    assert batch["error_file_id"] and batch["output_file_id"]
    assert batch["request_counts"] == {"total": 5, "completed": 3, "failed": 2}


def test_failed_batch_raises_with_id_and_server_errors_then_resubmits(tmp_path: Path) -> None:
    errors = [{"code": "token_limit_exceeded", "message": "Enqueued token limit reached"}]
    with fake_batch_server(FakeBatchState(outcome="failed", batch_errors=errors)) as (
        base_url,
        state,
    ):
        runner = _runner(tmp_path, base_url)
        with pytest.raises(PermanentProviderError) as caught:
            runner.run("job-a", MODEL, _requests())
        assert "batch_1" in str(caught.value) and "failed" in str(caught.value)
        assert "token_limit_exceeded: Enqueued token limit reached" in str(caught.value)

        state.outcome = "expired"  # a failed batch is dead: the rerun submits anew
        with pytest.raises(PermanentProviderError, match="batch_2 expired"):
            runner.run("job-a", MODEL, _requests())
        assert state.batches_created == 2


def test_transient_poll_errors_are_retried_then_given_up(tmp_path: Path) -> None:
    # Each failed poll is three HTTP attempts (the SDK's own two retries included).
    with fake_batch_server(FakeBatchState(faults=["500"] * 3)) as (base_url, state):
        results = _runner(tmp_path, base_url).run("job-a", MODEL, _requests(2))
        assert all(isinstance(result, ProviderReply) for result in results.values())
        assert state.polls == 3 + 2

    with fake_batch_server(FakeBatchState(faults=["500"] * 100)) as (base_url, state):
        settings = BatchSettings(poll_interval_s=0.001, poll_retries=1)
        with pytest.raises(TransientProviderError, match=r"2 polls failed in a row.*HTTP 500"):
            _runner(tmp_path, base_url, settings).run("job-a", MODEL, _requests(2))
        assert state.polls == 2 * 3


def test_timeout_leaves_the_batch_to_be_resumed(tmp_path: Path) -> None:
    with fake_batch_server(FakeBatchState(polls_to_complete=1000)) as (base_url, state):
        impatient = BatchSettings(poll_interval_s=0.001, timeout_s=0)
        with pytest.raises(TransientProviderError, match="batch_1 still in_progress"):
            _runner(tmp_path, base_url, impatient).run("job-a", MODEL, _requests())
        state.polls_to_complete = 2
        results = _runner(tmp_path, base_url).run("job-a", MODEL, _requests())
        assert len(results) == 5 and state.batches_created == 1


def test_api_key_never_reaches_the_state_file_or_error_messages(tmp_path: Path) -> None:
    errors: list[ProviderError] = []
    with fake_batch_server(FakeBatchState(expected_key=KEY)) as (base_url, state):
        runner = _runner(tmp_path, base_url)
        runner.run("job-a", MODEL, _requests())
        state.line_errors = {"ticket-0": (400, f"bad request with {KEY}")}
        results = runner.run("job-a", MODEL, _requests(language="Spanish"))
        line_error = results["ticket-0"]
        assert isinstance(line_error, PermanentProviderError)
        errors.append(line_error)
        state.outcome = "failed"
        state.batch_errors = [{"code": "oops", "message": f"key {KEY} rejected"}]
        with pytest.raises(PermanentProviderError) as failed:
            runner.run("job-a", MODEL, _requests(language="English"))
        errors.append(failed.value)
        # The fake echoes a wrong key in its 401, as careless servers do.
        wrong = _runner(tmp_path, base_url, api_key="sk-canary-batch-123-wrong")
        with pytest.raises(PermanentProviderError, match="HTTP 401") as unauthorized:
            wrong.run("job-a", MODEL, _requests(language="Portuguese"))
        errors.append(unauthorized.value)

    for error in errors:
        assert KEY not in str(error) and "***" in str(error)
        assert "\n" not in str(error)
    state_files = list((tmp_path / "state").iterdir())
    assert state_files
    stored = b"".join(path.read_bytes() for path in state_files)
    assert b"batch_1" in stored
    assert KEY.encode() not in stored and b"canary" not in stored


def test_empty_and_duplicate_requests(tmp_path: Path) -> None:
    runner = _runner(tmp_path, "http://127.0.0.1:9/v1")  # never contacted
    assert runner.run("job-a", MODEL, []) == {}
    with pytest.raises(ValueError, match="duplicate custom_id"):
        runner.run("job-a", MODEL, _requests(2) + _requests(1))
