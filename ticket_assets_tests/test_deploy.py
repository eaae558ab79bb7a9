"""deploy/: what can be checked without Docker or Kubernetes. Every YAML file parses; the
Postgres and Docker instance files keep dagster.yaml's run queue and pools and the psycopg2
scheme; the compose file has its five services wired to the same network, volume and
variables as the run launcher; the Helm values use the K8s run launcher with the code
location's image and the same queue and pools; the Dockerfile ships what a run reads.
(Schema validation of the compose file and the Helm values needs the Compose spec's and the
chart's schemas, which the repository does not hold: docs/scaling-out.md says how.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import dagster as dg
import dagster_postgres
import pytest
import yaml

from ticket_assets.config import load_config

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
# The blocks the Postgres and Docker instance files copy from dagster.yaml, the source of truth.
COPIED_BLOCKS = ("telemetry", "run_coordinator", "concurrency")
COMPOSE_SERVICES = {"postgres", "minio", "code", "webserver", "daemon"}
PSYCOPG2 = "postgresql+psycopg2"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _env_example() -> dict[str, str]:
    lines = (DEPLOY / ".env.example").read_text(encoding="utf-8").splitlines()
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return dict(pairs)


@pytest.mark.parametrize(
    "path",
    sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"}),
    ids=lambda p: str(p.relative_to(DEPLOY)),
)
def test_every_yaml_file_parses(path: Path) -> None:
    assert list(yaml.safe_load_all(path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("name", ["dagster.postgres.yaml", "dagster.docker.yaml"])
def test_instance_files_copy_the_run_queue_and_pools_and_use_psycopg2(name: str) -> None:
    source, copy = _yaml(ROOT / "dagster.yaml"), _yaml(DEPLOY / name)
    for block in COPIED_BLOCKS:
        assert copy[block] == source[block], f"{name}: {block} differs from dagster.yaml"
    assert copy["storage"]["postgres"]["postgres_db"]["scheme"] == PSYCOPG2
    if name == "dagster.docker.yaml":
        assert copy["storage"] == _yaml(DEPLOY / "dagster.postgres.yaml")["storage"]
        assert copy["run_launcher"]["class"] == "DockerRunLauncher"


def test_compose_runs_five_services_on_the_launchers_network_volume_and_variables() -> None:
    compose = _yaml(DEPLOY / "docker-compose.yml")
    services = compose["services"]
    assert set(services) == COMPOSE_SERVICES
    images = {services[name]["image"] for name in ("code", "webserver", "daemon")}
    assert len(images) == 1
    launcher = _yaml(DEPLOY / "dagster.docker.yaml")["run_launcher"]["config"]
    assert compose["networks"]["ticket_assets"]["name"] == launcher["network"]
    volume = launcher["container_kwargs"]["volumes"][0].split(":")[0]
    assert compose["volumes"]["dagster_storage"]["name"] == volume
    # The launcher copies these from the daemon's environment; an unset one fails the launch.
    assert set(launcher["env_vars"]) <= set(services["daemon"]["environment"])
    assert "DAGSTER_CURRENT_IMAGE" in services["code"]["environment"]
    # The webserver and the daemon open the instance of dagster.docker.yaml.
    settings = "./dagster.docker.yaml:/opt/dagster/dagster_home/dagster.yaml:ro"
    assert all(settings in services[name]["volumes"] for name in ("webserver", "daemon"))
    # Every variable compose insists on has a line in .env.example.
    text = (DEPLOY / "docker-compose.yml").read_text(encoding="utf-8")
    required = set(re.findall(r"\$\{(\w+):\?", text))
    assert required and required <= set(_env_example())


def test_the_cluster_config_keeps_its_tables_in_a_lake_on_the_compose_bucket() -> None:
    config = load_config(DEPLOY / "ticket_assets.cluster.yaml")
    assert config.storage.backend == "ducklake"
    assert config.storage.postgres_conninfo == "dbname=ducklake"
    assert config.storage.data_path == f"s3://{_env_example()['S3_BUCKET']}/lake/"
    assert "ducklake" in (DEPLOY / "postgres" / "create-databases.sql").read_text()
    # Its relative paths are taken from deploy/: the image's data/ (writable), tables/, prompts/.
    assert config.data_path.resolve() == ROOT / "data"
    assert config.tables_path.resolve() == ROOT / "tables"
    assert config.prompts_path.resolve() == ROOT / "prompts"


def _helm_values() -> dict[str, Any]:
    return _yaml(DEPLOY / "helm" / "values.yaml")


def test_helm_values_launch_each_run_in_a_pod_of_the_code_location_image() -> None:
    values = _helm_values()
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["image"]["repository"] and deployment["image"]["tag"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "ticket_assets.definitions"]
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True
    assert deployment["env"]["TICKET_ASSETS_CONFIG"].endswith("deploy/ticket_assets.cluster.yaml")
    assert deployment["envSecrets"]
    assert values["postgresql"]["postgresqlScheme"] == PSYCOPG2
    assert values["generatePostgresqlPasswordSecret"] is False


def _limits(settings: dict[str, Any], tmp_path: Path) -> tuple[object, ...]:
    """The run queue and pool settings Dagster reads from an instance's settings."""
    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(settings), encoding="utf-8")
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        config = instance.get_concurrency_config()
        queue, pools = config.run_queue_config, config.pool_config
        dequeue_s = instance.run_coordinator.inst_data.config_dict["dequeue_interval_seconds"]
    assert queue is not None
    return (
        queue.max_concurrent_runs,
        queue.should_block_op_concurrency_limited_runs,
        queue.op_concurrency_slot_buffer,
        pools.pool_granularity,
        pools.default_pool_limit,
        dequeue_s,
    )


