"""`cache clear` and `cache stats`: the LLM response cache."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ticket_assets.config import RunConfig
from ticket_assets.llm.cache import CacheCorruptError, ResponseCache


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    cache = ResponseCache(config.cache_path)
    try:
        return _act(cache, args.action)
    except CacheCorruptError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


def _act(cache: ResponseCache, action: str) -> int:
    if action == "clear":
        print(f"removed {cache.clear()} cached responses from {cache.path}")
    else:
        stats = cache.stats()
        models = ", ".join(f"{model}: {n}" for model, n in sorted(stats.per_model.items()))
        print(
            f"{cache.path}: {stats.entries} cached responses, "
            f"{stats.size_bytes / 1e6:.1f} MB" + (f" ({models})" if models else "")
        )
    return 0
