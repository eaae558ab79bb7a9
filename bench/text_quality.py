"""Prints the text-quality figures of a dataset next to a reference dataset's (issue 16).

For each file (an export's tickets.parquet, or any CSV/Parquet with subject, body, language,
type, priority and tags or tag_1..tag_8 columns, as the public dataset has): word 3-gram and
tag leaks of type and priority (precision >= 0.95, recall >= 0.25, per language, values with
>= 50 tickets), distinct subjects, the distinct word 3-gram ratio over 1,000 bodies, the
share of sentence occurrences that are sentences used in >= 1 % of a language's tickets, body
length p10 / median / p90, and the learnability check's macro-F1 per label. The measures are
the quality checks' own (ticket_assets/quality/). Usage:
    python bench/text_quality.py data/exports/tickets.parquet [reference.csv ...]
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from ticket_assets.config import QualityConfig
from ticket_assets.quality.diversity import ALL, diversity_table
from ticket_assets.quality.label_leakage import check_label_leakage
from ticket_assets.quality.learnability import check_learnability

TAG_COLUMNS = [f"tag_{n}" for n in range(1, 9)]


def load(path: Path) -> pd.DataFrame:
    frame = pd.read_parquet(path) if path.suffix in (".parquet", ".pq") else pd.read_csv(path)
    if "tags" not in frame and TAG_COLUMNS[0] in frame:
        present = [c for c in TAG_COLUMNS if c in frame]
        frame["tags"] = frame[present].apply(lambda r: [t for t in r if isinstance(t, str)], axis=1)
    for column in ("type", "priority", "queue", "language"):
        if column in frame:  # the public dataset writes priorities and languages in lower case
            frame[column] = frame[column].astype(str)
    if "priority" in frame:
        frame["priority"] = frame["priority"].str.capitalize()
    frame["language"] = frame["language"].str.upper()
    return frame.fillna({"subject": "", "body": ""})


def report(path: Path) -> None:
    frame = load(path)
    settings = QualityConfig()
    started = time.process_time()
    leaks = check_label_leakage(frame, settings.label_leakage)
    table = diversity_table(frame, settings.diversity).set_index("language")
    learn = check_learnability(frame, settings.learnability)
    seconds = time.process_time() - started
    overall = table.loc[ALL]
    lengths = frame["body"].str.len()
    print(f"\n{path} ({len(frame)} tickets; figures in {seconds:.1f} s of CPU)")
    print(f"  leaks (type, priority): {leaks.figures.get('leaks', 0)}  {leaks.headline}")
    print(f"  distinct subjects: {overall['distinct_subjects']:.3f}")
    print(f"  distinct word 3-gram ratio over 1,000 bodies: {overall['distinct_3grams']:.3f}")
    reused = table.drop(index=ALL)["common_sentences"]
    reuse = ", ".join(f"{code} {share:.3f}" for code, share in reused.items())
    print(f"  reused sentences per language: {reuse}")
    p10, p50, p90 = (lengths.quantile(q) for q in (0.1, 0.5, 0.9))
    print(f"  body length p10 / median / p90: {p10:.0f} / {p50:.0f} / {p90:.0f}")
    print(f"  learnability: {learn.headline}")


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for name in sys.argv[1:]:
        report(Path(name))


if __name__ == "__main__":
    main()
