"""Export formats: Parquet and CSV by default, JSON Lines, the public dataset's wide layout,
and train/validation/test splits stratified by language and queue."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from ticket_assets.config import ExportConfig, load_config
from ticket_assets.export import (
    EXPORT_COLUMNS,
    WIDE_COLUMNS,
    export_frame,
    split_labels,
    write_exports,
)
from ticket_assets.quality.card import card_header

QUEUES = ("Technical Support", "Billing and Payments", "General Inquiry")
SPLITS = {"train": 0.8, "validation": 0.1, "test": 0.1}


@pytest.fixture
def tickets() -> pd.DataFrame:
    """40 tickets per (language, queue) pair, 240 in all."""
    rows = []
    for language in ("DE", "EN"):
        for queue in QUEUES:
            for number in range(40):
                index = len(rows)
                rows.append(
                    {
                        "ticket_id": f"1001{index:09d}",
                        "language": language,
                        "batch": "b0000",
                        "type": "Incident",
                        "queue": queue,
                        "priority": "High",
                        "subject": f"Subject {index}",
                        "body": f"Body, with a comma {index}",
                        "first_response": f"Reply {index}",
                        "tags": ["Outage", "Network", "IT", "Urgent", "Login"][: 4 + number % 2],
                        "systems": ["VPN", "Email"],
                        "urgency": "Low",
                    }
                )
    return pd.DataFrame(rows)


def test_default_writes_parquet_and_csv_only(tickets: pd.DataFrame, tmp_path: Path) -> None:
    paths = write_exports(tickets, tmp_path)
    assert set(paths.files) == {"parquet", "csv"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tickets.csv", "tickets.parquet"]
    parquet = pq.read_table(paths.parquet)
    assert parquet.column_names == [*EXPORT_COLUMNS, "batch"]  # extras present in the rows


def test_every_format_and_stratified_splits(tickets: pd.DataFrame, tmp_path: Path) -> None:
    settings = ExportConfig(formats=("parquet", "csv", "jsonl", "wide"), splits=SPLITS, version="7")
    extras = ["urgency", "systems", "batch"]
    paths = write_exports(tickets, tmp_path, settings, seed=42, extra_columns=extras)
    assert {p.name for p in tmp_path.iterdir()} == {p.name for p in paths.files.values()}
    assert paths.files["wide/test"].name == "tickets_wide_test.csv"

    parquet = pd.read_parquet(paths.files["parquet"])
    assert list(parquet.columns) == [*EXPORT_COLUMNS, *extras]
    assert list(parquet["systems"][0]) == ["VPN", "Email"]
    csv = pd.read_csv(paths.files["csv"])
    assert csv["tags"][0] == "Outage,Network,IT,Urgent" and csv["systems"][0] == "VPN,Email"
    jsonl = pd.read_json(paths.files["jsonl"], lines=True, dtype={"ticket_id": str})
    assert list(jsonl.columns) == list(parquet.columns)
    assert jsonl["tags"][1] == ["Outage", "Network", "IT", "Urgent", "Login"]
    assert jsonl["ticket_id"].tolist() == parquet["ticket_id"].tolist()

    wide = pd.read_csv(paths.files["wide"], dtype=str)
    assert tuple(wide.columns) == WIDE_COLUMNS
    assert set(wide["language"]) == {"de", "en"} and set(wide["priority"]) == {"high"}
    assert set(wide["version"]) == {"7"}
    assert (wide["answer"] == parquet["first_response"]).all()
    assert wide["tag_5"].isna().sum() == len(wide) // 2 and wide["tag_6"].isna().all()

    parts = {split: pd.read_parquet(paths.files[f"parquet/{split}"]) for split in SPLITS}
    ids = [set(part["ticket_id"]) for part in parts.values()]
    assert sum(map(len, ids)) == len(tickets) and set().union(*ids) == set(tickets["ticket_id"])
    for split, part in parts.items():
        counts = part.groupby(["language", "queue"]).size()
        assert len(counts) == 6 and (counts == 40 * SPLITS[split]).all(), split
        assert len(pd.read_csv(paths.files[f"wide/{split}"])) == len(part)
    assert not list(tmp_path.glob(".*.tmp"))


def test_splits_are_deterministic_for_a_seed(tickets: pd.DataFrame) -> None:
    first = split_labels(tickets, SPLITS, seed=42)
    assert first.equals(split_labels(tickets, SPLITS, seed=42))
    assert first.equals(
        split_labels(tickets.sample(frac=1, random_state=1), SPLITS, 42).sort_index()
    )
    other = split_labels(tickets, SPLITS, seed=43)
    assert (first != other).any()
    assert other.value_counts().to_dict() == first.value_counts().to_dict()


def test_the_dataset_card_lists_the_split_files_and_sizes(tickets: pd.DataFrame) -> None:
    config = load_config(overrides={"export": {"formats": ["parquet", "wide"], "splits": SPLITS}})
    header = card_header(export_frame(tickets), config)
    assert header["configs"][0]["data_files"] == [
        {"split": split, "path": f"tickets_{split}.parquet"} for split in SPLITS
    ]
    sizes = {split["name"]: split["num_examples"] for split in header["dataset_info"]["splits"]}
    assert sizes == {"train": 192, "validation": 24, "test": 24}  # 240 tickets, 80/10/10
