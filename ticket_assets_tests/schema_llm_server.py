"""An OpenAI-compatible server that answers like a structured-output model, independent of our
prompts: it reads only what a model would read, the JSON schema it is sent (in
`response_format`, else the schema embedded in the system message) and the language the prompt
asks for, and it picks its own topic, words and tags. Faults, latency and a model name check
are configurable, seeded. Runs in-process (`schema_llm_server()`) or as a process of its own:

    python -m ticket_assets_tests.schema_llm_server --port 0 --latency 0.05 --fault-rate 0.3 \
        --faults 429,500,timeout,malformed --wrong-language-rate 0.05 --seed 1

prints its base URL (ending in /v1) on the first stdout line and serves until killed.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from ticket_assets_tests.fake_llm_server import FakeServer, JsonHandler, chat_completion, serving

FAULT_KINDS = ("429", "500", "timeout", "malformed", "wrong_language", "401")
DEFAULT_MODEL = "schema-llm"


@dataclass(frozen=True)
class _Language:
    greeting: str
    tried: str
    impact: str
    question: str
    closing: str
    reply: str
    topics: Mapping[str, tuple[str, str]]  # topic -> (subject line, the problem in a sentence)


_LANGUAGES: dict[str, _Language] = {
    "English": _Language(
        greeting="Hello support team,",
        tried="We already restarted everything and reinstalled the software, without success.",
        impact="Several colleagues cannot do their work properly because of this.",
        question="Could you please tell us how to fix this as soon as possible?",
        closing="Thank you in advance and best regards, Alex Morgan",
        reply="Hello Alex, thank you for your detailed message. We have looked at your account "
        "and are checking the logs right now. Please send us a screenshot of the error if you "
        "can. We will get back to you within one business day. Kind regards, Sam from support",
        topics={
            "printer": (
                "Office printer keeps dropping off the network",
                "Since Monday our office printer disconnects from the network several times a "
                "day and all print jobs stay in the queue.",
            ),
            "login": (
                "Cannot log in after the password reset",
                "After resetting my password yesterday I cannot log in anymore, the page "
                "always says that my credentials are wrong.",
            ),
            "dashboard": (
                "Sales dashboard loads very slowly",
                "For about a week the sales dashboard takes more than a minute to load and "
                "the charts often stay empty.",
            ),
        },
    ),
    "German": _Language(
        greeting="Sehr geehrtes Support-Team,",
        tried="Wir haben bereits alles neu gestartet und die Software neu installiert, leider "
        "ohne Erfolg.",
        impact="Mehrere Kollegen können deshalb ihre Arbeit nicht richtig erledigen.",
        question="Könnten Sie uns bitte so schnell wie möglich sagen, wie wir das beheben?",
        closing="Vielen Dank im Voraus und mit freundlichen Grüßen, Alex Morgan",
        reply="Guten Tag Herr Morgan, vielen Dank für Ihre ausführliche Nachricht. Wir haben "
        "Ihr Konto geprüft und sehen uns gerade die Protokolle an. Bitte senden Sie uns nach "
        "Möglichkeit einen Screenshot der Fehlermeldung. Wir melden uns innerhalb eines "
        "Werktages. Mit freundlichen Grüßen, Sam vom Support",
        topics={
            "printer": (
                "Bürodrucker verliert ständig die Netzwerkverbindung",
                "Seit Montag trennt sich unser Bürodrucker mehrmals am Tag vom Netzwerk und "
                "alle Druckaufträge bleiben in der Warteschlange hängen.",
            ),
            "login": (
                "Anmeldung nach dem Zurücksetzen des Passworts nicht möglich",
                "Nachdem ich gestern mein Passwort zurückgesetzt habe, kann ich mich nicht mehr "
                "anmelden, die Seite meldet immer falsche Zugangsdaten.",
            ),
            "dashboard": (
                "Vertriebs-Dashboard lädt sehr langsam",
                "Seit etwa einer Woche braucht das Vertriebs-Dashboard über eine Minute zum "
                "Laden und die Diagramme bleiben oft leer.",
            ),
        },
    ),
    "French": _Language(
        greeting="Bonjour l'équipe du support,",
        tried="Nous avons déjà tout redémarré et réinstallé le logiciel, sans succès.",
        impact="Plusieurs collègues ne peuvent plus travailler correctement à cause de cela.",
        question="Pourriez-vous nous indiquer comment résoudre ce problème au plus vite ?",
        closing="Merci d'avance et cordialement, Alex Morgan",
        reply="Bonjour Monsieur Morgan, merci pour votre message détaillé. Nous avons vérifié "
        "votre compte et nous examinons les journaux en ce moment. Pourriez-vous nous envoyer "
        "une capture d'écran de l'erreur ? Nous vous répondrons sous un jour ouvré. "
        "Cordialement, Sam du support",
        topics={
            "printer": (
                "L'imprimante du bureau se déconnecte du réseau",
                "Depuis lundi, notre imprimante de bureau se déconnecte du réseau plusieurs "
                "fois par jour et toutes les impressions restent bloquées dans la file.",
            ),
            "login": (
                "Impossible de me connecter après la réinitialisation du mot de passe",
                "Depuis que j'ai réinitialisé mon mot de passe hier, je ne peux plus me "
                "connecter, la page indique toujours que mes identifiants sont incorrects.",
            ),
            "dashboard": (
                "Le tableau de bord des ventes est très lent",
                "Depuis environ une semaine, le tableau de bord des ventes met plus d'une "
                "minute à s'afficher et les graphiques restent souvent vides.",
            ),
        },
    ),
    "Spanish": _Language(
        greeting="Hola, equipo de soporte:",
        tried="Ya hemos reiniciado todo y reinstalado el programa, sin ningún éxito.",
        impact="Varios compañeros no pueden hacer su trabajo con normalidad por este motivo.",
        question="¿Podrían decirnos cómo solucionarlo lo antes posible, por favor?",
        closing="Muchas gracias de antemano y un cordial saludo, Alex Morgan",
        reply="Hola, Alex: muchas gracias por su mensaje tan detallado. Hemos revisado su "
        "cuenta y estamos analizando los registros ahora mismo. Si puede, envíenos una captura "
        "de pantalla del error. Le responderemos en un plazo de un día hábil. Saludos "
        "cordiales, Sam del equipo de soporte",
        topics={
            "printer": (
                "La impresora de la oficina se desconecta de la red",
                "Desde el lunes la impresora de nuestra oficina se desconecta de la red varias "
                "veces al día y todos los trabajos se quedan en la cola de impresión.",
            ),
            "login": (
                "No puedo iniciar sesión tras restablecer la contraseña",
                "Después de restablecer mi contraseña ayer ya no puedo iniciar sesión, la "
                "página siempre dice que mis credenciales son incorrectas.",
            ),
            "dashboard": (
                "El panel de ventas carga muy despacio",
                "Desde hace una semana el panel de ventas tarda más de un minuto en cargar y "
                "los gráficos se quedan vacíos a menudo.",
            ),
        },
    ),
    "Portuguese": _Language(
        greeting="Olá, equipa de suporte,",
        tried="Já reiniciámos tudo e reinstalámos o programa, mas sem qualquer sucesso.",
        impact="Vários colegas não conseguem fazer o seu trabalho normalmente por causa disto.",
        question="Podem indicar-nos, por favor, como resolver isto o mais depressa possível?",
        closing="Obrigado desde já e com os melhores cumprimentos, Alex Morgan",
        reply="Olá Alex, obrigado pela sua mensagem tão detalhada. Verificámos a sua conta e "
        "estamos a analisar os registos neste momento. Se possível, envie-nos uma captura de "
        "ecrã do erro. Daremos uma resposta no prazo de um dia útil. Com os melhores "
        "cumprimentos, Sam da equipa de suporte",
        topics={
            "printer": (
                "A impressora do escritório desliga-se da rede",
                "Desde segunda-feira a impressora do escritório desliga-se da rede várias vezes "
                "por dia e todos os trabalhos ficam parados na fila de impressão.",
            ),
            "login": (
                "Não consigo entrar depois de redefinir a palavra-passe",
                "Depois de redefinir a minha palavra-passe ontem já não consigo entrar, a "
                "página diz sempre que as minhas credenciais estão erradas.",
            ),
            "dashboard": (
                "O painel de vendas demora muito a carregar",
                "Há cerca de uma semana que o painel de vendas demora mais de um minuto a "
                "carregar e os gráficos ficam muitas vezes vazios.",
            ),
        },
    ),
}
# Tags a model invents for a topic when no vocabulary constrains it, mixed case as they come.
_GENERIC_TAGS = ("Technical Issue", "urgent", "Customer Support", "IT", "Troubleshooting")
_INVENTED_TAGS = {
    "printer": ("Printer", "Network Issues", "hardware", "Connectivity", "Office Equipment"),
    "login": ("Login Problem", "Authentication", "Account Access", "password", "Security"),
    "dashboard": ("Dashboard", "Performance", "Bug", "Analytics", "slow loading", "Web App"),
}
# Words that tell the model what a ticket it is shown is about; otherwise it picks a topic.
_TOPIC_WORDS = {
    "printer": ("print", "drucker", "imprim", "impresora", "impressora"),
    "login": ("log in", "login", "password", "passwort", "anmeld", "contraseña", "palavra-passe"),
    "dashboard": ("dashboard", "tableau de bord", "panel", "painel"),
}
_LANGUAGE_NAMES = "|".join(_LANGUAGES)
_INTO_LANGUAGE = re.compile(rf"\binto\s+({_LANGUAGE_NAMES})\b")
_IN_LANGUAGE = re.compile(rf"\bin\s+({_LANGUAGE_NAMES})\b")
_TICKET_HEADER = re.compile(r"^### Ticket (\S+)$", re.MULTILINE)
_SHORT_FIELD = re.compile(r"subject|title|topic|summary|name|label", re.IGNORECASE)
_REPLY_FIELD = re.compile(r"response|reply|answer", re.IGNORECASE)
_ANY_TICKET = {"properties": {"subject": {"type": "string"}, "body": {"type": "string"}}}
# Share of enum picks a sloppy model writes in another case ("network" for "Network").
_CASE_SLIP_RATE = 0.15


@dataclass
class SchemaLLMState:
    """What the server does and what it saw; tests read the counters."""

    model: str | None = None  # when set, other model names get 404 "model not found"
    latency_s: float = 0.0
    fault_rate: float = 0.0  # share of requests answered with one of `faults`
    faults: tuple[str, ...] = ("429", "500", "timeout", "malformed")
    wrong_language_rate: float = 0.0  # share of answers written in another language
    timeout_s: float = 2.0  # a "timeout" fault answers this late (longer than the client waits)
    reject_json_schema: bool = False  # 400 on a json_schema response_format, as old servers do
    seed: int = 0
    requests: int = 0
    billed_calls: int = 0  # 200 answers finished (received by the client or not)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults_served: dict[str, int] = field(default_factory=dict)
    response_formats: list[str] = field(default_factory=list)  # each request's type
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        unknown = set(self.faults) - set(FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; known: {FAULT_KINDS}")

    def admit(self, response_format: str) -> random.Random:
        """Count a request; its random source depends only on the seed and its arrival order."""
        with self.lock:
            self.requests += 1
            self.response_formats.append(response_format)
            return random.Random(f"{self.seed}:{self.requests}")

    def count_fault(self, kind: str) -> None:
        with self.lock:
            self.faults_served[kind] = self.faults_served.get(kind, 0) + 1

    def bill(self, prompt_tokens: int, completion_tokens: int) -> None:
        with self.lock:
            self.billed_calls += 1
            self.prompt_tokens += prompt_tokens
            self.completion_tokens += completion_tokens

    def stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                "requests": self.requests,
                "billed_calls": self.billed_calls,
                "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "faults": dict(self.faults_served),
            }


# --- reading the request, as a model would ---------------------------------------------------


def requested_schema(request: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """The schema to answer and whether it came from the prompt text rather than the API."""
    response_format = request.get("response_format") or {}
    if response_format.get("type") == "json_schema":
        return response_format["json_schema"]["schema"], False
    system = next((m["content"] for m in request["messages"] if m["role"] == "system"), "")
    return _schema_in_text(system), True


def _schema_in_text(text: str) -> dict[str, Any]:
    """The first JSON object after the last mention of a JSON schema; {} if none."""
    mention = text.lower().rfind("json schema")
    start = text.find("{", max(mention, 0))
    if mention < 0 or start < 0:
        return {}
    try:
        schema, _ = json.JSONDecoder().raw_decode(text[start:])
    except json.JSONDecodeError:
        return {}
    return schema if isinstance(schema, dict) else {}


def asked_language(*texts: str) -> str:
    """The language the first of `texts` to name one asks for (the instructions before the
    ticket, and before a repair request that names the wrong language); 'into X' wins over
    'in X', as translations say both."""
    for text in texts:
        named = _INTO_LANGUAGE.findall(text) or _IN_LANGUAGE.findall(text)
        if named:
            return named[-1]
    return "English"


# --- writing the answer ----------------------------------------------------------------------


@dataclass
class _Writer:
    """Fills one schema for one ticket: a topic of its own choosing, in one language."""

    rng: random.Random
    language: str
    topic: str
    definitions: Mapping[str, Any]

    def value(self, schema: Mapping[str, Any], name: str = "") -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return self.rng.choice(schema["enum"])
        kind = schema.get("type", "object" if "properties" in schema else "string")
        if isinstance(kind, list):
            kind = next((k for k in kind if k != "null"), "null")
        if kind == "object":
            properties = schema.get("properties", {})
            return {key: self.value(sub, key) for key, sub in properties.items()}
        if kind == "array":
            return self._array(schema, name)
        if kind in ("integer", "number"):
            return self._number(schema, kind)
        if kind == "boolean":
            return self.rng.random() < 0.5
        if kind == "null":
            return None
        return self._text(schema, name)

    def _resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        if "$ref" in schema:
            return self._resolve(self.definitions[schema["$ref"].rsplit("/", 1)[-1]])
        for combinator in ("anyOf", "oneOf", "allOf"):
            options = [s for s in schema.get(combinator, []) if s.get("type") != "null"]
            if options:
                return self._resolve(options[0])
        return schema

    def _array(self, schema: Mapping[str, Any], name: str) -> list[Any]:
        low = schema.get("minItems", 1)
        high = max(low, min(schema.get("maxItems", low + 4), low + 4))
        count = self.rng.randint(low, high)
        items = self._resolve(schema.get("items", {}))
        if items.get("type") == "string" and "enum" in items:
            picks = self.rng.sample(items["enum"], min(count, len(items["enum"])))
            return [self._slip_case(pick) for pick in picks]
        if items.get("type", "string") == "string":
            # Topic tags first, then generic ones, as models do; no repeats within reach.
            invented = self.rng.sample(_INVENTED_TAGS[self.topic], len(_INVENTED_TAGS[self.topic]))
            invented += self.rng.sample(_GENERIC_TAGS, len(_GENERIC_TAGS))
            return (invented * (count // len(invented) + 1))[:count]
        return [self.value(items, name) for _ in range(count)]

    def _slip_case(self, label: str) -> str:
        return label.lower() if self.rng.random() < _CASE_SLIP_RATE else label

    def _number(self, schema: Mapping[str, Any], kind: str) -> int | float:
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0))
        high = schema.get("maximum", schema.get("exclusiveMaximum", low + 10))
        if kind == "integer":
            return self.rng.randint(int(low), int(high))
        return round(self.rng.uniform(low, high), 2)

    def _text(self, schema: Mapping[str, Any], name: str) -> str:
        words = _LANGUAGES[self.language]
        subject, problem = words.topics[self.topic]
        if _SHORT_FIELD.search(name):
            text = subject
        elif _REPLY_FIELD.search(name):
            text = words.reply
        else:
            middle = [words.tried, words.impact]
            self.rng.shuffle(middle)
            text = " ".join([words.greeting, problem, *middle, words.question, words.closing])
        return _fit(text, schema.get("minLength", 0), schema.get("maxLength"))


def _fit(text: str, min_length: int, max_length: int | None) -> str:
    while len(text) < min_length:
        text = f"{text} {text}"
    if max_length is not None and len(text) > max_length:
        text = text[:max_length].rsplit(" ", 1)[0] or text[:max_length]
    return text


def answer(request: Mapping[str, Any], rng: random.Random, wrong_language: bool) -> Any:
    """What the model writes: the schema filled in, or {"items": [...]} with one item per
    '### Ticket <id>' section when the prompt asks for that form."""
    schema, from_text = requested_schema(request)
    schema = schema or _ANY_TICKET  # JSON mode and no schema anywhere: some ticket object
    texts = [m["content"] for m in request["messages"]]
    ids = _TICKET_HEADER.findall(texts[-1])
    definitions = schema.get("$defs", {})
    items_form = ids and (not from_text or '"items"' in texts[0])
    if not items_form:
        return _writer(rng, texts, definitions, wrong_language).value(schema)
    if from_text:
        schema = {"properties": {"items": {"type": "array", "items": schema}}}
    item_schema = schema["properties"]["items"]["items"]
    definitions = {**definitions, **item_schema.get("$defs", {})}
    sections = _TICKET_HEADER.split(texts[-1])[2::2]
    items = []
    for ticket, section in zip(ids, sections, strict=True):
        writer = _writer(rng, [texts[0], section], definitions, wrong_language)
        items.append({**writer.value(item_schema), "id": ticket})
    return {"items": items}


def _writer(
    rng: random.Random, texts: list[str], definitions: Mapping[str, Any], wrong_language: bool
) -> _Writer:
    """A writer for the ticket in `texts` (instructions first): its language and topic."""
    language = asked_language(*texts)
    if wrong_language:
        language = rng.choice([other for other in _LANGUAGES if other != language])
    return _Writer(rng, language, _topic("\n".join(texts), rng), definitions)


def _topic(prompt: str, rng: random.Random) -> str:
    lowered = prompt.lower()
    named = [topic for topic, words in _TOPIC_WORDS.items() if any(w in lowered for w in words)]
    return rng.choice(named or list(_TOPIC_WORDS))


# --- HTTP ------------------------------------------------------------------------------------


class _Handler(JsonHandler):
    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        if self.path.endswith("/stats"):
            self._send(200, state.stats())
        elif self.path.endswith("/models"):
            model = {"id": state.model or DEFAULT_MODEL, "object": "model", "owned_by": "tests"}
            self._send(200, {"object": "list", "data": [model]})
        else:
            self._send(404, _error(f"no route {self.path}", "not_found"))

    def do_POST(self) -> None:
        state = self.server.state
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        response_format = (request.get("response_format") or {}).get("type", "none")
        rng = state.admit(response_format)
        time.sleep(state.latency_s)
        if state.model is not None and request.get("model") != state.model:
            message = f"The model `{request.get('model')}` does not exist."
            self._send(404, _error(message, "model_not_found"))
            return
        if state.reject_json_schema and response_format == "json_schema":
            message = "response_format type 'json_schema' is not supported; use 'json_object'"
            self._send(400, _error(message, "invalid_request_error", param="response_format"))
            return
        fault = None
        if rng.random() < state.fault_rate:
            fault = rng.choice(state.faults)
        elif rng.random() < state.wrong_language_rate:
            fault = "wrong_language"
        if fault:
            state.count_fault(fault)
        if not self._refuse(fault):
            self._complete(state, request, rng, fault)

    def _refuse(self, fault: str | None) -> bool:
        """Answer an HTTP error fault; False when the request gets a completion."""
        if fault == "401":
            key = self.headers.get("Authorization", "").removeprefix("Bearer ")
            self._send(401, _error(f"Incorrect API key provided: {key}", "invalid_api_key"))
        elif fault == "429":
            self._send(
                429, _error("Rate limit reached", "rate_limit_exceeded"), {"Retry-After": "1"}
            )
        elif fault == "500":
            self._send(500, _error("The server had an error", "server_error"))
        else:
            return False
        return True

    def _complete(
        self, state: SchemaLLMState, request: dict[str, Any], rng: random.Random, fault: str | None
    ) -> None:
        if fault == "timeout":
            time.sleep(state.timeout_s)
        content = json.dumps(
            answer(request, rng, wrong_language=fault == "wrong_language"), ensure_ascii=False
        )
        if fault == "malformed":
            content = content[: len(content) // 2]
        prompt_tokens = sum(len(m["content"]) for m in request["messages"]) // 4
        completion_tokens = len(content) // 4
        completion = chat_completion(
            f"chatcmpl-{state.requests}",
            request.get("model", ""),
            content,
            prompt_tokens,
            completion_tokens,
        )
        # Like a hosted API, a finished answer is billed whether or not its client still waits
        # (it timed out, or its process died).
        state.bill(prompt_tokens, completion_tokens)
        try:
            self._send(200, completion)
        except OSError:
            return


def _error(message: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {
        "error": {"message": message, "type": "invalid_request_error", "code": code, "param": param}
    }


class _Server(FakeServer):
    state: SchemaLLMState


@contextmanager
def schema_llm_server(
    state: SchemaLLMState | None = None, port: int = 0
) -> Iterator[tuple[str, SchemaLLMState]]:
    """Yields (base URL ending in /v1, state); the server stops when the block ends."""
    server = _Server(("127.0.0.1", port), _Handler)
    server.state = state or SchemaLLMState()
    with serving(server) as url:
        yield url, server.state


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--model", help="the only model served (others get 404); any if unset")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument("--fault-rate", type=float, default=0.0)
    parser.add_argument(
        "--faults", default="429,500,timeout,malformed", help=", ".join(FAULT_KINDS)
    )
    parser.add_argument("--wrong-language-rate", type=float, default=0.0)
    parser.add_argument("--timeout", type=float, default=2.0, help="how late a timeout answers")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reject-json-schema", action="store_true", help="400 on json_schema")
    args = parser.parse_args(argv)
    state = SchemaLLMState(
        model=args.model,
        latency_s=args.latency,
        fault_rate=args.fault_rate,
        faults=tuple(kind.strip() for kind in args.faults.split(",") if kind.strip()),
        wrong_language_rate=args.wrong_language_rate,
        timeout_s=args.timeout,
        reject_json_schema=args.reject_json_schema,
        seed=args.seed,
    )
    with schema_llm_server(state, args.port) as (url, _):
        print(url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
