"""ticket_assets: synthetic multilingual support tickets as Dagster assets in DuckDB."""

import os

# litellm fetches its price map from the network at import unless told to use its bundled
# copy; set before anything in the package can import litellm.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
