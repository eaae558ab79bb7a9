"""The licenses of what `pip install ticket_assets` installs, and whether each lets us
distribute ticket_assets under LGPL-3.0-or-later.

Read from the installed distributions' metadata (License-Expression, else the License field,
else the License classifiers), for the runtime dependency closure of ticket_assets (no dev
tools: they are not distributed). Compatible: permissive licenses (MIT, BSD, Apache-2.0, ISC,
PSF, Zlib, CC0, ...) and weak copyleft (MPL-2.0, LGPL). Anything else (GPL, AGPL, SSPL, a
proprietary or unknown license) is listed as not compatible and fails the test.

`python -m ticket_assets_tests.licenses` prints docs/licenses.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib.metadata import Distribution, distribution

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PROJECT = "ticket_assets"
PROJECT_LICENSE = "LGPL-3.0-or-later"

# SPDX identifiers (and families, by prefix) we may combine with LGPL-3.0-or-later code.
COMPATIBLE = {
    "0BSD",
    "Apache-2.0",
    "BSD",
    "CC0-1.0",
    "CNRI-Python",
    "HPND",
    "ISC",
    "MIT",
    "MIT-0",
    "MIT-CMU",
    "MPL-2.0",
    "PSF-2.0",
    "Python-2.0",
    "Unlicense",
    "Zlib",
}
COMPATIBLE_PREFIXES = ("BSD-", "LGPL-")
# What metadata says instead of an SPDX identifier, as seen in our dependencies.
NAMES = {
    "apache 2.0": "Apache-2.0",
    "apache license 2.0": "Apache-2.0",
    "apache license, version 2.0": "Apache-2.0",
    "apache license version 2.0": "Apache-2.0",
    "apache software license": "Apache-2.0",
    "bsd": "BSD",
    "bsd license": "BSD",
    "bsd 3-clause license": "BSD-3-Clause",
    "3-clause bsd license": "BSD-3-Clause",
    "mit license": "MIT",
    "the mit license (mit)": "MIT",
    "mit": "MIT",
    "python software foundation license": "PSF-2.0",
    "mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
    "lgpl with exceptions": "LGPL-3.0-or-later WITH exceptions",
    "gnu library or lesser general public license (lgpl)": "LGPL",
    "dual license": "BSD-3-Clause OR Apache-2.0",
}


@dataclass(frozen=True)
class DependencyLicense:
    name: str
    license: str  # an SPDX expression where the metadata allows, else what it says
    source: str  # where it was read: License-Expression, License, classifiers
    compatible: bool


def runtime_closure(project: str = PROJECT) -> list[Distribution]:
    """Every distribution `project` needs at run time, itself excluded, by name."""
    seen: dict[str, Distribution] = {}
    pending = [project]
    while pending:
        for requirement in distribution(pending.pop()).requires or []:
            parsed = Requirement(requirement)
            if parsed.marker is not None and not parsed.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(parsed.name)
            if name not in seen:
                seen[name] = distribution(parsed.name)
                pending.append(parsed.name)
    return [seen[name] for name in sorted(seen)]


def license_of(dist: Distribution) -> tuple[str, str]:
    """The distribution's license and which metadata field says so."""
    metadata = dist.metadata
    expression = metadata.get("License-Expression")
    if expression:
        return expression.strip(), "License-Expression"
    text = (metadata.get("License") or "").strip()
    first_line = text.splitlines()[0].strip() if text else ""
    if first_line.lower() in NAMES:
        return NAMES[first_line.lower()], "License"
    classifiers = [
        c.split("::")[-1].strip()
        for c in metadata.get_all("Classifier") or []
        if c.startswith("License ::") and c.split("::")[-1].strip() != "OSI Approved"
    ]
    if classifiers:
        return " OR ".join(NAMES.get(c.lower(), c) for c in classifiers), "classifiers"
    return first_line or "unknown", "License"


def is_compatible(expression: str) -> bool:
    """Whether an SPDX-like expression allows distribution beside LGPL-3.0-or-later code:
    every term of an AND, and one term of an OR (left to right, no precedence needed for
    the expressions our dependencies use)."""
    expression = re.sub(r"\s+WITH\s+\S+", "", expression)  # an exception only adds rights
    return any(
        all(_known_compatible(term) for term in re.split(r"\s+AND\s+", option))
        for option in re.split(r"\s+OR\s+", expression)
    )


def _known_compatible(term: str) -> bool:
    term = term.strip("() ")
    return term in COMPATIBLE or term.startswith(COMPATIBLE_PREFIXES)


def dependency_licenses() -> list[DependencyLicense]:
    rows = []
    for dist in runtime_closure():
        expression, source = license_of(dist)
        rows.append(
            DependencyLicense(dist.metadata["Name"], expression, source, is_compatible(expression))
        )
    return rows


def markdown() -> str:
    rows = dependency_licenses()
    incompatible = [row for row in rows if not row.compatible]
    lines = [
        "# Licenses of the dependencies",
        "",
        f"ticket_assets is distributed under {PROJECT_LICENSE} (`LICENSE`, with the GPL-3.0",
        "text it builds on in `COPYING`). It bundles none of its dependencies: `pip install`",
        "fetches them, each under its own license. This table lists the runtime dependencies",
        "(dev tools are not distributed) as their installed metadata states them, and whether",
        f"each may be combined with {PROJECT_LICENSE} code: permissive licenses and weak",
        "copyleft (MPL-2.0, LGPL) may; GPL, AGPL, SSPL, proprietary or unknown ones may not.",
        "Generated by `python -m ticket_assets_tests.licenses`; `test_licenses.py` fails",
        "when a dependency is not compatible or this file is out of date.",
        "",
        f"{len(rows)} runtime dependencies; not compatible: "
        + (", ".join(row.name for row in incompatible) if incompatible else "none")
        + ".",
        "",
        "Notes: litellm's repository keeps an `enterprise/` directory under a commercial",
        "license; the wheel we install has no such directory (the test checks it), only the",
        "MIT-licensed code. psycopg2-binary is LGPL-3.0-or-later with an exception for",
        "linking OpenSSL.",
        "",
        "| dependency | license | from | compatible |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {row.name} | {row.license} | {row.source} | {'yes' if row.compatible else 'NO'} |"
        for row in rows
    ]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
