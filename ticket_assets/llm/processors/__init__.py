"""Request processors, one per mode, behind `processor_for`: online (each call through the
throttle), batch (the provider's Batch API), local (in-process providers); `workers.py`
spreads a node's requests over processes. The node's status (`base.NodeStatus`) is tracked
apart from them."""

from __future__ import annotations

from ticket_assets.llm.processors.base import Fetched, NodeCalls, NodeStatus, Processor
from ticket_assets.llm.processors.batch import BatchProcessor
from ticket_assets.llm.processors.online import OnlineProcessor

__all__ = ["Fetched", "NodeCalls", "NodeStatus", "Processor", "processor_for"]


def processor_for(calls: NodeCalls) -> Processor:
    """The processor for the mode of the calls' model: batch or online."""
    if calls.model.batch:
        return BatchProcessor(calls)
    return OnlineProcessor(calls)
