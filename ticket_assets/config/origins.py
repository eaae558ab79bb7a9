"""Where each setting came from (a flag, an environment variable, `file:line:column`), so
that an error found after loading names it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field

import yaml
from pydantic import ValidationError


@dataclass(frozen=True)
class SettingOrigins:
    """Where each setting came from, so that an error names the flag that set it, or the
    line and column of its value in the config file, not only the file."""

    source: str  # the config file, as the user knows it
    document: yaml.Node | None = None  # the parsed file: lines and columns
    flags: Mapping[str, str] = dataclass_field(default_factory=dict)  # setting -> its flag
    overridden: frozenset[str] = frozenset()  # top-level keys the overrides set
    mode: str = ""
    profile_keys: frozenset[str] = frozenset()  # top-level keys the mode's profile sets
    model_flags: Mapping[str, str] = dataclass_field(default_factory=dict)  # --model, --api-base
    settings: frozenset[str] = frozenset()  # top-level setting names (RunConfig's fields)

    def line(self, loc: tuple[str | int, ...], message: str) -> str:
        """One error line: `--rows: ...`, or `file:line:column: key.path: ...`."""
        path = loc or self._leading_key(message)
        location = ".".join(str(part) for part in loc)
        if path and path[0] == "models" and path[-1] in self.model_flags:  # every model's
            where = self.model_flags[str(path[-1])]
        elif path and path[0] in self.flags:  # the flag names the setting
            where, location = self.flags[str(path[0])], ".".join(str(p) for p in loc[1:])
        elif path and path[0] in self.overridden:  # set by a caller without a flag
            where = "overrides"
        else:
            where = self.position(path)
        return f"{where}: {location}: {message}" if location else f"{where}: {message}"

    def position(self, path: tuple[str | int, ...]) -> str:
        """`file:line:column` of the value at `path` (the mode's profile wins), or the file."""
        if path and path[0] in self.profile_keys:
            path = ("modes", self.mode, *path)
        node = _deepest_node(self.document, path)
        if node is None:
            return self.source
        return f"{self.source}:{node.start_mark.line + 1}:{node.start_mark.column + 1}"

    def _leading_key(self, message: str) -> tuple[str, ...]:
        """Model-level checks start their message with the setting they are about."""
        key = message.split(":", 1)[0]
        return (key,) if key in self.settings else ()


def _deepest_node(document: yaml.Node | None, path: tuple[str | int, ...]) -> yaml.Node | None:
    """The node of `path` in the parsed file, or of its deepest ancestor found there."""
    found = None
    node = document
    for part in path:
        if isinstance(node, yaml.MappingNode):
            node = next((value for key, value in node.value if key.value == str(part)), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            break
        found = node
    return found


def format_validation_error(error: ValidationError, origins: SettingOrigins) -> str:
    lines = [
        origins.line(item["loc"], item["msg"].removeprefix("Value error, "))
        for item in error.errors()
    ]
    return "\n".join(lines)
