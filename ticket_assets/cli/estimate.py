"""`estimate`: calls, tokens and cost of the configured run, before spending anything."""

from __future__ import annotations

import argparse
from pathlib import Path

from ticket_assets.config import RunConfig
from ticket_assets.estimate import estimate_run


def handle(args: argparse.Namespace, config: RunConfig, log_path: Path) -> int:
    table = estimate_run(config)
    total = table.drop(columns=["node", "model"]).sum()
    lines = [
        f"estimate for dataset {config.dataset!r}, mode {config.mode}: {config.rows} tickets in "
        f"{', '.join(config.languages)} (rates of {config.currency.date})",
        "",
        *("  " + line for line in table.to_string(index=False).splitlines()),
        "",
        f"total: {int(total['calls'])} calls, {int(total['input_tokens'])} input tokens, "
        f"expected ${total['expected_cost_usd']:.4f}, at most ${total['max_cost_usd']:.4f}",
    ]
    if config.budget_usd is not None:
        verdict = "fits" if total["max_cost_usd"] <= config.budget_usd else "may exceed"
        lines.append(f"budget ${config.budget_usd:.4f}: the maximum {verdict} it")
    print("\n".join(lines))
    return 0
