"""Provider batch mode (OpenAI Batch API): a partition's calls go out as one batch — upload
the JSONL, create the batch, poll, collect. A SQLite file remembers submitted batches, so a
process that stops while waiting resumes polling the same batch instead of paying twice."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, cast

import openai
from openai.types import Batch

from ticket_assets.llm.types import (
    PermanentProviderError,
    ProviderError,
    ProviderReply,
    RateLimited,
    TransientProviderError,
)

ENDPOINT = "/v1/chat/completions"
FINAL_STATUSES = frozenset({"completed", "failed", "expired", "cancelled"})
# Batches in these states are dead: a rerun with the same requests submits a new one.
# "missing" is ours: the server answered 404 for the batch or its output.
DEAD_STATUSES = frozenset({"failed", "expired", "cancelled", "missing"})
_REQUEST_TIMEOUT_S = 120.0  # per HTTP call; uploads and downloads can be tens of MB
_MAX_MESSAGE = 300

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS batches (
    api_base TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    job_key TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    input_file_id TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (api_base, batch_id)
);
CREATE INDEX IF NOT EXISTS batches_by_job ON batches (job_key, api_base, content_hash);
"""


@dataclass(frozen=True)
class BatchSettings:
    """How often to poll and how long to wait; the defaults suit the real 24-hour API."""

    poll_interval_s: float = 30.0
    timeout_s: float = 24 * 3600  # how long one `run` waits; the batch itself lives on
    completion_window: str = "24h"
    poll_retries: int = 5  # failed polls in a row tolerated before giving up


