"""Prompt-defined nodes: a file in prompts/ that declares what a node reads and writes.

```yaml
description: Rates how urgent the ticket is for the customer's business.
reads: [subject, body, priority]
outputs:
  urgency: {type: enum, values: [Low, Medium, High, Critical]}
system: |
  You triage support tickets ...
user: |
  Priority: {{ priority }} ...
```

Listing such a file's name in `pipeline` makes it a node like the built-in ones: a partitioned
asset, pandera rules for its outputs, export columns. Its answers are validated into a pydantic
model built from the declared outputs (`answer_model`), so remote models get the same
structured-output path, repairs and validation as the built-in nodes; the offline provider
answers from the declared values (llm/offline/declared.py).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

import jinja2
import jinja2.meta
import yaml
from pydantic import BaseModel, Field, create_model

from ticket_assets.config import ConfigError
from ticket_assets.nodes.base import PLAN_COLUMNS, PromptNode, language_name
from ticket_assets.nodes.outputs import (
    BuiltAnswer,
    CleanText,
    vocabulary_choice,
    vocabulary_choices,
)
from ticket_assets.tables.fields import Vocabulary
from ticket_assets.tables.spec import (
    COLUMN_NAME,
    Choice,
    Choices,
    Integer,
    Output,
    Text,
    parse_outputs,
)
from ticket_assets.tables.vocabulary import VocabularyMatcher

if TYPE_CHECKING:
    from ticket_assets.nodes.context import NodeContext

# Variables every prompt-defined node's templates may use besides the columns they read.
EXTRA_VARIABLES = ("style", "language_name")
FILE_KEYS = ("description", "reads", "outputs", "system", "user")

# (column, output type, its vocabulary where it has one): what an answer model is built from.
Declaration = tuple[tuple[str, Output, Vocabulary | None], ...]


class DeclaredAnswer(BuiltAnswer):
    """Base of the answer models of prompt-defined nodes."""

    node: ClassVar[str] = ""
    declaration: ClassVar[Declaration] = ()


def _annotation(
    output: Output, vocabulary: Vocabulary | None, synonyms: tuple[tuple[str, str], ...]
) -> Any:
    if isinstance(output, Text):
        return Annotated[CleanText, Field(max_length=output.max_length)]
    if isinstance(output, Integer):
        return Annotated[int, Field(ge=output.minimum, le=output.maximum)]
    assert vocabulary is not None
    matcher = VocabularyMatcher(vocabulary.values, synonyms)
    if isinstance(output, Choice):
        return vocabulary_choice(matcher)
    return vocabulary_choices(matcher, output.min_items, output.max_items)


@functools.cache
def answer_model(
    node: str, declaration: Declaration, synonyms: tuple[tuple[str, str], ...]
) -> type[DeclaredAnswer]:
    """The pydantic model of a prompt-defined node's answer: one field per declared output.
    Enum and list answers are matched to their vocabulary as tags are (tables/vocabulary.py), with
    the `synonyms` (tables/tag_synonyms.csv) whose value is in it."""
    fields: dict[str, Any] = {
        column: (
            _annotation(output, vocabulary, synonyms),
            Field(description=output.description or None),
        )
        for column, output, vocabulary in declaration
    }
    title = "".join(part.title() for part in node.split("_")) + "Answer"
    model = create_model(title, __base__=DeclaredAnswer, **fields)
    model.node = node
    model.declaration = declaration
    model.built_by = (answer_model, (node, declaration, synonyms))
    return model


class DeclaredNode(PromptNode):
    """A node whose reads, outputs and templates all come from its prompt file."""

    def __init__(
        self, name: str, description: str, reads: tuple[str, ...], outputs: Mapping[str, Output]
    ) -> None:
        self.name = name
        self.description = description
        self.reads = reads
        self.writes = tuple(outputs)
        self.outputs = outputs

    def answer_model(self, ctx: NodeContext) -> type[BaseModel]:
        declaration = tuple(
            (
                column,
                output,
                output.values.resolve(ctx.tables) if isinstance(output, Choice | Choices) else None,
            )
            for column, output in self.outputs.items()
        )
        return answer_model(self.name, declaration, tuple(ctx.tables.tag_synonyms.items()))

    def extra_variables(self, row: Mapping[str, Any], ctx: NodeContext) -> dict[str, Any]:
        return {"language_name": language_name(row["language"])}


def load_declared_node(path: Path) -> DeclaredNode:
    """The node `prompts/<name>.yaml` declares; ConfigError naming the file and key if wrong."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ConfigError(f"{path}: cannot read prompt file: {error.strerror}") from None
    return _declared_node(str(path), path.stem, text)


@functools.cache
def _declared_node(path: str, name: str, text: str) -> DeclaredNode:
    try:
        spec = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from None
    if not isinstance(spec, Mapping) or not {"reads", "outputs", "system", "user"} <= set(spec):
        raise ConfigError(
            f"{path}: a prompt-defined node needs keys reads, outputs, system and user"
        )
    unknown = [key for key in spec if key not in FILE_KEYS]
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r}; allowed: {', '.join(FILE_KEYS)}")
    reads = spec["reads"]
    if not isinstance(reads, list) or not all(
        isinstance(c, str) and COLUMN_NAME.fullmatch(c) for c in reads
    ):
        raise ConfigError(f"{path}: reads: expected a list of column names")
    outputs = parse_outputs(spec["outputs"], path)
    clash = [column for column in outputs if column in PLAN_COLUMNS]
    if clash:
        raise ConfigError(f"{path}: outputs.{clash[0]}: the plan writes this column; rename it")
    used = _template_variables(path, spec["system"], spec["user"])
    unread = sorted(used - {*reads, *PLAN_COLUMNS, *EXTRA_VARIABLES})
    if unread:
        raise ConfigError(
            f"{path}: the templates use {', '.join(unread)}, which reads does not list "
            "(list every column a node uses, so the pipeline order can be checked)"
        )
    description = str(spec.get("description") or f"Prompt-defined node ({Path(path).name}).")
    return DeclaredNode(name, description, tuple(reads), outputs)


def _template_variables(path: str, *templates: Any) -> set[str]:
    environment = jinja2.Environment()
    used: set[str] = set()
    for template in templates:
        if not isinstance(template, str):
            raise ConfigError(f"{path}: system and user must be texts (Jinja templates)")
        try:
            used |= jinja2.meta.find_undeclared_variables(environment.parse(template))
        except jinja2.TemplateSyntaxError as error:
            raise ConfigError(f"{path}: line {error.lineno}: {error.message}") from None
    return used
