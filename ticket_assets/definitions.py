"""What `dagster dev -w workspace.yaml` loads: the Definitions of the project's config
($TICKET_ASSETS_CONFIG, which `ticket-assets ui` sets, else the working directory's
ticket_assets.yaml, else the default one) in the mode $TICKET_ASSETS_MODE (default dev)."""

from ticket_assets.config import load_config
from ticket_assets.nodes import build_pipeline
from ticket_assets.orchestration.definitions import build_definitions
from ticket_assets.preflight import check_config

config = load_config()
build_pipeline(config)  # a pipeline that cannot run fails the code location with its one line
# A bad table, prompt, model or plan fails the code location with one line per problem, so
# the UI shows it before any run is launched (and every run's worker, loading this, stops).
check_config(config)
defs = build_definitions(config)
