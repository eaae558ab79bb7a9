"""An OpenAI-compatible chat-completions server on 127.0.0.1 for tests: real HTTP, answers
built from the request, token usage reported, and faults injected on demand."""

from __future__ import annotations

import hashlib
import json
import random
import re
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# Text the fake writes per language; enough for the schema and the language detector.
_TEXT = {
    "English": (
        "Printer keeps dropping off the network",
        "Hello support team, since Monday our office printer disconnects from the network "
        "several times a day. We restarted it and reinstalled the driver, without success. "
        "Could you please help us? Best regards, Alex",
        "Hello, thank you for your message. We are checking the printer logs and will get back "
        "to you within one business day. Kind regards, Sam",
    ),
    "German": (
        "Drucker verliert ständig die Netzwerkverbindung",
        "Sehr geehrtes Support-Team, seit Montag trennt sich unser Bürodrucker mehrmals am Tag "
        "vom Netzwerk. Wir haben ihn neu gestartet und den Treiber neu installiert, leider ohne "
        "Erfolg. Könnten Sie uns bitte helfen? Mit freundlichen Grüßen, Alex",
        "Guten Tag, vielen Dank für Ihre Nachricht. Wir prüfen die Protokolle des Druckers und "
        "melden uns innerhalb eines Werktages. Mit freundlichen Grüßen, Sam",
    ),
    "Spanish": (
        "La impresora se desconecta de la red",
        "Hola, equipo de soporte: desde el lunes nuestra impresora de la oficina se desconecta "
        "de la red varias veces al día. La hemos reiniciado y reinstalado el controlador, sin "
        "éxito. ¿Podrían ayudarnos, por favor? Saludos cordiales, Alex",
        "Hola, gracias por su mensaje. Estamos revisando los registros de la impresora y le "
        "responderemos en un día hábil. Saludos cordiales, Sam",
    ),
    "French": (
        "L'imprimante se déconnecte du réseau",
        "Bonjour, depuis lundi notre imprimante de bureau se déconnecte du réseau plusieurs fois "
        "par jour. Nous l'avons redémarrée et avons réinstallé le pilote, sans succès. Pourriez-"
        "vous nous aider, s'il vous plaît ? Cordialement, Alex",
        "Bonjour, merci pour votre message. Nous vérifions les journaux de l'imprimante et vous "
        "répondrons sous un jour ouvré. Cordialement, Sam",
    ),
    "Portuguese": (
        "A impressora desliga-se da rede",
        "Olá, equipa de suporte, desde segunda-feira a impressora do escritório desliga-se da "
        "rede várias vezes por dia. Já a reiniciámos e reinstalámos o controlador, sem sucesso. "
        "Podem ajudar-nos, por favor? Com os melhores cumprimentos, Alex",
        "Olá, obrigado pela sua mensagem. Estamos a verificar os registos da impressora e "
        "responderemos dentro de um dia útil. Com os melhores cumprimentos, Sam",
    ),
}
FAULT_KINDS = ("429", "500", "timeout", "malformed", "invalid", "wrong_language")
_LANGUAGE_HINT = re.compile(r"\b(?:in|into)\s+(English|German|Spanish|French|Portuguese)\b")


@dataclass
class FakeLLMState:
    """What the server does and what it saw; tests change `faults` and read the counters."""

    latency_s: float = 0.0
    # Consumed one per request; then, with probability fault_rate, one of fault_kinds.
    # Kinds: 429, 500, timeout (answers after timeout_s), malformed (cut JSON), invalid
    # (labels or tag counts the schema rejects, empty text), wrong_language, 401 (echoes the key);
    # only when listed in `faults`: cut_body (a 200 whose body is cut short, as from a proxy).
    faults: list[str] = field(default_factory=list)
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    timeout_s: float = 2.0
    retry_after_s: float = 0.0  # the Retry-After a 429 is sent with
    headers: dict[str, str] = field(default_factory=dict)  # sent with each answer (rate limits)
    seed: int = 0
    # Fixed answers by output schema title (e.g. "TagsAnswer"), to plant invalid output.
    fixed_answers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # This share of conversations (by their first user message: the same ticket and node,
    # repairs included) always gets truncated JSON, as a model that cannot do that ticket.
    poisoned_share: float = 0.0
    requests: int = 0  # every request received, faulty or not
    calls: int = 0  # requests answered with a completion (what a provider would bill)
    billed_ids: list[str] = field(default_factory=list)  # their X-Client-Request-Id headers
    # sha256 of each billed request's messages: the same digest twice is a call paid twice.
    billed_digests: list[str] = field(default_factory=list)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults_served: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    max_in_flight: int = 0
    authorization: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random | None = None

    def poisoned(self, messages: list[dict[str, str]]) -> bool:
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        digest = int.from_bytes(hashlib.sha256(user.encode()).digest()[:4], "big")
        return digest / 2**32 < self.poisoned_share

    def next_fault(self) -> str | None:
        with self.lock:
            if self.faults:
                fault: str | None = self.faults.pop(0)
            else:
                self._rng = self._rng or random.Random(self.seed)
                fault = None
                if self.fault_rate and self._rng.random() < self.fault_rate:
                    fault = self._rng.choice(self.fault_kinds)
            if fault:
                self.faults_served[fault] = self.faults_served.get(fault, 0) + 1
            return fault


