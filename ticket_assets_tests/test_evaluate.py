"""`evaluate --real FILE`: a classifier trained on the synthetic export against one trained on
half of the user's own tickets; the user's file is read, and nothing of it is written."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from ticket_assets.__main__ import main
from ticket_assets.quality.classifier import (
    macro_f1,
    predict,
    stratified_split,
    ticket_texts,
    train,
)

# In every text of the user's file: none may appear in any file the command writes.
CANARY = "zqcanary"
TYPES = {"Incident": "outage", "Request": "access", "Problem": "recurring", "Change": "upgrade"}
PRIORITIES = {"high": "urgent", "medium": "soon", "low": "whenever"}
QUEUES = {"Technical Support": "server", "Billing and Payments": "invoice"}
FILLERS = {
    "EN": "we have noticed that our team cannot work since this morning",
    "DE": "wir haben bemerkt dass unser team seit heute morgen nicht arbeiten kann",
}
# The user's words: another vocabulary than the synthetic tickets', the same label cues.
THEIR_FILLERS = {
    "EN": "hello there my colleague said the portal looks odd today thanks",
    "DE": "hallo zusammen mein kollege sagt das portal sieht heute seltsam aus danke",
}
THEIR_COLUMNS = {
    "subject": "Title",
    "body": "Ticket Text",
    "language": "lang",
    "type": "ticket_type",
    "priority": "urgency",
    "queue": "team",
}
MAPPING_FLAGS = [
    flag for ours, theirs in THEIR_COLUMNS.items() for flag in ("--column", f"{ours}={theirs}")
]


def _ticket(rng: random.Random, fillers: str, type_: str, priority: str, queue: str) -> str:
    cues = [TYPES[type_], PRIORITIES[priority], QUEUES[queue]]
    words = rng.choices(fillers.split(), k=14) + cues * 2
    rng.shuffle(words)
    return " ".join(words)


def _labels(rng: random.Random) -> tuple[str, str, str]:
    return rng.choice(list(TYPES)), rng.choice(list(PRIORITIES)), rng.choice(list(QUEUES))


def write_export(path: Path, per_language: int = 120) -> Path:
    """A synthetic export with the export's columns (EN and DE)."""
    rng = random.Random(1)
    rows = []
    for language, fillers in FILLERS.items():
        for i in range(per_language):
            type_, priority, queue = _labels(rng)
            body = _ticket(rng, fillers, type_, priority, queue)
            rows.append(
                {
                    "ticket_id": f"{language}{i:05d}",
                    "subject": " ".join(body.split()[:4]),
                    "body": body,
                    "language": language,
                    "type": type_,
                    "queue": queue,
                    "priority": priority.capitalize(),
                    "tags": ["IT"],
                    "first_response": "thanks",
                    "business_type": "IT Services",
                    "product": "Laptop",
                    "topic": "a topic",
                    "batch": "b0000",
                }
            )
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path, index=False)
    return path


def their_tickets(per_language: int = 60) -> pd.DataFrame:
    """The user's tickets, in their own column names: DE and EN (as de, en-GB), a few in IT
    (too few for a row of their own), a type the synthetic data lacks, empty cells."""
    rng = random.Random(2)
    rows = []
    for language, code in (("EN", "en-GB"), ("DE", "de"), ("EN", "it")):
        for _ in range(per_language if code != "it" else 8):
            type_, priority, queue = _labels(rng)
            text = _ticket(rng, THEIR_FILLERS[language], type_, priority, queue)
            rows.append(
                {
                    "Title": f"{CANARY}{len(rows):04d} title",
                    "Ticket Text": f"{text} {CANARY}{len(rows):04d}",
                    "lang": code,
                    "ticket_type": "Feedback" if len(rows) % 15 == 0 else type_,
                    "urgency": priority if len(rows) % 20 else "",  # the export's: High
                    "team": queue,
                    "customer": f"customer{len(rows)}@{CANARY}.example",
                }
            )
    rows += [{**rows[0], "Title": "", "Ticket Text": ""}] * 3  # no text: skipped
    return pd.DataFrame(rows)


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    real = tmp_path / "mine" / "my_tickets.csv"
    real.parent.mkdir()
    their_tickets().to_csv(real, index=False)
    return {
        "real": real,
        "data": tmp_path / "data",
        "export": write_export(tmp_path / "data" / "exports" / "tickets.parquet"),
        "out": tmp_path / "out",
    }


