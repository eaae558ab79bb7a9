"""Typed access to one language's phrase bank (tables/offline/<code>.yaml) and its checks.

`Tables.load` already checked that every bank mirrors the reference bank (same keys, same
number of variants, same placeholders); here we check what the composer relies on: the
sections it reads exist for every type, queue, tone and priority level of the tables, and
templates only use placeholders the composer fills.
"""

from __future__ import annotations

import string
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from ticket_assets.tables import OFFLINE_DIR, PRIORITY_LEVELS, Tables, TablesError

EMAIL_PLACEHOLDERS = frozenset(
    {
        "product",
        "team",
        "title",
        "days",
        "weeks",
        "users",
        "years",
        "order_number",
        "invoice_number",
        "customer_number",
        "employee_number",
        "amount",
        "error_code",
        "version",
        "asset_tag",
        "time",
        "date",
        "due_date",
        "due_time",
        "budget",
        "weekday",
        "colleague",
        "count",
        "minutes",
        "building",
        "device",
        "system",
        "browser",
        "reference",
    }
)
REPLY_PLACEHOLDERS = frozenset(
    {"customer_name", "first_name", "product", "title", "hours", "ticket_id"}
)
# Formats: how a language writes money, dates and times.
FORMAT_PLACEHOLDERS = {
    "money": frozenset({"amount"}),
    "date": frozenset({"day", "month"}),
    "time": frozenset({"hour", "minute"}),
}
# Topic titles appear in e-mails and replies alike, so they may only name the product.
TITLE_PLACEHOLDERS = frozenset({"product"})

# The labels of a detailed report's fact lines ("Version: 4.2.1").
REPORT_LABELS = ("product", "version", "system", "browser", "error", "users", "since", "reference")

_FORMATTER = string.Formatter()


class PhraseBook:
    """One language's phrases; lists are index-aligned with every other language's."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.data = data
        self.opening: Sequence[str] = data["opening"]
        self.personas: Mapping[str, str] = data.get("personas") or {}
        self.topics: Mapping[str, Mapping[str, Any]] = data.get("topics") or {}
        self.subjects: Sequence[str] = data["subjects"]
        self.situations: Mapping[str, Mapping[str, Sequence[str]]] = data["situations"]
        self.report: Mapping[str, Any] = data["report"]
        self.forward: Mapping[str, Any] = data["forward"]
        self.fillers: Mapping[str, Sequence[str]] = data["fillers"]
        self.weekdays: Sequence[str] = data["calendar"]["weekdays"]
        self.months: Sequence[str] = data["calendar"]["months"]
        self.reply: Mapping[str, Any] = data["reply"]
        self.reply_prefix: str = data["reply_prefix"]
        self.forward_prefix: str = data["forward_prefix"]
        self._money: str = data["money"]
        self._decimal_mark: str = data["decimal_mark"]
        self._thousands_mark: str = data["thousands_mark"]
        self._date: str = data["date"]
        self._time: str = data["time"]

    def type(self, key: str) -> Mapping[str, Any]:
        return self.data["types"][key]

    def queue(self, key: str) -> Mapping[str, Any]:
        return self.data["queues"][key]

    def tone(self, key: str) -> Mapping[str, Any]:
        return self.data["tones"][key]

    def register(self, tone_key: str) -> Mapping[str, Sequence[str]]:
        return self.data["registers"][self.tone(tone_key)["register"]]

    def situation(self, fact: str, value: str) -> Sequence[str]:
        """The sentences stating a fact's value; none for a value the bank does not word."""
        return (self.situations.get(fact) or {}).get(value) or ()

    def topic(self, topic: str, queue_key: str) -> Mapping[str, Any]:
        """The topic's phrasing, or the queue's generic one for topics without an entry."""
        return self.topics.get(topic) or self.queue(queue_key)["topic"]

    def money(self, cents: int) -> str:
        euros = f"{cents // 100:,}".replace(",", self._thousands_mark)
        return self._money.format(amount=f"{euros}{self._decimal_mark}{cents % 100:02d}")

    def round_money(self, euros: int) -> str:
        """A sum people round: a budget, a loss ("€25,000")."""
        return self._money.format(amount=f"{euros:,}".replace(",", self._thousands_mark))

    def date(self, day: int, month: int) -> str:
        return self._date.format(day=day, month=self.months[month % len(self.months)])

    def time(self, hour: int, minute: int) -> str:
        return self._time.format(hour=hour, minute=f"{minute:02d}")