_TICKET_HEADER = re.compile(r"^### Ticket (\S+)$", re.MULTILINE)


def _answer(
    messages: list[dict[str, str]], state: FakeLLMState, fault: str | None = None
) -> dict[str, Any]:
    """One answer, or {"items": [...]} with one answer per ticket for grouped calls."""
    ids = _TICKET_HEADER.findall(messages[-1]["content"])
    if ids and '"items"' in messages[0]["content"]:
        answers = [{"id": ticket, **_single_answer(messages, state, fault)} for ticket in ids]
        return {"items": answers}
    return _single_answer(messages, state, fault)


def _invalid(answer: dict[str, Any]) -> dict[str, Any]:
    """What a sloppy model returns: too few or too many tags, or empty text."""
    if "tags" in answer:
        return {"tags": answer["tags"][:3] if len(answer["tags"]) > 3 else ["Unicorns"] * 9}
    return dict.fromkeys(answer, "")


def _single_answer(
    messages: list[dict[str, str]], state: FakeLLMState, fault: str | None = None
) -> dict[str, Any]:
    answer = _plain_answer(messages, state, wrong_language=fault == "wrong_language")
    return _invalid(answer) if fault == "invalid" else answer


def _plain_answer(
    messages: list[dict[str, str]], state: FakeLLMState, *, wrong_language: bool = False
) -> dict[str, Any]:
    system = messages[0]["content"]
    for title, answer in state.fixed_answers.items():
        if f'"{title}"' in system:
            return answer
    hint = _LANGUAGE_HINT.findall(system)
    language = hint[-1] if hint else "English"
    if wrong_language:
        language = "French" if language == "English" else "English"
    subject, body, reply = _TEXT[language]
    if '"TopicAnswer"' in system:
        return {"topic": "Printer keeps dropping off the network"}
    if '"TagsAnswer"' in system:
        # As a structured-output server would: the first tags of the schema's enum (the
        # engine appends the schema, one line of JSON, to the system prompt).
        schema = json.loads(system.rsplit("\n", 1)[-1])
        return {"tags": schema["properties"]["tags"]["items"]["enum"][:5]}
    if '"FirstResponseAnswer"' in system:
        return {"first_response": reply}
    return {"subject": subject, "body": body}


def _filled(schema: dict[str, Any]) -> Any:
    """Any value of a simple JSON schema, as a model with structured output writes one."""
    kind = schema.get("type", "object" if "properties" in schema else "string")
    if kind == "object":
        return {name: _filled(sub) for name, sub in schema.get("properties", {}).items()}
    values = {"integer": 30, "number": 1.5, "boolean": True, "array": [], "null": None}
    return values.get(kind, "Alex")


def chat_completion(
    completion_id: str, model: str, content: str, prompt_tokens: int, completion_tokens: int
) -> dict[str, Any]:
    """An OpenAI chat.completion object with its usage, as both fake servers return it."""
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


class JsonHandler(BaseHTTPRequestHandler):
    """What the fake servers share: JSON replies over keep-alive connections, no log noise."""

    protocol_version = "HTTP/1.1"  # keep-alive, as real providers offer
    # Headers and body go out in separate writes; with Nagle on, delayed ACKs add ~40 ms.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        return

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


