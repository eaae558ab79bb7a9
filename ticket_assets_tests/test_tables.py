"""The randomization tables: defaults, conditional sampling, speed, and one-line load errors."""

from __future__ import annotations

import csv
import random
import shutil
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest

from ticket_assets.nodes.topic import SAMPLED_COLUMNS
from ticket_assets.tables import Tables, TablesError

TABLES_DIR = Path(__file__).resolve().parent.parent / "tables"
LANGUAGES = ("DE", "EN", "ES", "FR", "PT")
SAMPLE_KEYS = set(SAMPLED_COLUMNS)


@pytest.fixture(scope="module")
def tables() -> Tables:
    return Tables.load(TABLES_DIR)


@pytest.fixture(scope="module")
def samples(tables: Tables) -> list[dict[str, str]]:
    rng = random.Random(7)
    return [tables.sample_ticket(rng, LANGUAGES[i % 5]) for i in range(20_000)]


# --- defaults ---------------------------------------------------------------------------------


def test_default_taxonomy(tables: Tables) -> None:
    assert tables.types == ("Incident", "Request", "Problem", "Change")
    assert tables.priorities == ("Low", "Medium", "High")
    assert set(tables.queues) == {
        "Technical Support",
        "Product Support",
        "Customer Service",
        "IT Support",
        "Billing and Payments",
        "Service Outages and Maintenance",
        "Returns and Exchanges",
        "Sales and Pre-Sales",
        "Human Resources",
        "General Inquiry",
    }
    assert len(tables.tag_vocabulary) >= 250
    assert len(tables.products) >= 60
    assert len(tables.topics) >= 100
    assert len(tables.business_types) >= 10
    assert set(tables.languages) == set(LANGUAGES)
    assert set(tables.phrases) == set(LANGUAGES)
    per_queue = Counter(topic.queue for topic in tables.topics.values())
    assert min(per_queue[queue] for queue in tables.queues) >= 8


def test_every_topic_is_worded_in_every_language(tables: Tables) -> None:
    for language, bank in tables.phrases.items():
        missing = set(tables.topics) - set(bank["topics"])
        assert not missing, f"{language} lacks phrasing for {sorted(missing)[:3]}"


def test_every_queue_and_type_pair_with_weight_has_its_own_topic(tables: Tables) -> None:
    for type_ in tables.types:
        for queue in tables.queues:
            topics = [tables.topics[name] for name in tables.topics_for(queue, type_)]
            assert all(topic.weight_in(queue) > 0 for topic in topics)
            assert any(type_ in topic.types or not topic.types for topic in topics), (queue, type_)


def test_a_topic_belongs_to_other_queues_with_a_share_of_its_weight(tables: Tables) -> None:
    shared = [topic for topic in tables.topics.values() if topic.other_queues]
    assert len(shared) >= 20
    for topic in shared:
        for queue, share in topic.other_queues.items():
            assert topic.name in tables.topics_for(queue, (topic.types or tables.types)[0])
            assert 0 < topic.weight_in(queue) <= topic.weight_in(topic.queue) * share + 1e-9


# --- sampling ---------------------------------------------------------------------------------


def test_sample_has_exactly_the_documented_keys_and_allowed_values(
    tables: Tables, samples: list[dict[str, str]]
) -> None:
    for sample in samples[:2000]:
        assert set(sample) == SAMPLE_KEYS
        assert sample["type"] in tables.types
        assert sample["queue"] in tables.queues
        assert sample["priority"] in tables.priorities
        assert sample["business_type"] in tables.business_types
        assert sample["product"] in tables.products
        assert sample["persona"] in tables.personas
        assert sample["tone"] in tables.tones
        assert len(sample["customer_name"].split()) >= 2
        assert len(sample["agent_name"].split()) >= 2


def test_type_follows_its_weights(samples: list[dict[str, str]]) -> None:
    shares = Counter(sample["type"] for sample in samples)
    for type_, expected in {"Incident": 0.4, "Request": 0.3, "Problem": 0.2, "Change": 0.1}.items():
        assert shares[type_] / len(samples) == pytest.approx(expected, abs=0.02)


def test_queue_depends_on_type(samples: list[dict[str, str]]) -> None:
    def share(queue: str, type_: str) -> float:
        of_type = [sample for sample in samples if sample["type"] == type_]
        return sum(sample["queue"] == queue for sample in of_type) / len(of_type)

    assert share("Service Outages and Maintenance", "Incident") > 5 * share(
        "Service Outages and Maintenance", "Request"
    )
    assert share("Sales and Pre-Sales", "Request") > 5 * share("Sales and Pre-Sales", "Incident")