def test_helm_values_keep_the_project_run_queue_and_pools(tmp_path: Path) -> None:
    """The instance settings the chart writes for these values (its run-coordinator template:
    camelCase keys to Dagster's, then additionalInstanceConfig appended) limit runs and steps
    as dagster.yaml does."""
    values = _helm_values()
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    blocking = queued["blockOpConcurrencyLimitedRuns"]
    rendered = {
        "run_coordinator": {
            "module": "dagster.core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {
                "max_concurrent_runs": queued["maxConcurrentRuns"],
                "dequeue_interval_seconds": queued["dequeueIntervalSeconds"],
                "block_op_concurrency_limited_runs": {
                    "enabled": blocking["enabled"],
                    "op_concurrency_slot_buffer": blocking["opConcurrencySlotBuffer"],
                },
            },
        },
        **values["additionalInstanceConfig"],
    }
    project = {block: _yaml(ROOT / "dagster.yaml")[block] for block in COPIED_BLOCKS}
    (tmp_path / "helm").mkdir()
    (tmp_path / "project").mkdir()
    assert _limits(rendered, tmp_path / "helm") == _limits(project, tmp_path / "project")


def test_the_dockerfile_ships_what_a_run_reads_and_runs_as_a_user() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    copied = " ".join(re.findall(r"^COPY (.+)$", text, flags=re.MULTILINE))
    # The license texts too: the image distributes the code (and its metadata names them).
    needed_files = ("uv.lock", "ticket_assets", "prompts", "tables", "ticket_assets.yaml")
    for needed in (*needed_files, "LICENSE", "COPYING"):
        assert needed in copied, needed
    assert "workspace.yaml" in copied and "deploy" in copied
    assert "uv sync --frozen --no-dev" in text
    assert re.search(r"^USER (?!root|0\b)\S+$", text, flags=re.MULTILINE)
    assert '"-m", "ticket_assets.definitions"' in text
    # The run launchers it adds are the locked dagster-postgres's version.
    version = re.search(r"^ARG DAGSTER_LIBRARIES_VERSION=(\S+)$", text, flags=re.MULTILINE)
    assert version is not None and version.group(1) == dagster_postgres.__version__