class _Handler(JsonHandler):
    server: _Server

    def do_GET(self) -> None:
        """GET /v1/stats: the counters, for benchmarks running the server in a process."""
        state = self.server.state
        if not self.path.endswith("/stats"):
            self._send(404, {"error": {"message": "not found"}})
            return
        with state.lock:
            counters = {
                "requests": state.requests,
                "calls": state.calls,
                "billed_ids": list(state.billed_ids),
                "faults": dict(state.faults_served),
            }
        self._send(200, counters)

    def do_POST(self) -> None:
        state = self.server.state
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with state.lock:
            state.requests += 1
            state.in_flight += 1
            state.max_in_flight = max(state.max_in_flight, state.in_flight)
            state.authorization.append(self.headers.get("Authorization", ""))
        try:
            self._respond(state, request)
        finally:
            with state.lock:
                state.in_flight -= 1

    def _respond(self, state: FakeLLMState, request: dict[str, Any]) -> None:
        if not request.get("messages"):
            # As OpenAI answers a probe without messages (some clients send one to read the
            # rate-limit headers): a 400, not billed.
            self._send(400, {"error": {"message": "'messages' must not be empty"}})
            return
        fault = state.next_fault()
        if fault == "429":
            # As a rate limiter in front of a model answers: at once, before any model time.
            retry_after = {"Retry-After": f"{state.retry_after_s:g}"}
            self._send(429, {"error": {"message": "rate limited"}}, retry_after)
            return
        time.sleep(state.latency_s)
        if fault == "timeout":
            time.sleep(state.timeout_s)
        if fault == "401":
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(401, {"error": {"message": f"Incorrect API key provided: {key}"}})
            return
        if fault == "500":
            self._send(500, {"error": {"message": "internal error"}})
            return
        answer = _answer(request["messages"], state, fault)
        response_format = request.get("response_format") or {}
        ours = "JSON schema" in request["messages"][0]["content"]  # planning.py's instructions
        if response_format.get("type") == "json_schema" and not ours:
            # Another client's request (peers in bench/peers): answer its schema as asked.
            answer = _filled(response_format["json_schema"].get("schema", {}))
        content = json.dumps(answer, ensure_ascii=False)
        if fault == "malformed" or state.poisoned(request["messages"]):
            content = content[: len(content) // 2]
        prompt_tokens = sum(len(m["content"]) for m in request["messages"]) // 4
        completion_tokens = len(content) // 4
        messages = json.dumps(request["messages"], sort_keys=True, ensure_ascii=False)
        digest = hashlib.sha256(messages.encode()).hexdigest()
        with state.lock:
            state.calls += 1
            state.billed_ids.append(self.headers.get("X-Client-Request-Id", ""))
            state.billed_digests.append(digest)
            state.prompt_tokens += prompt_tokens
            state.completion_tokens += completion_tokens
        completion = chat_completion(
            f"chatcmpl-{state.calls}", request["model"], content, prompt_tokens, completion_tokens
        )
        body = json.dumps(completion).encode()
        self._send(200, body[: len(body) // 2] if fault == "cut_body" else body, state.headers)


class FakeServer(ThreadingHTTPServer):
    """What the fake servers share: a thread per request, a deep accept queue, quiet drops."""

    daemon_threads = True
    request_queue_size = 256  # the default 5 refuses connections under concurrency

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out or was killed closes its connection: routine, not news.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Server(FakeServer):
    state: FakeLLMState


@contextmanager
def serving(server: ThreadingHTTPServer) -> Iterator[str]:
    """Serve in a thread; yields the base URL ending in /v1; stops when the block ends."""
    # A short poll interval: shutdown() waits up to one of them.
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def fake_llm_server(state: FakeLLMState | None = None) -> Iterator[tuple[str, FakeLLMState]]:
    """Yields (base URL ending in /v1, state); the server stops when the block ends."""
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = state or FakeLLMState()
    with serving(server) as url:
        yield url, server.state


def main() -> None:
    """Serve in a process of its own (benchmarks): prints the base URL, serves until killed.
    GET /v1/stats reports the requests received and the calls billed."""
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.0)
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument("--faults", default=",".join(FAULT_KINDS), help="kinds, comma-separated")
    parser.add_argument("--timeout", type=float, default=2.0, help="how late a timeout answers")
    parser.add_argument("--retry-after", type=float, default=0.0, help="Retry-After of a 429")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    state = FakeLLMState(
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        fault_kinds=tuple(kind for kind in args.faults.split(",") if kind),
        timeout_s=args.timeout,
        retry_after_s=args.retry_after,
        seed=args.seed,
    )
    with fake_llm_server(state) as (url, _):
        print(url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