def _run(files: dict[str, Path], *flags: str) -> int:
    return main(["evaluate", "--data-dir", str(files["data"]), *flags])


def _written_text(*directories: Path) -> str:
    return "".join(
        path.read_bytes().decode("utf-8", errors="replace")
        for directory in directories
        for path in directory.rglob("*")
        if path.is_file()
    )


def test_figures_printed_and_written_with_columns_mapped_by_flags(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    code = _run(files, "--real", str(files["real"]), "--out", str(files["out"]), *MAPPING_FLAGS)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "synthetic (same size)" in out and "your half" in out and "all / yours" in out
    table = [line.split()[:3] for line in out.splitlines() if line.startswith("  ")]
    for row in (["type", "DE", "60"], ["priority", "EN", "57"], ["queue", "all*", "128"]):
        assert row in table, out
    assert "Feedback (" in out  # a type the synthetic data lacks, counted
    assert "IT (8)" in out  # too few for a row of its own
    assert "3 of your tickets without a text" in out
    assert str(files["out"] / "evaluation.json") in out
    figures = json.loads((files["out"] / "evaluation.json").read_text(encoding="utf-8"))
    assert [result["label"] for result in figures["labels"]] == ["type", "priority", "queue"]
    assert figures["real_file"] == "my_tickets.csv" and figures["empty_text_rows"] == 3
    assert figures["columns"] == THEIR_COLUMNS
    type_result = figures["labels"][0]
    assert type_result["unseen"] == {"Feedback": 9}
    assert figures["labels"][1]["unseen"] == {}  # high is High
    assert {score["language"] for score in type_result["scores"]} == {"EN", "DE", "all"}
    for score in type_result["scores"]:
        assert 0 <= score["f1_synthetic"] <= 1 and 0 <= score["f1_real"] <= 1
        assert score["synthetic_rows"] == score["train_rows"]
    assert type_result["scores"][-1]["drawn_from_all"] == ["IT"]
    # The label cues are shared, so the synthetic data teaches something.
    assert type_result["scores"][-1]["f1_synthetic_all"] > 0.4
    assert (files["out"] / "evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_their_texts_are_written_nowhere(
    files: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert _run(files, "--real", str(files["real"]), *MAPPING_FLAGS) == 0
    out = capsys.readouterr().out
    assert CANARY not in out
    written = sorted(p.name for p in files["data"].rglob("*") if p.is_file())
    assert written == ["evaluation.json", "evaluation.png", "tickets.parquet"]
    assert CANARY not in _written_text(files["data"])
    assert sorted(p.name for p in files["real"].parent.iterdir()) == ["my_tickets.csv"]


def test_columns_mapped_by_config_and_flags_override_it(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    columns = {**THEIR_COLUMNS, "body": "no such column"}
    config = tmp_path / "evaluate.yaml"
    config.write_text(yaml.safe_dump({"evaluate": {"columns": columns, "labels": ["queue"]}}))
    args = ["--config", str(config), "--real", str(files["real"])]
    assert _run(files, *args) == 2
    assert "no column 'no such column' (for body)" in capsys.readouterr().err
    assert _run(files, *args, "--column", "body=Ticket Text") == 0
    figures = json.loads((files["data"] / "evaluation" / "evaluation.json").read_text())
    assert [result["label"] for result in figures["labels"]] == ["queue"]
    assert figures["columns"]["body"] == "Ticket Text" and figures["columns"]["language"] == "lang"


def test_parquet_input_and_no_language_column(
    files: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    real = tmp_path / "mine.pq"
    their_tickets().drop(columns=["lang"]).to_parquet(real)
    code = _run(files, "--real", str(real), *_without_language(MAPPING_FLAGS), "--labels", "type")
    err = capsys.readouterr().err
    assert code == 0, err
    figures = json.loads((files["data"] / "evaluation" / "evaluation.json").read_text())
    (result,) = figures["labels"]
    assert [score["language"] for score in result["scores"]] == ["all"]
    assert result["scores"][0]["rows"] == len(their_tickets()) - 3  # 3 without a text


def _without_language(flags: list[str]) -> list[str]:
    pairs = [(flags[i], flags[i + 1]) for i in range(0, len(flags), 2)]
    return [part for pair in pairs if not pair[1].startswith("language=") for part in pair]


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("missing", "no such file"),
        ("not utf-8", "not UTF-8 text"),
        ("not parquet", "not a readable Parquet file"),
        ("unknown type", "unknown file type '.xlsx'"),
        ("unknown column", "no column 'nope' (for type); it has: Title, Ticket Text, lang"),
        ("too few rows", "tickets with a text; at least 40 are needed"),
        ("no label in common", "no label in common with the synthetic data"),
        ("no export", "no synthetic export there"),
        ("bad flag", "argument --column: 'tag' is not a column of the tickets"),
    ],
)
def test_bad_input_is_one_error_line(
    case: str,
    message: str,
    files: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    real, flags = files["real"], list(MAPPING_FLAGS)
    if case == "missing":
        real = tmp_path / "nowhere.csv"
    elif case == "not utf-8":
        real.write_bytes("Ticket Text,ticket_type\nStörung,Incident\n".encode("latin-1"))
    elif case == "not parquet":
        real = tmp_path / "broken.parquet"
        real.write_bytes(b"PAR1 this is not parquet")
    elif case == "unknown type":
        real = tmp_path / "tickets.xlsx"
        real.write_bytes(b"")
    elif case == "unknown column":
        flags += ["--column", "type=nope"]
    elif case == "too few rows":
        their_tickets().head(30).to_csv(real, index=False)
    elif case == "no label in common":
        their_tickets()[["Ticket Text", "lang"]].to_csv(real, index=False)
        flags = ["--column", "body=Ticket Text"]
    elif case == "no export":
        files["export"].unlink()
    elif case == "bad flag":
        flags += ["--column", "tag=tags"]
    try:
        code = _run(files, "--real", str(real), *flags)
    except SystemExit as exit_:  # argparse
        code = int(exit_.code or 0)
    out, err = capsys.readouterr()
    assert code == 2
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and message in errors[0], err
    assert "Traceback" not in err and CANARY not in err + out
    assert not (files["data"] / "evaluation").exists()


def test_help_imports_no_heavy_library() -> None:
    script = (
        "import sys\nfrom ticket_assets.cli import main\n"
        "try:\n    main(['evaluate', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = {'sklearn', 'pandas', 'matplotlib', 'pyarrow', 'dagster', 'scipy'}\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert "--real PATH" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"


def test_classifier_learns_and_splits_stratified() -> None:
    tickets = their_tickets()
    tickets = tickets[tickets["Ticket Text"] != ""].rename(columns={"Ticket Text": "body"})
    kept, tested = stratified_split(tickets, "team", 0.5, seed=3)
    assert len(kept) + len(tested) == len(tickets) and abs(len(kept) - len(tested)) <= 1
    shares = [part["team"].value_counts(normalize=True) for part in (kept, tested)]
    assert (shares[0] - shares[1]).abs().max() < 0.05
    model = train(ticket_texts(kept), kept["team"].tolist(), seed=3)
    assert macro_f1(tested["team"].tolist(), predict(model, ticket_texts(tested))) > 0.9
    one_class = train(["a b", "c d"], ["x", "x"], seed=3)
    assert predict(one_class, ["anything"]) == ["x"]
    assert ticket_texts(pd.DataFrame({"subject": [None], "body": ["b"]})) == ["\nb"]
