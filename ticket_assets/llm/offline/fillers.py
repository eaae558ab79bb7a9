"""The values an e-mail's placeholders take: numbers, times, dates, devices, a colleague's name.

They are drawn once per e-mail, independent of language (a weekday is an index, a time a pair
of numbers), and written out by each language's phrase book, so a translation states the same
facts and a paraphrase keeps them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from ticket_assets.llm.offline.bank import PhraseBook

BUILDINGS = "ABCDEFGH"


@dataclass(frozen=True)
class Fillers:
    numbers: tuple[tuple[str, str], ...]  # placeholder -> text, the same in every language
    cents: int  # an invoice's or a payment's amount, to the cent
    budget: int  # a round sum in euros
    hour: int
    minute: int
    due_hour: int
    due_minute: int
    weekday: int
    day: int
    month: int
    due_day: int
    due_month: int
    device: int
    system: int
    browser: int
    colleague: int

    def values(self, book: PhraseBook, colleagues: Sequence[str]) -> dict[str, str]:
        fillers = book.fillers
        return {
            **dict(self.numbers),
            "amount": book.money(self.cents),
            "budget": book.round_money(self.budget),
            "time": book.time(self.hour, self.minute),
            "due_time": book.time(self.due_hour, self.due_minute),
            "weekday": book.weekdays[self.weekday % len(book.weekdays)],
            "date": book.date(self.day, self.month),
            "due_date": book.date(self.due_day, self.due_month),
            "device": fillers["device"][self.device % len(fillers["device"])],
            "system": fillers["system"][self.system % len(fillers["system"])],
            "browser": fillers["browser"][self.browser % len(fillers["browser"])],
            "colleague": colleagues[self.colleague % len(colleagues)],
        }


def below(rng: random.Random, count: int) -> int:
    # random() is a single C call; randrange/randint cost several Python frames per draw.
    return int(rng.random() * count)


def between(rng: random.Random, low: int, high: int) -> int:
    """An integer in [low, high]."""
    return low + int(rng.random() * (high - low + 1))


def draw_fillers(rng: random.Random) -> Fillers:
    numbers = {
        "days": str(between(rng, 2, 9)),
        "weeks": str(between(rng, 2, 6)),
        "users": str(between(rng, 3, 60)),
        "years": str(between(rng, 2, 12)),
        "count": str(between(rng, 2, 9)),
        "minutes": str(5 * between(rng, 1, 9)),
        "building": BUILDINGS[below(rng, len(BUILDINGS))],
        "order_number": str(between(rng, 10**8, 10**9 - 1)),
        "invoice_number": f"{between(rng, 2023, 2025)}-{below(rng, 10**5):05d}",
        "customer_number": str(between(rng, 10**6, 10**7 - 1)),
        "employee_number": str(between(rng, 10**4, 10**5 - 1)),
        "error_code": f"0x8007{below(rng, 16**4):04X}",
        "version": f"{between(rng, 2, 12)}.{below(rng, 10)}.{below(rng, 21)}",
        "asset_tag": f"IT-{below(rng, 10**5):05d}",
    }
    # Half the times are on the quarter hour, as people round them; the rest to the minute.
    minute = 15 * below(rng, 4) if rng.random() < 0.5 else below(rng, 60)
    return Fillers(
        numbers=tuple(numbers.items()),
        cents=between(rng, 1990, 89900),
        budget=1000 * between(rng, 2, 60),
        hour=between(rng, 7, 18),
        minute=minute,
        due_hour=between(rng, 9, 17),
        due_minute=15 * below(rng, 4),
        weekday=below(rng, 5),
        day=between(rng, 1, 28),
        month=below(rng, 12),
        due_day=between(rng, 1, 28),
        due_month=below(rng, 12),
        device=below(rng, 64),
        system=below(rng, 64),
        browser=below(rng, 64),
        colleague=below(rng, 1024),
    )
