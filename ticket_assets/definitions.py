"""What `dagster dev -w workspace.yaml` loads: the Definitions of ticket_assets.yaml
(or $TICKET_ASSETS_CONFIG) in the mode $TICKET_ASSETS_MODE (default dev)."""

from ticket_assets.config import load_config
from ticket_assets.orchestration.definitions import build_definitions

defs = build_definitions(load_config())