def load_phrase_books(tables: Tables) -> dict[str, PhraseBook]:
    """Every language's phrase book, after checking the banks cover the tables' labels."""
    if not tables.phrases:
        raise TablesError(
            f"{tables.directory / OFFLINE_DIR}: no phrase banks (<language>.yaml); "
            "the offline provider needs at least one"
        )
    for language, data in tables.phrases.items():
        path = tables.directory / OFFLINE_DIR / f"{language.lower()}.yaml"
        _check_sections(tables, data, path)
        for keys, text in _strings(data, ()):
            allowed = _allowed_placeholders(keys)
            for name in _placeholders(text):
                if name not in allowed:
                    raise TablesError(
                        f"{path}: {'.'.join(keys)}: unknown placeholder {name!r}; "
                        f"allowed here: {', '.join(sorted(allowed))}"
                    )
    return {language: PhraseBook(data) for language, data in tables.phrases.items()}


def _allowed_placeholders(keys: tuple[str, ...]) -> frozenset[str]:
    if "titles" in keys:
        return TITLE_PLACEHOLDERS
    if keys[0] == "reply":
        return REPLY_PLACEHOLDERS
    if keys[0] in FORMAT_PLACEHOLDERS:
        return FORMAT_PLACEHOLDERS[keys[0]]
    return EMAIL_PLACEHOLDERS


def _placeholders(text: str) -> Iterator[str]:
    return (name for _, name, _, _ in _FORMATTER.parse(text) if name is not None)


def _strings(value: Any, keys: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], str]]:
    if isinstance(value, str):
        yield keys, value
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(item, (*keys, str(key)))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _strings(item, (*keys, str(index)))


def _check_sections(tables: Tables, data: Mapping[str, Any], path: Path) -> None:
    def need(keys: tuple[str, ...], kind: type, *, non_empty: bool = True) -> Any:
        value: Any = data
        for key in keys:
            value = value.get(key) if isinstance(value, Mapping) else None
        if not isinstance(value, kind) or (non_empty and not value):
            what = "a non-empty list" if kind is list else kind.__name__
            raise TablesError(f"{path}: {'.'.join(keys)}: missing or not {what}")
        return value

    for key in (
        "money",
        "decimal_mark",
        "thousands_mark",
        "date",
        "time",
        "reply_prefix",
        "forward_prefix",
    ):
        need((key,), str)
    for keys in (
        ("opening",),
        ("subjects",),
        ("calendar", "weekdays"),
        ("calendar", "months"),
        *(("fillers", name) for name in ("device", "system", "browser")),
        *(("report", name) for name in ("intro", "attachment")),
        ("forward", "note"),
    ):
        need(keys, list)
    for key in REPORT_LABELS:
        need(("report", key), str)
    for key in ("header", "from", "sent", "subject"):
        need(("forward", key), str)
    for fact, choices in tables.situations.values.items():
        for choice in choices:
            if choice.value in (data.get("situations") or {}).get(fact, {}):
                need(("situations", fact, choice.value), list)
    for key in ("greeting", "thanks", "steps_intro", "closing", "signoff"):
        need(("reply", key), list)
    for type_key in set(tables.type_phrasing.values()):
        need(("types", type_key, "fault"), bool, non_empty=False)
        need(("reply", "ack", type_key), list)
    for queue_key in set(tables.queue_phrasing.values()):
        need(("queues", queue_key, "team"), str)
        need(("queues", queue_key, "reference"), list)
        need(("queues", queue_key, "topic", "titles"), list)
        need(("queues", queue_key, "topic", "issue"), list)
        for slot in ("detail", "symptom", "tried"):
            need(("queues", queue_key, slot), list)
        need(("reply", "queues", queue_key, "signature"), str)
        need(("reply", "queues", queue_key, "steps"), list)
        need(("reply", "queues", queue_key, "request_steps"), list)
    for tone_key in set(tables.tone_phrasing.values()):
        register = need(("tones", tone_key, "register"), str)
        need(("tones", tone_key, "closing"), list)
        need(("tones", tone_key, "remark"), list, non_empty=False)
        need(("registers", register, "greeting"), list)
        need(("registers", register, "signoff"), list)
    for level in PRIORITY_LEVELS:
        need(("reply", "expectation", level), list)
    if "informal" in data["reply"]:  # optional: the informal reply (config styles)
        for key in ("greeting", "thanks", "steps_intro", "steps", "request_steps", "closing"):
            need(("reply", "informal", key), list)
        need(("reply", "informal", "signoff"), list)
        for kind in ("fault", "request"):
            need(("reply", "informal", "ack", kind), list)
        for level in PRIORITY_LEVELS:
            need(("reply", "informal", "expectation", level), list)
    for topic, entry in (data.get("topics") or {}).items():
        need(("topics", topic, "titles"), list)
        need(("topics", topic, "issue"), list)
        if "details" in entry:
            need(("topics", topic, "details"), list)
