"""A small, fast ticket classifier: character n-gram TF-IDF and a logistic regression.

It answers "how well can a label be learnt from these tickets?" for the `evaluate` command
(quality/evaluation.py): train on one set of tickets, predict another, score with macro-F1.
Character n-grams need no tokenizer, so the same model works in every language.

The features are scikit-learn's `TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 4),
sublinear_tf=True, min_df=2, max_features=40_000)` in effect (n-grams within words, padded
with a space at each end; lower case; whitespace collapsed), but counted with numpy:
scikit-learn's analyzer loops in Python, 4-5 s for 4,000 tickets, where this takes 0.3 s.
N-grams are hashed into 2**21 buckets (collisions are rare at this size and harmless here).
3-4-grams rather than 2-4: a third fewer non-zeros, so training is 30 % faster, and macro-F1
was the same or better on every label we compared (the offline export, 400-4,000 tickets).

scikit-learn, numpy and scipy are imported inside the functions: importing this module costs
nothing, and only the commands that train pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from scipy.sparse import csr_matrix

NGRAMS = (3, 4)
HASH_BITS = 21
MAX_FEATURES = 40_000  # the most frequent n-grams kept (of those in >= MIN_DF tickets)
MIN_DF = 2
# Newton-CG, stopping at a gradient of 1e-3: 3x faster than lbfgs (whose per-step cost grows
# with features x classes) and half the iterations of the default 1e-4, for the same F1.
SOLVER = "newton-cg"
TOLERANCE = 1e-3
MAX_ITER = 300
_CHUNK = 2_000  # tickets hashed at once (bounds the temporary arrays' memory)


@dataclass(frozen=True)
class Classifier:
    """A trained classifier: the n-gram buckets it reads (`columns`), their TF-IDF weights
    and the logistic regression; or a constant when the training labels had one class."""

    classes: tuple[str, ...]
    columns: Any = None  # numpy array of kept hash buckets, ascending
    tfidf: Any = None  # sklearn TfidfTransformer
    model: Any = None  # sklearn LogisticRegression
    constant: str | None = None


def ticket_texts(frame: pd.DataFrame) -> list[str]:
    """Each ticket's text as the classifier reads it: subject, a newline, body (a missing
    subject or body counts as empty)."""
    n = len(frame)
    subjects = frame["subject"] if "subject" in frame else [None] * n
    bodies = frame["body"] if "body" in frame else [None] * n
    return [f"{_text(s)}\n{_text(b)}" for s, b in zip(subjects, bodies, strict=True)]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and value != value):  # None or NaN
        return ""
    return str(value)


def train(texts: Sequence[str], labels: Sequence[str], seed: int) -> Classifier:
    """A classifier of `texts` into `labels` (one per text), deterministic for `seed`."""
    if len(texts) != len(labels):
        raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
    if not texts:
        raise ValueError("no tickets to train on")
    names = [str(label) for label in labels]
    classes = tuple(sorted(set(names)))
    if len(classes) == 1:
        return Classifier(classes=classes, constant=classes[0])
    import numpy as np
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression

    counts = _hashed_counts(texts)
    document_frequency = np.bincount(counts.indices, minlength=counts.shape[1])
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    # A tiny training set keeps every n-gram (min_df=2 could leave none).
    kept = np.flatnonzero(document_frequency >= (MIN_DF if len(texts) >= 20 else 1))
    kept = kept[np.argsort(-frequency[kept], kind="stable")[:MAX_FEATURES]]
    columns = np.sort(kept)
    tfidf = TfidfTransformer(sublinear_tf=True)
    features = tfidf.fit_transform(counts[:, columns])
    model = LogisticRegression(
        solver=SOLVER,
        tol=TOLERANCE,
        max_iter=MAX_ITER,
        class_weight="balanced",
        random_state=seed,
    )
    model.fit(features, names)
    return Classifier(classes=classes, columns=columns, tfidf=tfidf, model=model)


def predict(classifier: Classifier, texts: Sequence[str]) -> list[str]:
    """The predicted label of each text."""
    if classifier.constant is not None:
        return [classifier.constant] * len(texts)
    if not texts:
        return []
    features = classifier.tfidf.transform(_hashed_counts(texts)[:, classifier.columns])
    return [str(label) for label in classifier.model.predict(features)]


def macro_f1(true: Sequence[str], predicted: Sequence[str]) -> float:
    """The mean F1 over the classes of `true` (a class the model never predicts scores 0;
    a predicted class that is not in `true` counts only as the other classes' errors)."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true labels but {len(predicted)} predictions")
    if not true:
        raise ValueError("no labels to score")
    from sklearn.metrics import f1_score

    true_labels = [str(label) for label in true]
    return float(
        f1_score(
            true_labels,
            [str(label) for label in predicted],
            labels=sorted(set(true_labels)),
            average="macro",
            zero_division=0,
        )
    )


def stratified_split(
    frame: pd.DataFrame, label: str, test_share: float, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(train, test): `frame` split so that `test` holds `test_share` of its rows, each class
    of `label` in the same proportion on both sides (seeded). Where a class has fewer than 2
    rows, or there are too few rows for every class to appear on both sides, a plain seeded
    split."""
    if not 0 < test_share < 1:
        raise ValueError(f"test_share must be between 0 and 1, got {test_share}")
    if len(frame) < 2:
        raise ValueError(f"cannot split {len(frame)} rows")
    from sklearn.model_selection import train_test_split

    labels = frame[label].astype(str)
    stratify = labels if labels.value_counts().min() >= 2 else None
    try:
        kept, tested = train_test_split(
            frame, test_size=test_share, random_state=seed, stratify=stratify
        )
    except ValueError:  # more classes than rows on one side
        kept, tested = train_test_split(frame, test_size=test_share, random_state=seed)
    return kept, tested


# --- features ------------------------------------------------------------------------------


def _hashed_counts(texts: Sequence[str]) -> csr_matrix:
    """tickets x 2**HASH_BITS counts of each text's character n-grams (NGRAMS)."""
    import numpy as np
    from scipy.sparse import csr_matrix

    rows, columns, counts = [], [], []
    for start in range(0, len(texts), _CHUNK):
        row, column, count = _chunk_counts(texts[start : start + _CHUNK])
        rows.append(row + start)
        columns.append(column)
        counts.append(count)
    row, column = np.concatenate(rows), np.concatenate(columns)
    indptr = np.zeros(len(texts) + 1, dtype=np.int64)
    np.cumsum(np.bincount(row, minlength=len(texts)), out=indptr[1:])
    return csr_matrix(
        (np.concatenate(counts).astype(np.float32), column, indptr),
        shape=(len(texts), 1 << HASH_BITS),
    )


def _chunk_counts(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, bucket, count) of each distinct n-gram bucket per text, by row then bucket."""
    import numpy as np

    # Lower case, whitespace collapsed, a space at each end: n-grams whose inner characters
    # hold no space are the n-grams of padded words, as char_wb makes them.
    documents = [" " + " ".join(text.replace("\x00", " ").lower().split()) + " " for text in texts]
    joined = "\x00".join(documents)  # n-grams across a \x00 span two tickets: dropped
    codes = np.frombuffer(joined.encode("utf-32-le", errors="replace"), dtype=np.uint32)
    codes = codes.astype(np.uint64)
    lengths = np.fromiter((len(d) + 1 for d in documents), dtype=np.int64, count=len(documents))
    row_of = np.repeat(np.arange(len(documents), dtype=np.int64), lengths)[: len(codes)]
    separator, space = codes == 0, codes == ord(" ")
    keys = []
    for n in NGRAMS:
        m = len(codes) - n + 1
        if m <= 0:
            continue
        hashed = np.full(m, n, dtype=np.uint64)
        dropped = np.zeros(m, dtype=bool)
        for k in range(n):
            hashed = hashed * np.uint64(1_000_003) + codes[k : k + m]  # wraps modulo 2**64
            dropped |= separator[k : k + m]
            if 0 < k < n - 1:
                dropped |= space[k : k + m]
        if n == 2:
            dropped |= space[:m] & space[1 : m + 1]  # an empty ticket's "  "
        kept = ~dropped
        # Fibonacci hashing: the top HASH_BITS bits of the product are well mixed.
        bucket = (hashed[kept] * np.uint64(0x9E3779B97F4A7C15)) >> np.uint64(64 - HASH_BITS)
        keys.append((row_of[:m][kept] << HASH_BITS) | bucket.astype(np.int64))
    if not keys:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, empty
    unique, count = np.unique(np.concatenate(keys), return_counts=True)
    return unique >> HASH_BITS, (unique & ((1 << HASH_BITS) - 1)).astype(np.int32), count
