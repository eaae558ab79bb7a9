"""Tags and enum answers the model cannot get wrong: the vocabulary travels in the JSON schema
(`enum`, item counts), answers are matched to it tolerantly (case, spacing, number, synonyms),
unknown values are dropped while enough known ones remain, and nothing else reaches a row."""

from __future__ import annotations

import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from ticket_assets.config import build_config
from ticket_assets.llm.client import LLMClient
from ticket_assets.nodes import NODES, NodeContext
from ticket_assets.nodes.declared import answer_model
from ticket_assets.nodes.outputs import tags_answer_model
from ticket_assets.plan import plan_frame
from ticket_assets.tables import Tables, TablesError
from ticket_assets.tables.fields import Vocabulary
from ticket_assets.tables.loaded import tables_for
from ticket_assets.tables.spec import parse_outputs
from ticket_assets.tables.vocabulary import VocabularyMatcher
from ticket_assets_tests.fake_llm_server import FakeLLMState, fake_llm_server
from ticket_assets_tests.test_llm_remote import CANARY_KEY, exported, ledger, run, write_config

ROOT = Path(__file__).resolve().parent.parent

VOCABULARY = ("Printer", "Network", "Outage", "Bug", "Follow-up", "Email", "Policy", "VPN", "IT")
SYNONYMS = (("network issue", "Network"), ("defect", "Bug"), ("dashboard", "Reporting"))
TAGS = tags_answer_model(VOCABULARY, SYNONYMS)


def _tags(answer: list[str]) -> list[str]:
    tags: list[str] = TAGS.model_validate({"tags": answer}).model_dump()["tags"]
    return tags


def _error(model: type[BaseModel], answer: dict[str, Any]) -> str:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(answer)
    [error] = caught.value.errors()
    return str(error["msg"])


@pytest.mark.parametrize(
    ("answer", "canonical"),
    [
        ("printer", "Printer"),  # case
        ("  VPN ", "VPN"),  # surrounding whitespace
        ("Follow   up", "Follow-up"),  # inner whitespace, hyphen vs space
        ("follow_up", "Follow-up"),  # underscore
        ("Printers", "Printer"),  # plural to singular
        ("Outages", "Outage"),
        ("policies", "Policy"),
        ("emails", "Email"),
        ("Network Issues", "Network"),  # a synonym, in the plural
        ("DEFECT", "Bug"),
        ("it", "IT"),
    ],
)
def test_answers_match_the_vocabulary_ignoring_case_spacing_number_and_synonyms(
    answer: str, canonical: str
) -> None:
    assert VocabularyMatcher(VOCABULARY, SYNONYMS).canonical(answer) == canonical


def test_unknown_answers_and_synonyms_of_other_vocabularies_match_nothing() -> None:
    matcher = VocabularyMatcher(VOCABULARY, SYNONYMS)
    # "dashboard" names Reporting, which this vocabulary lacks.
    assert [matcher.canonical(a) for a in ("Unicorns", "Dashboard", "", "   ")] == [None] * 4


def test_unknown_tags_are_dropped_while_four_valid_remain_and_duplicates_collapse() -> None:
    answer = ["printers", "Unicorns", "PRINTER", "network issues", "outage", "Dashboard", "bug"]
    assert _tags(answer) == ["Printer", "Network", "Outage", "Bug"]


def test_more_than_eight_valid_tags_keep_the_first_eight() -> None:
    assert _tags(list(reversed(VOCABULARY))) == list(reversed(VOCABULARY))[:8]


def test_fewer_than_four_valid_tags_are_rejected_naming_the_unknown_ones() -> None:
    message = _error(TAGS, {"tags": ["printers", "Printer", "Unicorns", "outages", "Gremlins"]})
    assert message == (
        "Value error, has 2 valid values ('Printer', 'Outage'), needs 4-8 distinct ones; "
        "not in the vocabulary: 'Unicorns', 'Gremlins'"
    )


def test_the_tags_schema_carries_the_vocabulary_as_enum_and_the_counts() -> None:
    schema = TAGS.model_json_schema()
    assert schema["title"] == "TagsAnswer"  # the schema name the engine sends
    tags = schema["properties"]["tags"]
    assert tags["items"] == {"type": "string", "enum": list(VOCABULARY)}
    assert (tags["minItems"], tags["maxItems"]) == (4, 8)


def test_the_tagging_node_sends_the_tables_vocabulary_once_in_the_schema() -> None:
    config = build_config({"rows": 2, "batch_size": 2, "languages": ["EN"]})
    tables = tables_for(config)
    ctx = NodeContext(config, tables, LLMClient(config, tables))
    frame = plan_frame(config, [("EN", "b0000")], 1)
    for name in ("topic", "email_draft"):
        frame = NODES[name].run(frame, ctx)
    [(_, request), *_] = NODES["tagging"].requests(frame.to_dict("records"), ctx)
    schema = request.output_model.model_json_schema()
    assert schema["properties"]["tags"]["items"]["enum"] == list(tables.tag_vocabulary)
    assert request.output_model is tags_answer_model(
        tables.tag_vocabulary, tuple(tables.tag_synonyms.items())
    )
    system = request.messages[0]["content"]
    assert ", ".join(tables.tag_vocabulary[:3]) not in system  # the prompt leaves it to the schema


