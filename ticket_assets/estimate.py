"""What a configured run will cost, before any spend.

A sample of tickets per language goes through the pipeline on the offline provider, which
gives every node realistic inputs. For each node the real prompts are rendered and grouped
into calls exactly as the remote engine would send them, counted with the model's tokenizer
(litellm.token_counter), and scaled up to the planned rows. Output tokens are estimated from
the offline answers' size (expected) and bounded by `max_tokens` (maximum).
"""

from __future__ import annotations

from collections import defaultdict

import pandas as pd

from ticket_assets.config import RunConfig
from ticket_assets.llm.client import LLMClient
from ticket_assets.llm.planning import plan_calls
from ticket_assets.llm.pricing import price_for
from ticket_assets.llm.types import ProviderReply
from ticket_assets.nodes import NodeContext, PromptNode, build_pipeline
from ticket_assets.plan import batch_key, plan_frame, rows_in_partition, rows_per_language
from ticket_assets.tables.loaded import tables_for

SAMPLE_PER_LANGUAGE = 40
ESTIMATE_COLUMNS = [
    "node",
    "model",
    "calls",
    "input_tokens",
    "expected_output_tokens",
    "max_output_tokens",
    "expected_cost_usd",
    "max_cost_usd",
]


def _sample(config: RunConfig) -> tuple[pd.DataFrame, dict[str, float]]:
    """A sample of the first batch per language, and how many planned tickets each stands for."""
    first = batch_key(0)
    frame = plan_frame(config, [(code, first) for code in config.languages], dataset_code=0)
    frame = frame.groupby("language", sort=False).head(SAMPLE_PER_LANGUAGE).reset_index(drop=True)
    planned = rows_per_language(config)
    sampled = frame["language"].value_counts()
    scale = {
        code: planned[code] / sampled[code]
        for code in config.languages
        if rows_in_partition(config, code, 0) > 0
    }
    return frame, scale


def estimate_run(config: RunConfig) -> pd.DataFrame:
    """Per node and model: calls, tokens and cost (expected and maximum) of the whole run."""
    import litellm  # deferred: seconds to import, and only estimate counts tokens with it

    tables = tables_for(config)
    offline = config.with_model(model="offline")
    simulator = LLMClient(offline, tables, use_cache=False)
    pipeline = build_pipeline(config)
    # The offline copy runs the configured pipeline (not checked again as all-offline).
    simulate = NodeContext(offline, tables, simulator, pipeline)
    planner = LLMClient(config, tables, use_cache=False)
    plan_ctx = NodeContext(config, tables, planner)
    frame, scale = _sample(config)
    rows = []
    for name, node in pipeline.nodes.items():
        model = config.model_for(name)
        already = len(simulator.ledger.records)
        if not isinstance(node, PromptNode):
            frame = node.run(frame, simulate)
            continue
        inputs = node.prepare(frame, plan_ctx).to_dict("records")
        requests = [request for _, request in node.requests(inputs, plan_ctx)]
        frame = node.run(frame, simulate)
        answer_tokens = {r.key: r.output_tokens for r in simulator.ledger.records[already:]}
        weight = {r.key: scale[r.variables["language"]] for r in requests}
        totals: dict[str, float] = defaultdict(float)
        price = price_for(config, model)
        if model.provider == "offline":
            calls = [([r.key], r.messages, model.max_tokens) for r in requests]
        else:
            calls = [
                ([requests[i].key for i in call.indices], call.messages, call.max_tokens)
                for call in plan_calls(model, requests)
            ]
        for keys, messages, max_tokens in calls:
            factor = sum(weight[k] for k in keys) / len(keys)
            prompt = litellm.token_counter(model=model.model, messages=list(messages))
            expected = sum(answer_tokens.get(k, 0) for k in keys)
            totals["calls"] += factor
            totals["input_tokens"] += prompt * factor
            totals["expected_output_tokens"] += expected * factor
            totals["max_output_tokens"] += max_tokens * factor
            totals["expected_cost_usd"] += price.cost(ProviderReply("", prompt, expected)) * factor
            totals["max_cost_usd"] += price.max_cost(prompt, max_tokens) * factor
        rows.append({"node": name, "model": model.model, **totals})
    table = pd.DataFrame(rows, columns=ESTIMATE_COLUMNS).fillna(0)
    for column in ESTIMATE_COLUMNS[2:6]:
        table[column] = table[column].round().astype(int)
    for code, rate in config.currency.rates.items():
        table[f"expected_cost_{code.lower()}"] = table["expected_cost_usd"] * rate
    return table
