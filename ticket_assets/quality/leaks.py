"""Leak check: text fields must not carry what a model or template left behind, nor
anything that looks like a real person's contact details.

- placeholders: {x}, {{x}}, <name>, [NAME], [Your Name];
- JSON ({"key": ...) or escaped newlines (\\n) from an answer that was not parsed;
- markdown code fences (``` or ~~~);
- e-mail addresses outside the reserved example domains (example.com, *.test, ...);
- phone numbers outside the ranges reserved for fiction (555-01xx in North America, Ofcom's
  drama ranges in the UK, ARCEP's in France). Order, invoice and customer numbers are not
  phone numbers: a phone number starts with +, 00 or a trunk 0, or has the North American
  3-3-4 shape, and has 8 to 15 digits.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

from ticket_assets.config import LeaksQualityConfig
from ticket_assets.quality.result import SAMPLE_ROWS, CheckResult, snippet

TEXT_FIELDS = ("subject", "body", "first_response")

PATTERNS: dict[str, re.Pattern[str]] = {
    "placeholder": re.compile(
        r"\{\{?\s*[A-Za-z_][\w. ]{0,40}\}\}?"
        r"|<[A-Za-z_][\w -]{0,40}>"
        r"|\[[A-Za-z][\w -]{0,40}\]"
    ),
    "json": re.compile(r"""[{\[,]\s*"[A-Za-z_]\w*"\s*:|\\n|\\\""""),
    "markdown_fence": re.compile(r"```|~~~"),
}
_EMAIL = re.compile(r"[\w.+-]+@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+)")
_PHONE = re.compile(
    r"(?<![\w+/-])"
    r"(?:(?:\+|00)[1-9][\d\s./()-]{6,20}\d"  # international
    r"|\(?0\d{1,5}\)?[\s/-]\d[\d\s/-]{4,14}\d"  # national, with a trunk 0
    r"|\(?[2-9]\d{2}\)?[\s.-]\d{3}[\s.-]\d{4})"  # North American
    r"(?![\w-])"
)
# Digits of numbers reserved for fiction, national form (country code replaced by 0 / 1).
_FICTIONAL_PHONES = re.compile(
    r"1?\d{3}55501\d{2}"  # North America: 555-0100 to 555-0199
    r"|0(?:1632960|2079460|1134960|1144960|1154960|1164960|1174960|1184960|1214960"
    r"|1314960|1414960|1514960|1614960|1914960|7700900)\d{3}"  # UK (Ofcom)
    r"|0(?:19900|26191|35301|46571|53649|63998)\d{4}"  # France (ARCEP)
)
_COUNTRY_PREFIXES = {"44": "0", "33": "0", "1": "1"}


def _national(number: str) -> str:
    """The digits of a phone number with an international prefix turned into a national one."""
    digits = re.sub(r"\D", "", number)
    if number.lstrip().startswith(("+", "00")):
        digits = digits.removeprefix("00") if number.lstrip().startswith("00") else digits
        for code, trunk in _COUNTRY_PREFIXES.items():
            if digits.startswith(code):
                return trunk + digits[len(code) :]
    return digits


def _allowed_domain(domain: str, allowed: Sequence[str]) -> bool:
    domain = domain.lower().rstrip(".")
    return any(domain == name or domain.endswith("." + name) for name in allowed)


def find_leaks(text: str, allowed_domains: Sequence[str]) -> list[tuple[str, str]]:
    """(kind, matched text) for every leak in `text`."""
    found = [
        (kind, m.group(0)) for kind, pattern in PATTERNS.items() for m in pattern.finditer(text)
    ]
    for match in _EMAIL.finditer(text):
        if not _allowed_domain(match.group(1), allowed_domains):
            found.append(("email", match.group(0)))
    for match in _PHONE.finditer(text):
        digits = re.sub(r"\D", "", match.group(0))
        if 8 <= len(digits) <= 15 and not _FICTIONAL_PHONES.fullmatch(_national(match.group(0))):
            found.append(("phone", match.group(0).strip()))
    return found


def check_leaks(frame: pd.DataFrame, config: LeaksQualityConfig) -> CheckResult:
    leaks = []
    for name in (field for field in TEXT_FIELDS if field in frame):
        for ticket_id, text in zip(frame["ticket_id"], frame[name], strict=True):
            for kind, matched in find_leaks(str(text), config.allowed_email_domains):
                leaks.append(
                    {"ticket_id": ticket_id, "field": name, "kind": kind, "match": snippet(matched)}
                )
    table = pd.DataFrame.from_records(leaks, columns=["ticket_id", "field", "kind", "match"])
    flagged = tuple(dict.fromkeys(table["ticket_id"]))
    by_kind = table["kind"].value_counts()
    figures: dict[str, float | int] = {"rows": len(frame), "leaking_rows": len(flagged)}
    figures.update({f"{kind}_leaks": int(count) for kind, count in by_kind.items()})
    kinds = ", ".join(f"{count} {kind}" for kind, count in by_kind.items()) or "none"
    return CheckResult(
        passed=not leaks,
        summary=(
            f"{len(flagged)} of {len(frame)} rows leak placeholders, JSON, markdown fences or "
            f"real-looking contact details ({kinds})."
        ),
        headline=f"{len(flagged)} rows with leaks ({kinds})",
        figures=figures,
        flagged=flagged,
        samples=table.head(SAMPLE_ROWS),
    )