def test_a_tags_model_travels_to_a_worker_process_as_its_vocabulary() -> None:
    script = (
        "import pickle, sys\n"
        "model = pickle.load(sys.stdin.buffer)\n"
        "print(model.model_validate({'tags': ['printers', 'vpn', 'defect', 'outages']}).tags)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=pickle.dumps(TAGS),
        capture_output=True,
        check=True,
        cwd=ROOT,
    )
    assert done.stdout.decode().strip() == "['Printer', 'VPN', 'Bug', 'Outage']"


def test_a_declared_enum_and_list_are_normalised_and_schemad() -> None:
    outputs = parse_outputs(
        {
            "impact": {"type": "enum", "values": ["Minor", "Major"]},
            "systems": {"type": "list", "values": list(VOCABULARY), "min": 2, "max": 3},
        },
        "prompts/triage.yaml",
    )
    declaration = (
        ("impact", outputs["impact"], Vocabulary(("Minor", "Major"), (1.0, 1.0))),
        ("systems", outputs["systems"], Vocabulary(VOCABULARY, (1.0,) * len(VOCABULARY))),
    )
    model = answer_model("triage", declaration, SYNONYMS)
    answer = model.model_validate(
        {"impact": " major ", "systems": ["printers", "Unicorns", "network issues", "Printer"]}
    )
    assert answer.model_dump() == {"impact": "Major", "systems": ["Printer", "Network"]}
    assert _error(model, {"impact": "Huge", "systems": ["VPN", "IT"]}) == (
        "Value error, 'Huge' is not in the vocabulary (the schema's enum)"
    )
    assert "not in the vocabulary: 'Gremlins'" in _error(
        model, {"impact": "Minor", "systems": ["VPN", "Gremlins"]}
    )
    properties = model.model_json_schema()["properties"]
    assert properties["impact"]["enum"] == ["Minor", "Major"]
    systems = properties["systems"]
    assert systems["items"]["enum"] == list(VOCABULARY)
    assert (systems["minItems"], systems["maxItems"]) == (2, 3)


def test_the_shipped_synonyms_all_name_tags() -> None:
    tables = Tables.load(ROOT / "tables")
    assert 40 <= len(tables.tag_synonyms) <= 80
    assert set(tables.tag_synonyms.values()) <= set(tables.tag_vocabulary)


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (
            "printing,Printer\nnetwork stuff,Networking\n",
            "tag_synonyms.csv: line 3, column tag: 'Networking' is not a tag in tags.csv",
        ),
        (
            "printing,Printer\nE-mail,Email\n",
            "tag_synonyms.csv: line 3, column synonym: 'E-mail' already matches the tag 'Email'",
        ),
        (
            "sign in,Login\nSign-In,Account Access\n",
            "tag_synonyms.csv: line 3, column synonym: 'Sign-In' already matches the synonym "
            "on line 2",
        ),
    ],
    ids=["unknown_tag", "spelling_of_a_tag", "repeated_synonym"],
)
def test_a_bad_synonyms_table_is_one_line_naming_file_line_and_value(
    tmp_path: Path, rows: str, expected: str
) -> None:
    tables = shutil.copytree(ROOT / "tables", tmp_path / "tables")
    (tables / "tag_synonyms.csv").write_text(f"synonym,tag\n{rows}", encoding="utf-8")
    with pytest.raises(TablesError) as caught:
        Tables.load(tables)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_the_synonyms_table_is_optional(tmp_path: Path) -> None:
    tables = shutil.copytree(ROOT / "tables", tmp_path / "tables")
    (tables / "tag_synonyms.csv").unlink()
    assert Tables.load(tables).tag_synonyms == {}


def test_a_real_model_path_lands_only_canonical_tags(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Through litellm against the local server, whose every tagging answer is sloppy: wrong
    case, plurals, a synonym and two tags outside the vocabulary."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    monkeypatch.setenv("OPENAI_API_KEY", CANARY_KEY)
    sloppy = ["printers", "NETWORK", "Dashboard", "Gremlins", "outages", " bug ", "Unicorns"]
    state = FakeLLMState(fixed_answers={"TagsAnswer": {"tags": sloppy}})
    data = tmp_path / "data"
    with fake_llm_server(state) as (url, _):
        assert run(write_config(tmp_path, url), data, "--rows", "4", "--languages", "en") == 0
    tickets = exported(data)
    assert len(tickets) == 4
    expected = ["Printer", "Network", "Reporting", "Outage", "Bug"]
    assert all(list(tags) == expected for tags in tickets["tags"])
    tagging = ledger(data).query("node == 'tagging'")
    assert (tagging["attempt"] == 1).all()  # accepted as answered: no repair was needed