class _Store:
    """Submitted batches in SQLite (WAL, one short connection per operation, so several
    processes can share the file). Holds ids and statuses only, never credentials."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        with self._connect() as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self._path, timeout=30)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def find(self, job_key: str, api_base: str, content_hash: str) -> str | None:
        """The newest batch for exactly these requests, unless it is dead."""
        with self._connect() as connection:
            row = connection.execute(
                "SELECT batch_id, status FROM batches"
                " WHERE job_key = ? AND api_base = ? AND content_hash = ?"
                " ORDER BY rowid DESC LIMIT 1",
                (job_key, api_base, content_hash),
            ).fetchone()
        return None if row is None or row[1] in DEAD_STATUSES else str(row[0])

    def add(
        self,
        job_key: str,
        api_base: str,
        content_hash: str,
        batch_id: str,
        input_file_id: str,
        status: str,
    ) -> None:
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    api_base,
                    batch_id,
                    job_key,
                    content_hash,
                    input_file_id,
                    status,
                    int(time.time()),
                ),
            )

    def set_status(self, api_base: str, batch_id: str, status: str) -> None:
        with self._connect() as connection:
            connection.execute(
                "UPDATE batches SET status = ? WHERE api_base = ? AND batch_id = ?",
                (status, api_base, batch_id),
            )


def _jsonl(model: str, requests: Sequence[tuple[str, Mapping[str, Any]]]) -> bytes:
    """The batch input file. Canonical JSON (sorted keys), so equal requests hash equally."""
    seen: set[str] = set()
    lines = []
    for custom_id, body in requests:
        if custom_id in seen:
            raise ValueError(f"duplicate custom_id in batch requests: {custom_id!r}")
        seen.add(custom_id)
        line = {
            "custom_id": custom_id,
            "method": "POST",
            "url": ENDPOINT,
            "body": {**body, "model": model},
        }
        lines.append(json.dumps(line, ensure_ascii=False, sort_keys=True, separators=(",", ":")))
    return "".join(f"{line}\n" for line in lines).encode()


def _status_error(
    status: int | None, message: str, retry_after: float | None = None
) -> ProviderError:
    if status == 429:
        return RateLimited(message, retry_after)
    if status is not None and (status >= 500 or status == 408):
        return TransientProviderError(message)
    return PermanentProviderError(message)


class BatchRunner:
    """Runs chat-completion requests through the provider's Batch API, resumably."""

    def __init__(
        self,
        *,
        state_path: Path,
        api_base: str | None,
        api_key: str,
        settings: BatchSettings = BatchSettings(),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._api_key = api_key
        self._settings = settings
        self._sleep = sleep
        self._client = openai.OpenAI(
            base_url=api_base, api_key=api_key, max_retries=2, timeout=_REQUEST_TIMEOUT_S
        )
        # Batch ids only mean something to the server that issued them.
        self._api_base = self._clean(str(self._client.base_url))
        self._store = _Store(state_path)

    def run(
        self, job_key: str, model: str, requests: Sequence[tuple[str, Mapping[str, Any]]]
    ) -> dict[str, ProviderReply | ProviderError]:
        """requests: (custom_id, chat-completions body without "model") pairs. Returns, per
        custom_id in request order, the reply or the error naming the cause. A batch already
        submitted for this job_key with identical model and requests is resumed, not resent.

        Raises PermanentProviderError when the batch failed, expired, was cancelled or is no
        longer known to the server (a rerun then submits anew), TransientProviderError when
        polling keeps failing or `timeout_s` passes (a rerun resumes the same batch)."""
        if not requests:
            return {}
        jsonl = _jsonl(model, requests)
        content_hash = hashlib.sha256(jsonl).hexdigest()
        batch_id = self._store.find(job_key, self._api_base, content_hash)
        if batch_id is None:
            batch_id = self._submit(job_key, model, content_hash, jsonl)
        batch = self._wait(model, batch_id)
        if batch.status != "completed":
            errors = "; ".join(
                f"line {error.line}: {error.code}: {error.message}"
                if error.line is not None
                else f"{error.code}: {error.message}"
                for error in (batch.errors.data or [] if batch.errors else [])
            )
            raise PermanentProviderError(
                self._clean(
                    f"{model} batch {batch.id} {batch.status}: {errors or 'no errors given'}"
                )
            )
        return self._collect(model, batch, [custom_id for custom_id, _ in requests])

    def _submit(self, job_key: str, model: str, content_hash: str, jsonl: bytes) -> str:
        upload = self._call(
            f"{model} batch upload",
            self._client.files.create,
            file=(f"batch-{content_hash[:16]}.jsonl", jsonl),
            purpose="batch",
        )
        batch = self._call(
            f"{model} batch create",
            self._client.batches.create,
            input_file_id=upload.id,
            endpoint=ENDPOINT,
            # The SDK types only "24h"; compatible servers may offer other windows.
            completion_window=cast(Literal["24h"], self._settings.completion_window),
        )
        self._store.add(job_key, self._api_base, content_hash, batch.id, upload.id, batch.status)
        return batch.id

    def _wait(self, model: str, batch_id: str) -> Batch:
        deadline = time.monotonic() + self._settings.timeout_s
        failures = 0
        status = "unknown"
        while True:
            try:
                batch = self._client.batches.retrieve(batch_id)
            except openai.OpenAIError as error:
                problem = self._error(f"{model} batch {batch_id} poll", error, batch_id)
                failures += 1
                if isinstance(problem, PermanentProviderError):
                    raise problem from None
                if failures > self._settings.poll_retries:
                    raise TransientProviderError(
                        self._clean(f"{failures} polls failed in a row, last: {problem}")
                    ) from None
            else:
                failures = 0
                status = batch.status
                self._store.set_status(self._api_base, batch_id, status)
                if status in FINAL_STATUSES:
                    return batch
            if time.monotonic() >= deadline:
                raise TransientProviderError(
                    f"{model} batch {batch_id} still {status} after {self._settings.timeout_s:g}s;"
                    " a rerun resumes it"
                )
            self._sleep(self._settings.poll_interval_s)

    def _collect(
        self, model: str, batch: Batch, custom_ids: list[str]
    ) -> dict[str, ProviderReply | ProviderError]:
        wanted = set(custom_ids)
        found: dict[str, ProviderReply | ProviderError] = {}
        # Successful lines are in the output file, failed ones in the error file.
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = self._call(
                f"{model} batch {batch.id} download",
                self._client.files.content,
                file_id,
                batch_id=batch.id,
            )
            for raw in content.content.decode("utf-8").splitlines():
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    continue  # unattributable; its request is reported as missing below
                custom_id = line.get("custom_id") if isinstance(line, dict) else None
                if custom_id in wanted:
                    found[custom_id] = self._parse(f"{model} batch {batch.id} {custom_id}", line)
        results: dict[str, ProviderReply | ProviderError] = {}
        for custom_id in custom_ids:
            results[custom_id] = found.get(custom_id) or TransientProviderError(
                f"{model} batch {batch.id} {custom_id}: no result in the batch output"
            )
        return results

    def _parse(self, where: str, line: dict[str, Any]) -> ProviderReply | ProviderError:
        if line.get("error"):  # not run at all, e.g. batch_expired: worth another try
            error = line["error"]
            return TransientProviderError(
                self._clean(f"{where}: {error.get('code')}: {error.get('message')}")
            )
        response = line.get("response") or {}
        status = response.get("status_code")
        body = response.get("body") or {}
        if status != 200:
            detail = (body.get("error") or {}).get("message") or "no message"
            return _status_error(status, self._clean(f"{where}: HTTP {status}: {detail}"))
        try:
            usage = body.get("usage") or {}
            return ProviderReply(
                text=body["choices"][0]["message"]["content"] or "",
                input_tokens=int(usage.get("prompt_tokens") or 0),
                output_tokens=int(usage.get("completion_tokens") or 0),
                cached_tokens=int(
                    (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
                ),
            )
        except (KeyError, IndexError, TypeError, ValueError, AttributeError):
            return PermanentProviderError(f"{where}: unexpected response body")

    def _call(
        self,
        what: str,
        function: Callable[..., _T],
        *args: Any,
        batch_id: str | None = None,
        **kwargs: Any,
    ) -> _T:
        try:
            return function(*args, **kwargs)
        except openai.OpenAIError as error:
            raise self._error(what, error, batch_id) from None

    def _error(
        self, what: str, error: openai.OpenAIError, batch_id: str | None = None
    ) -> ProviderError:
        """Our error type for an SDK error. A 404 about a stored batch means the server no
        longer has it (or its output): it is marked dead so that a rerun resubmits."""
        if not isinstance(error, openai.APIStatusError):
            message = self._clean(f"{what}: {type(error).__name__}: {error}")
            if isinstance(error, openai.APIConnectionError):
                return TransientProviderError(message)
            return PermanentProviderError(message)
        body = error.body
        detail = body.get("message") if isinstance(body, dict) else None
        message = f"{what}: HTTP {error.status_code}: {detail or error.message}"
        if batch_id is not None and isinstance(error, openai.NotFoundError):
            self._store.set_status(self._api_base, batch_id, "missing")
            return PermanentProviderError(self._clean(f"{message}; a rerun submits anew"))
        retry_after = error.response.headers.get("retry-after")
        return _status_error(
            error.status_code,
            self._clean(message),
            float(retry_after) if retry_after and retry_after.isdigit() else None,
        )

    def _clean(self, text: str) -> str:
        """One line, bounded, and never the key: servers may echo what they were sent."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        return " ".join(text.split())[:_MAX_MESSAGE]
