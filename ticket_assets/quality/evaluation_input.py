"""Reading labelled tickets for `evaluate` (quality/evaluation.py): a CSV or Parquet file,
only the columns of ours it has (mapped by name), as text. Nothing read is written anywhere,
and errors name the file, its columns and positions, never a cell's value."""

from __future__ import annotations

import csv
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from ticket_assets.config import EVALUATE_COLUMNS, SUPPORTED_LANGUAGES

FILE_TYPES = {".csv": "CSV", ".parquet": "Parquet", ".pq": "Parquet"}
NO_LANGUAGE = "?"  # a ticket whose language cell is empty


class EvaluationError(Exception):
    """Bad input (a file, a column, too few rows): one line for the user."""


def read_tickets(path: Path, columns: Mapping[str, str]) -> tuple[pd.DataFrame, dict[str, str]]:
    """The tickets of a CSV or Parquet file: only the columns of ours it has (`columns` maps
    ours to its names, else the same name, in any case), renamed to ours, as text with ""
    for an empty cell; and the mapping used."""
    kind = FILE_TYPES.get(path.suffix.lower())
    if kind is None:
        raise EvaluationError(
            f"{path}: unknown file type {path.suffix or '(none)'!r}; use .csv, .parquet or .pq"
        )
    if not path.is_file():
        raise EvaluationError(f"{path}: no such file")
    try:
        if kind == "CSV":
            separator = _csv_separator(path)
            header = list(pd.read_csv(path, sep=separator, nrows=0, encoding="utf-8-sig"))
            mapping = _mapped_columns(path, header, columns)
            frame = pd.read_csv(
                path,
                sep=separator,
                usecols=sorted(set(mapping.values())),
                dtype=str,
                keep_default_na=False,
                encoding="utf-8-sig",
            )
        else:
            import pyarrow.parquet as pq

            header = list(pq.read_schema(path).names)
            mapping = _mapped_columns(path, header, columns)
            frame = pd.read_parquet(path, columns=sorted(set(mapping.values())))
    except EvaluationError:
        raise
    except OSError as error:
        raise EvaluationError(f"{path}: cannot read: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise EvaluationError(
            f"{path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}); save it as UTF-8"
        ) from None
    except Exception as error:  # pandas' and pyarrow's parser errors name no cell values
        reason = next(iter(str(error).strip().splitlines()), type(error).__name__)
        raise EvaluationError(f"{path}: not a readable {kind} file: {reason}") from None
    tickets = pd.DataFrame({ours: _cells(frame[theirs]) for ours, theirs in mapping.items()})
    return tickets, mapping


def _csv_separator(path: Path) -> str:
    """`,` unless the header line is clearly separated by `;`, a tab or `|` (Excel exports)."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as file:
        first_line = file.readline()
    try:
        return csv.Sniffer().sniff(first_line, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","


def _mapped_columns(path: Path, header: list[str], requested: Mapping[str, str]) -> dict[str, str]:
    """Our column -> the file's, for each of ours it has: as requested, else the same name."""
    by_lower = {str(name).strip().lower(): name for name in header}
    mapping = {}
    for ours in EVALUATE_COLUMNS:
        wanted = requested.get(ours, ours)
        found = wanted if wanted in header else by_lower.get(wanted.strip().lower())
        if found is not None:
            mapping[ours] = found
        elif ours in requested:
            # Short: a file without a header line would show its first ticket here.
            names = [_short(str(name)) for name in header[:30]]
            shown = ", ".join(names) + (", ..." if len(header) > 30 else "")
            raise EvaluationError(f"{path}: no column {wanted!r} (for {ours}); it has: {shown}")
    return mapping


def _short(name: str, limit: int = 40) -> str:
    return name if len(name) <= limit else name[: limit - 3] + "..."


def _cells(series: pd.Series) -> pd.Series:
    """Text cells with "" for a missing or blank one."""
    text = series.astype(object).where(series.notna(), "").astype(str).str.strip()
    return text.reset_index(drop=True)


def language_code(value: str) -> str:
    """A language code (DE) from a code in any case, a locale (de-AT, pt_BR) or an English
    name (German); anything else as written, upper case."""
    text = value.strip().upper()
    if not text:
        return NO_LANGUAGE
    code = text.replace("_", "-").split("-")[0]
    if code in SUPPORTED_LANGUAGES:
        return code
    names = {name.upper(): code for code, name in SUPPORTED_LANGUAGES.items()}
    return names.get(text, text)
