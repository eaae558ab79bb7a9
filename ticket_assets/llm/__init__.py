"""The LLM layer: one facade (client.py) over the remote engine and local providers; see
docs/architecture.md for its layers."""
