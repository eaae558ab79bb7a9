"""Sensors. `register_configured_batches` adds the batches the config plans as partitions of
the instance the UI shows, so they can be backfilled from the UI without a CLI run first."""

import dagster as dg

from ticket_assets.config import RunConfig
from ticket_assets.orchestration.partitions import register_batches

REGISTER_SENSOR = "register_configured_batches"


def register_batches_sensor(config: RunConfig) -> dg.SensorDefinition:
    @dg.sensor(
        name=REGISTER_SENSOR,
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Adds the batches the config plans as partitions, so they can be backfilled.",
    )
    def _register(context: dg.SensorEvaluationContext) -> dg.SkipReason:
        added = register_batches(context.instance, config)
        return dg.SkipReason(f"added batches {added}" if added else "all batches registered")

    return _register
