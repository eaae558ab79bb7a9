"""The package reads from its folder tree: layers import only downward (import-linter's
contract in pyproject.toml, run by `make lint`), no two modules import each other in a cycle
(function-level imports counted, `if TYPE_CHECKING:` ones not), and no file is too long."""

from __future__ import annotations

import graphlib
from pathlib import Path

import grimp

PACKAGE = Path(__file__).resolve().parent.parent / "ticket_assets"
MAX_LINES = 400


def test_no_two_modules_import_each_other_in_a_cycle() -> None:
    graph = grimp.build_graph("ticket_assets", exclude_type_checking_imports=True)
    imports = {module: graph.find_modules_directly_imported_by(module) for module in graph.modules}
    try:
        graphlib.TopologicalSorter(imports).prepare()
    except graphlib.CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None


def test_no_file_is_over_400_lines() -> None:
    long = {
        str(path.relative_to(PACKAGE)): lines
        for path in PACKAGE.rglob("*.py")
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"
