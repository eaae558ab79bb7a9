"""Randomization tables: load and validate the data folder `tables/`, and sample from it.

The taxonomy (types, queues, priorities, topics, products, tags, personas, tones, names) and
the offline provider's phrase banks are data files, so users change them without touching
code; tables/README.md documents every file. `Tables.load` checks everything up front and
reports a problem as one line naming the file, the line and the column. Sampling draws from
precomputed cumulative weights, so one ticket costs a handful of bisects.

This package is code; the CSV and YAML files it reads live in the project's top-level
`tables/` folder (`RunConfig.tables_dir`). Its modules:

- `reader`: CSV and YAML reading; `TablesError` names file, line and column.
- `taxonomy`: `Tables` (load, cross-checks, `sample_ticket`, `balanced`, `topics_for`).
- `sampling`: `Weighted` draws, the per-ticket samplers and class balancing.
- `phrases`: the offline provider's phrase banks (`tables/offline/`), checked index-aligned.
- `names`: customer and agent names per language (`names.yaml`).
- `vocabulary`: matching answers to the tag vocabulary and `tag_synonyms.csv`.
- `fields`: sampled fields from the user's own tables (config `fields`), value vocabularies.
"""

from ticket_assets.tables.fields import (
    GIVEN_COLUMNS,
    SampledFields,
    Vocabulary,
    load_fields,
    read_vocabulary,
)
from ticket_assets.tables.phrases import OFFLINE_DIR, PRIORITY_LEVELS, REFERENCE_LANGUAGE
from ticket_assets.tables.reader import CsvTable, TablesError
from ticket_assets.tables.sampling import Weighted
from ticket_assets.tables.taxonomy import Product, Tables, TagAssociation, Topic
from ticket_assets.tables.vocabulary import VocabularyMatcher, match_key

__all__ = [
    "GIVEN_COLUMNS",
    "OFFLINE_DIR",
    "PRIORITY_LEVELS",
    "REFERENCE_LANGUAGE",
    "CsvTable",
    "Product",
    "SampledFields",
    "Tables",
    "TablesError",
    "TagAssociation",
    "Topic",
    "Vocabulary",
    "VocabularyMatcher",
    "Weighted",
    "load_fields",
    "match_key",
    "read_vocabulary",
]
