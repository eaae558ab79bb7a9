"""A run launcher for tests: each run in its own process with its own empty data directory.

What DockerRunLauncher or K8sRunLauncher give each run (a container or pod with its own disk),
on one machine: the run's `dagster api execute_run` process gets
`TICKET_ASSETS_DATA_DIR=<scratch_root>/<run id>`, so it shares nothing with other runs but
what the instance and the storage settings name (Postgres, the DuckLake). Configured in the
instance's dagster.yaml:

    run_launcher:
      module: ticket_assets_tests.scratch_launcher
      class: ScratchDirRunLauncher
      config: {scratch_root: /tmp/scratch}
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from dagster._core.launcher import LaunchRunContext, RunLauncher
from dagster._grpc.types import ExecuteRunArgs
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from ticket_assets.config import DATA_DIR_ENV_VAR

PID_TAG, SCRATCH_TAG = "test/scratch_pid", "test/scratch_dir"


class ScratchDirRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, scratch_root: str, inst_data: ConfigurableClassData | None = None) -> None:
        self.scratch_root = Path(scratch_root)
        self._inst_data = inst_data
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"scratch_root": str}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
    ) -> Self:
        return cls(scratch_root=config_value["scratch_root"], inst_data=inst_data)

    def launch_run(self, context: LaunchRunContext) -> None:
        run = context.dagster_run
        origin = context.job_code_origin
        assert origin is not None, "runs launched from the UI carry their code origin"
        arguments = ExecuteRunArgs(
            job_origin=origin, run_id=run.run_id, instance_ref=self._instance.get_ref()
        ).get_command_args()
        # This interpreter's dagster: the origin names none when the workspace gives a module.
        command = [sys.executable, "-m", "dagster", *arguments[arguments.index("api") :]]
        scratch = self.scratch_root / run.run_id
        scratch.mkdir(parents=True)
        with (scratch / "run.log").open("wb") as log:
            process = subprocess.Popen(
                command,
                cwd=scratch,
                env={**os.environ, DATA_DIR_ENV_VAR: str(scratch / "data")},
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._instance.add_run_tags(
            run.run_id, {PID_TAG: str(process.pid), SCRATCH_TAG: str(scratch)}
        )

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is None or PID_TAG not in run.tags:
            return False
        try:
            os.killpg(int(run.tags[PID_TAG]), signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True
