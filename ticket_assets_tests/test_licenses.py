"""The project's license is in the repository and the package metadata, and every runtime
dependency's license may be combined with it (ticket_assets_tests/licenses.py)."""

from __future__ import annotations

import tomllib
from importlib.metadata import distribution
from pathlib import Path

import pytest

from ticket_assets_tests.licenses import (
    PROJECT_LICENSE,
    dependency_licenses,
    is_compatible,
    markdown,
)

ROOT = Path(__file__).resolve().parent.parent


def test_the_license_texts_and_the_spdx_expression_agree() -> None:
    assert "GNU LESSER GENERAL PUBLIC LICENSE" in (ROOT / "LICENSE").read_text()[:200]
    assert "Version 3, 29 June 2007" in (ROOT / "LICENSE").read_text()[:200]
    assert "GNU GENERAL PUBLIC LICENSE" in (ROOT / "COPYING").read_text()[:200]
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == PROJECT_LICENSE
    assert set(project["license-files"]) == {"LICENSE", "COPYING"}


def test_every_runtime_dependency_is_compatible() -> None:
    rows = dependency_licenses()
    assert len(rows) > 50  # the whole closure, not only the direct dependencies
    names = {row.name.lower() for row in rows}
    assert {"dagster", "duckdb", "litellm", "pandas"} <= names
    assert not {"pytest", "ruff", "moto", "playwright"} & names  # dev tools: not shipped
    assert [row for row in rows if not row.compatible] == []


def test_litellm_ships_no_enterprise_code() -> None:
    """litellm's repository keeps enterprise/ under a commercial license."""
    litellm = Path(str(distribution("litellm").locate_file("litellm")))
    assert litellm.is_dir() and not (litellm / "enterprise").exists()


@pytest.mark.parametrize(
    ("expression", "compatible"),
    [
        ("MIT", True),
        ("Apache-2.0 AND MIT", True),
        ("BSD-3-Clause AND 0BSD AND MIT AND Zlib AND CC0-1.0", True),
        ("MPL-2.0 AND MIT", True),
        ("LGPL-3.0-or-later WITH exceptions", True),
        ("GPL-3.0-only OR MIT", True),
        ("GPL-2.0-only", False),
        ("AGPL-3.0-or-later", False),
        ("MIT AND SSPL-1.0", False),
        ("LicenseRef-Proprietary", False),
        ("unknown", False),
    ],
)
def test_what_counts_as_compatible(expression: str, compatible: bool) -> None:
    assert is_compatible(expression) is compatible


def test_the_documented_list_is_current() -> None:
    documented = (ROOT / "docs" / "licenses.md").read_text(encoding="utf-8")
    assert documented == markdown(), (
        "docs/licenses.md is out of date: python -m ticket_assets_tests.licenses > docs/licenses.md"
    )
