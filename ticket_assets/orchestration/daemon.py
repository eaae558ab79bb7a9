"""`dagster-daemon run` with a short backfill loop; `python -m ticket_assets ui` starts it.

Dagster sleeps a hard-coded 30 s between backfill-daemon iterations (its backfill loop reads
`dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS` when it starts), so a UI
backfill waits up to 30 s before its runs are submitted and up to 30 s more after its last
run before it shows as completed: most of a minute for seconds of work. Setting the constant
before the daemon starts shortens both waits. Dagster is pinned; `bench/ui_backfill.py`
shows the effect.
"""

import dagster._daemon.controller as controller

# Each iteration reads the backfills' state from the instance: cheap next to a run.
BACKFILL_INTERVAL_S = 2


def main() -> None:
    controller.DEFAULT_DAEMON_INTERVAL_SECONDS = BACKFILL_INTERVAL_S
    from dagster._daemon.cli import main as daemon_main

    daemon_main()


if __name__ == "__main__":
    main()