@pytest.mark.parametrize(
    ("queue", "expected"),
    [
        ("Technical Support", (0.1, 0.3, 0.6)),
        ("Service Outages and Maintenance", (0.1, 0.2, 0.7)),
        ("General Inquiry", (0.6, 0.3, 0.1)),
    ],
)
def test_priority_depends_on_queue(
    tables: Tables, queue: str, expected: tuple[float, float, float]
) -> None:
    rng = random.Random(3)
    drawn = Counter()
    while sum(drawn.values()) < 3000:
        sample = tables.sample_ticket(rng, "EN")
        if sample["queue"] == queue:
            drawn[sample["priority"]] += 1
    for priority, share in zip(("Low", "Medium", "High"), expected, strict=True):
        assert drawn[priority] / 3000 == pytest.approx(share, abs=0.04)


def test_products_fit_their_queue_and_business_type(
    tables: Tables, samples: list[dict[str, str]]
) -> None:
    own_business = 0
    for sample in samples:
        product = tables.products[sample["product"]]
        # Human Resources only ever sees HR software, returns only physical goods, ...
        if sample["queue"] == "Human Resources":
            assert product.kinds == ("hr",)
        if sample["queue"] == "Returns and Exchanges":
            assert "hardware" in product.kinds
        if sample["queue"] == "Service Outages and Maintenance":
            assert "service" in product.kinds
        own_business += not product.business_types or sample["business_type"] in (
            product.business_types
        )
    assert own_business / len(samples) > 0.9


def test_names_come_from_the_language(tables: Tables) -> None:
    rng = random.Random(1)
    german = {tables.sample_ticket(rng, "DE")["customer_name"] for _ in range(300)}
    portuguese = {tables.sample_ticket(rng, "pt")["customer_name"] for _ in range(300)}
    assert any("ü" in name or "ä" in name or "ö" in name for name in german)
    assert not german & portuguese
    with pytest.raises(TablesError, match="no names for language 'XX'"):
        tables.sample_ticket(rng, "XX")


def test_sampling_is_deterministic_for_a_seed(tables: Tables) -> None:
    def draw(seed: int) -> list[dict[str, str]]:
        rng = random.Random(seed)
        return [tables.sample_ticket(rng, "FR") for _ in range(200)]

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_sampling_is_fast(tables: Tables) -> None:
    rng = random.Random(0)
    start = time.perf_counter()
    for index in range(10_000):
        tables.sample_ticket(rng, LANGUAGES[index % 5])
    assert time.perf_counter() - start < 0.2


def test_topics_for_respects_type_and_rejects_unknown_queues(tables: Tables) -> None:
    requests = tables.topics_for("Billing and Payments", "Request")
    assert "Switch to annual billing" in requests
    assert "Unknown charge on credit card statement" not in requests
    with pytest.raises(TablesError, match="no topics for queue 'Nope'"):
        tables.topics_for("Nope", "Incident")


# --- load errors ------------------------------------------------------------------------------


def _broken(tmp_path: Path, edit: Callable[[Path], None]) -> Path:
    directory = tmp_path / "tables"
    shutil.copytree(TABLES_DIR, directory)
    edit(directory)
    return directory


