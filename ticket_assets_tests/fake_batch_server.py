"""The OpenAI Batch API on 127.0.0.1 for tests: file upload, batch create/retrieve, file
download. Real HTTP; each poll advances a batch (validating -> in_progress -> completed) and
answers come from the chat fake's `_answer`, so contents and usage match fake_llm_server."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from typing import Any

from ticket_assets_tests.fake_llm_server import (
    FakeLLMState,
    JsonHandler,
    _answer,
    chat_completion,
    serving,
)

_ENDPOINT = "/v1/chat/completions"


@dataclass
class StoredFile:
    filename: str
    purpose: str
    content: bytes


@dataclass
class FakeBatchState:
    """What the server does and what it saw; tests set the knobs and read the counters."""

    polls_to_complete: int = 2  # the poll that first reports the final status
    outcome: str = "completed"  # or "failed", "expired", "cancelled"
    batch_errors: list[dict[str, Any]] = field(default_factory=list)  # for outcome "failed"
    line_errors: dict[str, tuple[int, str]] = field(default_factory=dict)  # custom_id: status, msg
    faults: list[str] = field(default_factory=list)  # consumed one per poll: "500"
    expected_key: str | None = None  # when set, other keys get a 401 that echoes the key sent
    llm: FakeLLMState = field(default_factory=FakeLLMState)
    files: dict[str, StoredFile] = field(default_factory=dict)
    batches: dict[str, dict[str, Any]] = field(default_factory=dict)
    usage: dict[str, tuple[int, int]] = field(default_factory=dict)  # custom_id: prompt, compl.
    files_uploaded: int = 0
    batches_created: int = 0
    polls: int = 0
    authorization: list[str] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    poll_counts: dict[str, int] = field(default_factory=dict)

    def add_file(self, filename: str, purpose: str, content: bytes) -> dict[str, Any]:
        with self.lock:
            file_id = f"file-{len(self.files) + 1}"
            self.files[file_id] = StoredFile(filename, purpose, content)
        return _file_object(file_id, self.files[file_id])


def _file_object(file_id: str, stored: StoredFile) -> dict[str, Any]:
    return {
        "id": file_id,
        "object": "file",
        "bytes": len(stored.content),
        "created_at": int(time.time()),
        "filename": stored.filename,
        "purpose": stored.purpose,
        "status": "processed",
    }


def _multipart(content_type: str, body: bytes) -> dict[str, tuple[str | None, bytes]]:
    """Form fields by name: (filename, raw bytes). Enough for what httpx sends."""
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    fields: dict[str, tuple[str | None, bytes]] = {}
    for part in body.split(b"--" + boundary)[1:-1]:
        head, _, value = part.partition(b"\r\n\r\n")
        name = re.search(rb'; name="([^"]*)"', head)
        filename = re.search(rb'filename="([^"]*)"', head)
        if name:
            fields[name.group(1).decode()] = (
                filename.group(1).decode() if filename else None,
                value.removesuffix(b"\r\n"),
            )
    return fields


def _validate(lines: list[dict[str, Any]], endpoint: str) -> list[dict[str, Any]]:
    """The checks the real API makes before running: errors as in `batch.errors.data`."""
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        body = line.get("body") or {}
        if line.get("method") != "POST" or line.get("url") != endpoint:
            errors.append({"code": "invalid_url", "message": "bad method or url", "line": number})
        elif "model" not in body or "messages" not in body:
            errors.append(
                {"code": "invalid_body", "message": "model/messages missing", "line": number}
            )
        elif line.get("custom_id") in seen:
            errors.append({"code": "duplicate_custom_id", "message": "duplicate", "line": number})
        seen.add(line.get("custom_id", ""))
    return errors


def _run_line(
    state: FakeBatchState, batch_id: str, number: int, line: dict[str, Any]
) -> dict[str, Any]:
    custom_id = line["custom_id"]
    response: dict[str, Any]
    if custom_id in state.line_errors:
        status, message = state.line_errors[custom_id]
        response = {
            "status_code": status,
            "request_id": f"req_{batch_id}_{number}",
            "body": {"error": {"message": message, "type": "invalid_request_error"}},
        }
    else:
        messages = line["body"]["messages"]
        content = json.dumps(_answer(messages, state.llm), ensure_ascii=False)
        prompt_tokens = sum(len(m["content"]) for m in messages) // 4
        completion_tokens = len(content) // 4
        state.usage[custom_id] = (prompt_tokens, completion_tokens)
        response = {
            "status_code": 200,
            "request_id": f"req_{batch_id}_{number}",
            "body": chat_completion(
                f"chatcmpl-{batch_id}-{number}",
                line["body"]["model"],
                content,
                prompt_tokens,
                completion_tokens,
            ),
        }
    return {
        "id": f"batch_req_{batch_id}_{number}",
        "custom_id": custom_id,
        "response": response,
        "error": None,
    }


def _finish(state: FakeBatchState, batch: dict[str, Any]) -> None:
    """Moves a batch to its final status, writing output and error files when it completes."""
    now = int(time.time())
    raw = state.files[batch["input_file_id"]].content.decode()
    lines = [json.loads(text) for text in raw.splitlines() if text.strip()]
    errors = (
        state.batch_errors if state.outcome == "failed" else _validate(lines, batch["endpoint"])
    )
    if errors:
        batch.update(status="failed", failed_at=now, errors={"object": "list", "data": errors})
        return
    if state.outcome != "completed":
        batch.update(status=state.outcome, **{f"{state.outcome}_at": now})
        return
    results = [_run_line(state, batch["id"], n, line) for n, line in enumerate(lines, start=1)]
    ok = [r for r in results if r["response"]["status_code"] == 200]
    failed = [r for r in results if r["response"]["status_code"] != 200]
    for key, chunk, name in (("output_file_id", ok, "output"), ("error_file_id", failed, "error")):
        if chunk:
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in chunk)
            batch[key] = state.add_file(
                f"{batch['id']}_{name}.jsonl", "batch_output", text.encode()
            )["id"]
    batch.update(
        status="completed",
        completed_at=now,
        request_counts={"total": len(results), "completed": len(ok), "failed": len(failed)},
    )


class _Handler(JsonHandler):
    server: _Server

    def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        self._send(
            status, {"error": {"message": message, "type": "invalid_request_error"}}, headers
        )

    def _authorized(self) -> bool:
        state = self.server.state
        sent = self.headers.get("Authorization", "")
        with state.lock:
            state.authorization.append(sent)
        if state.expected_key is None or sent == f"Bearer {state.expected_key}":
            return True
        # Echoes the whole key (the real API masks it) so tests prove the client redacts it.
        self._error(401, f"Incorrect API key provided: {sent.removeprefix('Bearer ')}")
        return False

    def do_POST(self) -> None:
        state = self.server.state
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if not self._authorized():
            return
        if self.path == "/v1/files":
            fields = _multipart(self.headers["Content-Type"], body)
            filename, content = fields["file"]
            with state.lock:
                state.files_uploaded += 1
                self._send(
                    200,
                    state.add_file(filename or "upload", fields["purpose"][1].decode(), content),
                )
            return
        if self.path == "/v1/batches":
            request = json.loads(body)
            with state.lock:
                if request.get("input_file_id") not in state.files:
                    self._error(400, f"No such file: {request.get('input_file_id')}")
                    return
                if request.get("endpoint") != _ENDPOINT:
                    self._error(400, f"Unsupported endpoint: {request.get('endpoint')}")
                    return
                state.batches_created += 1
                batch_id = f"batch_{state.batches_created}"
                now = int(time.time())
                batch: dict[str, Any] = {
                    "id": batch_id,
                    "object": "batch",
                    "endpoint": request["endpoint"],
                    "errors": None,
                    "input_file_id": request["input_file_id"],
                    "completion_window": request.get("completion_window", "24h"),
                    "status": "validating",
                    "output_file_id": None,
                    "error_file_id": None,
                    "created_at": now,
                    "expires_at": now + 24 * 3600,
                    "request_counts": {"total": 0, "completed": 0, "failed": 0},
                    "metadata": request.get("metadata"),
                }
                state.batches[batch_id] = batch
                self._send(200, batch)
            return
        self._error(404, f"Unknown path {self.path}")

    def do_GET(self) -> None:
        state = self.server.state
        if not self._authorized():
            return
        batch_match = re.fullmatch(r"/v1/batches/([\w-]+)", self.path)
        file_match = re.fullmatch(r"/v1/files/([\w-]+)/content", self.path)
        with state.lock:
            if batch_match:
                state.polls += 1
                if state.faults and state.faults.pop(0) == "500":
                    self._error(500, "internal error", {"retry-after-ms": "1"})
                    return
                batch = state.batches.get(batch_match.group(1))
                if batch is None:
                    self._error(404, f"No batch {batch_match.group(1)}")
                    return
                count = state.poll_counts[batch["id"]] = state.poll_counts.get(batch["id"], 0) + 1
                if batch["status"] in ("validating", "in_progress"):
                    if count >= state.polls_to_complete:
                        _finish(state, batch)
                    else:
                        batch.update(status="in_progress", in_progress_at=int(time.time()))
                self._send(200, batch)
            elif file_match and file_match.group(1) in state.files:
                self._send(200, state.files[file_match.group(1)].content)
            else:
                self._error(404, f"Unknown path {self.path}")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FakeBatchState


@contextmanager
def fake_batch_server(
    state: FakeBatchState | None = None,
) -> Iterator[tuple[str, FakeBatchState]]:
    """Yields (base URL ending in /v1, state); the server stops when the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state or FakeBatchState()
    with serving(server) as url:
        yield url, server.state
