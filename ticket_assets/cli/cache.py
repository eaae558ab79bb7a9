"""`cache clear` and `cache stats`: the LLM response cache, this machine's file and, when the
DuckLake catalog is in Postgres, the table every machine shares.

`clear` empties this machine's file only, unless `--shared` asks for the shared table too:
that one holds every machine's paid answers, and clearing it makes the whole team pay again.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ticket_assets.cli.errors import BAD_INPUT, RUN_FAILED, fail
from ticket_assets.config import RunConfig
from ticket_assets.llm.cache import CacheCorruptError, CacheStats, ResponseCache
from ticket_assets.llm.shared_cache import SharedCacheError


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    cache = ResponseCache.for_config(config)
    shared = bool(args.shared)
    if shared and cache.shared is None:
        return fail(
            "--shared: there is no shared cache; it lives in the DuckLake catalog's database "
            "(storage.backend: ducklake with catalog: postgres:…)",
            BAD_INPUT,
        )
    try:
        if args.action == "clear":
            _clear(cache, shared=shared)
        else:
            _stats(cache)
    except (CacheCorruptError, SharedCacheError) as error:
        return fail(str(error), RUN_FAILED)
    return 0


def _clear(cache: ResponseCache, *, shared: bool) -> None:
    where = "" if cache.shared is None else " (this machine)"
    print(f"removed {cache.clear()} cached responses from {cache.path}{where}")
    if cache.shared is None:
        return
    if shared:
        removed = cache.shared.clear()
        print(f"removed {removed} cached responses from {cache.shared.name} (every machine's)")
    else:
        print(
            f"kept the shared cache, {cache.shared.name} (every machine's answers); "
            "`cache clear --shared` clears it too"
        )


def _stats(cache: ResponseCache) -> None:
    if cache.shared is None:
        print(_describe(str(cache.path), cache.stats()))
        return
    print(_describe(f"{cache.path} (this machine)", cache.stats()))
    # Flushed first: an unreachable server's error line comes after this machine's figures.
    sys.stdout.flush()
    print(_describe(f"{cache.shared.name} (shared)", cache.shared.stats()))


def _describe(where: str, stats: CacheStats) -> str:
    models = ", ".join(f"{model}: {n}" for model, n in sorted(stats.per_model.items()))
    return f"{where}: {stats.entries} cached responses, {stats.size_bytes / 1e6:.1f} MB" + (
        f" ({models})" if models else ""
    )