def _replace(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, old
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _zero_column(path: Path, column: str) -> None:
    rows = list(csv.reader(path.open(encoding="utf-8")))
    index = rows[0].index(column)
    for row in rows[1:]:
        row[index] = "0"
    with path.open("w", encoding="utf-8", newline="") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


BROKEN_TABLES = {
    "missing file": (
        lambda d: (d / "types.csv").unlink(),
        ["types.csv", "file not found", "expected columns: type, weight"],
    ),
    "missing column": (
        lambda d: _replace(d / "business_types.csv", "business_type,weight", "business_type,w"),
        ["business_types.csv", "missing column 'weight'"],
    ),
    "unknown column": (
        lambda d: _replace(d / "personas.csv", "persona,weight,queues", "persona,weight,queue"),
        ["personas.csv", "unknown column 'queue'", "allowed:"],
    ),
    "unknown queue in a conditional": (
        lambda d: _replace(d / "priorities.csv", "General Inquiry,60", "General Inquiries,60"),
        ["priorities.csv", "line 11, column queue", "'General Inquiries' is not a queue"],
    ),
    "negative weight": (
        lambda d: _replace(d / "types.csv", "Problem,2,", "Problem,-2,"),
        ["types.csv", "line 4, column weight", "must be a number >= 0"],
    ),
    "zero-sum weights": (
        lambda d: _zero_column(d / "tones.csv", "High"),
        ["tones.csv", "column High", "weights sum to 0"],
    ),
    "duplicate key": (
        lambda d: _replace(d / "types.csv", "Change,1,Change", "Incident,1,Change"),
        ["types.csv", "line 5, column type", "duplicate 'Incident' (first on line 2)"],
    ),
    "unknown tag": (
        lambda d: _replace(d / "topics.csv", "VPN;Network;", "VPN;Netwrok;"),
        ["topics.csv", "column tags", "'Netwrok' is not in tags.csv"],
    ),
    "unknown product kind": (
        lambda d: _replace(d / "products.csv", "Dell XPS 15,hardware,", "Dell XPS 15,gadget,"),
        ["products.csv", "column kinds", "'gadget' is not a kind in product_kinds.csv"],
    ),
    "row with too many cells": (
        lambda d: _replace(d / "business_types.csv", "Retail,10", "Retail,10,3"),
        ["business_types.csv", "has 3 cells but the header has 2"],
    ),
    "phrasing without a phrase set": (
        lambda d: _replace(d / "types.csv", "Change,1,Change", "Change,1,Chnage"),
        ["types.csv", "column phrasing", "'Chnage' has no phrase set"],
    ),
    "misaligned phrase bank": (
        lambda d: _replace(d / "offline" / "de.yaml", '      - "Guten Morgen,"\n', ""),
        ["de.yaml", "registers.formal.greeting", "has 5 variants but en.yaml has 6"],
    ),
    "placeholders differ between languages": (
        lambda d: _replace(
            d / "offline" / "fr.yaml", '"Ce message concerne {product}."', '"Ce message."'
        ),
        ["fr.yaml", "opening.5", "uses placeholders [] but en.yaml uses ['product']"],
    ),
    "invalid yaml": (
        lambda d: _replace(d / "names.yaml", "DE:\n", "DE: [\n"),
        ["names.yaml", "not valid YAML"],
    ),
}


@pytest.mark.parametrize("case", list(BROKEN_TABLES))
def test_broken_tables_fail_with_one_clear_line(tmp_path: Path, case: str) -> None:
    edit, expected = BROKEN_TABLES[case]
    with pytest.raises(TablesError) as caught:
        Tables.load(_broken(tmp_path, edit))
    message = str(caught.value)
    assert "\n" not in message
    assert "Traceback" not in message
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert isinstance(caught.value, ValueError)


def test_missing_directory_is_reported(tmp_path: Path) -> None:
    with pytest.raises(TablesError, match="tables directory not found"):
        Tables.load(tmp_path / "nowhere")


def test_tables_load_without_phrase_banks(tmp_path: Path) -> None:
    tables = Tables.load(_broken(tmp_path, lambda d: shutil.rmtree(d / "offline")))
    assert tables.phrases == {}
    assert tables.sample_ticket(random.Random(0), "EN")["queue"] in tables.queues


def test_a_new_queue_only_needs_rows_in_the_tables(tmp_path: Path) -> None:
    def add_legal_queue(directory: Path) -> None:
        with (directory / "queues.csv").open("a", encoding="utf-8") as file:
            file.write("Legal,General Inquiry,0,50,0,0\n")
        with (directory / "priorities.csv").open("a", encoding="utf-8") as file:
            file.write("Legal,20,60,20\n")
        with (directory / "topics.csv").open("a", encoding="utf-8") as file:
            file.write("Contract review for a reseller agreement,Legal,,Request,,,1,Contract\n")
        _replace(
            directory / "product_kinds.csv",
            "software,Technical Support;",
            "software,Legal;Technical Support;",
        )

    tables = Tables.load(_broken(tmp_path, add_legal_queue))
    assert "Legal" in tables.queues
    assert tables.queue_phrasing["Legal"] == "General Inquiry"
    rng = random.Random(2)
    queues = Counter(tables.sample_ticket(rng, "EN")["queue"] for _ in range(5000))
    assert queues["Legal"] > 0
