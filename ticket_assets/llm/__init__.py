"""The LLM layer: one facade (client) over the offline provider and litellm."""
