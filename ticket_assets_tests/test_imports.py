"""Import time: what each entry point loads. Heavy libraries are imported where they are
first needed, so `--help` and a config error answer at once, and loading the Dagster code
location does not pay for litellm, the language detector or MinHash."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

# Libraries that take from a tenth of a second to several seconds to import.
HEAVY = (
    "dagster",
    "pandas",
    "pyarrow",
    "duckdb",
    "matplotlib",
    "litellm",
    "openai",
    "aiohttp",
    "lingua",
    "datasketch",
    "psycopg2",  # the shared LLM cache's driver, on its first use
    "sklearn",  # the learnability check's classifier, when it trains
)
# What loading the code location (`ticket_assets.definitions`) may import of them.
DEFINITIONS_MAY_IMPORT = {"dagster", "pandas", "pyarrow", "duckdb", "matplotlib"}


def _heavy_modules_after(code: str) -> set[str]:
    script = (
        f"import json, sys\n{code}\n"
        f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("argv", [["--help"], ["run", "--help"], ["--rows", "0"]])
def test_help_and_config_errors_import_no_heavy_library(argv: list[str]) -> None:
    code = (
        "from ticket_assets.cli import main\n"
        f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass"
    )
    assert _heavy_modules_after(code) == set()


def test_the_code_location_imports_no_llm_or_text_library() -> None:
    imported = _heavy_modules_after("import ticket_assets.definitions")
    assert imported <= DEFINITIONS_MAY_IMPORT, imported - DEFINITIONS_MAY_IMPORT
