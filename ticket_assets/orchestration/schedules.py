"""Schedules. The refresh: each tick adds new batch partitions for every language and requests
one run that materializes them and rewrites the export (old rows plus new, ids unique by
construction since the batch is part of the id)."""

import dagster as dg

from ticket_assets.config import ConfigError, RunConfig
from ticket_assets.orchestration.partitions import batch_partitions_name, partition_key
from ticket_assets.plan import batch_index, batch_key

REFRESH_SCHEDULE = "refresh_dataset"


def next_batches(instance: dg.DagsterInstance, config: RunConfig) -> list[str]:
    """The next `refresh.batches` batch keys after the highest one registered."""
    known = instance.get_dynamic_partitions(batch_partitions_name(config))
    start = max((batch_index(key) for key in known), default=-1) + 1
    return [batch_key(index) for index in range(start, start + config.refresh.batches)]


def check_refresh(config: RunConfig) -> None:
    """ConfigError (one line, naming where the value came from) if `refresh.cron` is not a
    cron expression Dagster schedules. Checked here, not in the config layer: Dagster's own
    parser, through its public API, is the one the schedule uses (no croniter in the lock)."""
    cron = config.refresh.cron
    try:
        dg.ScheduleDefinition(name=REFRESH_SCHEDULE, cron_schedule=cron, job_name="check")
    except dg.DagsterInvalidDefinitionError:
        raise ConfigError(
            config.problem(
                ("refresh", "cron"), f"{cron!r} is not a cron expression (e.g. '0 3 * * *')"
            )
        ) from None


def refresh_schedule(config: RunConfig, job_name: str) -> dg.ScheduleDefinition:
    check_refresh(config)

    @dg.schedule(
        name=REFRESH_SCHEDULE,
        cron_schedule=config.refresh.cron,
        job_name=job_name,
        execution_timezone=config.timezone,
        default_status=(
            dg.DefaultScheduleStatus.RUNNING
            if config.refresh.enabled
            else dg.DefaultScheduleStatus.STOPPED
        ),
        description=(
            f"Adds {config.refresh.batches} new batch(es) per language and materializes them, "
            "then refreshes the export and cost report. Off unless refresh.enabled is set or "
            "it is switched on in the UI."
        ),
    )
    def _refresh(context: dg.ScheduleEvaluationContext) -> dg.RunRequest:
        batches = next_batches(context.instance, config)
        # Registered here so the run's partitions exist when it starts; the run key makes a
        # repeated tick for the same batches request nothing new.
        context.instance.add_dynamic_partitions(batch_partitions_name(config), batches)
        languages = list(config.languages)
        return dg.RunRequest(
            run_key=f"refresh-{batches[0]}-{batches[-1]}",
            tags={
                "dagster/asset_partition_range_start": str(partition_key(languages[0], batches[0])),
                "dagster/asset_partition_range_end": str(partition_key(languages[-1], batches[-1])),
                "refresh": "scheduled",
            },
        )

    return _refresh
