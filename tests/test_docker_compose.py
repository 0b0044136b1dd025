"""Structure of the production-shaped stack: docker-compose.yaml, docker/Dockerfile, docker/.env.example.

No Docker engine is needed. The last test also runs `docker compose config` when a
Compose v2 CLI is on PATH (`docker compose` plugin or a v2 `docker-compose`), and skips
otherwise; `config` is client-side and needs no engine either.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENV_EXAMPLE = ROOT / "docker" / ".env.example"

AIRFLOW_SERVICES = (
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-worker",
    "airflow-triggerer",
    "airflow-init",
)
MOUNTED = ("dags", "plugins", "product_specs", "dbt")
DATAHUB_CONN_VAR = "AIRFLOW_CONN_DATAPRODUCTS_DATAHUB"

# ${NAME}, ${NAME:-x}, ${NAME-x}, ${NAME:?x}, ${NAME?x}, ${NAME:+x}, ${NAME+x}
_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}")
_BARE = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


@pytest.fixture(scope="module")
def compose_text() -> str:
    return COMPOSE_FILE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def compose(compose_text: str) -> dict:
    data = yaml.safe_load(compose_text)
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _interpolate(value: str, env: dict[str, str] | None = None) -> str:
    """Compose-style substitution of ${VAR...} with defaults (no env unless given); $$ -> $."""
    env = env or {}
    marker = "\0"
    text = value.replace("$$", marker)

    def sub(m: re.Match) -> str:
        name, op, arg = m.group(1), m.group(2), m.group(3) or ""
        present = name in env
        val = env.get(name, "")
        if op in (":-",):
            return val if val else arg
        if op == "-":
            return val if present else arg
        if op in (":+", "+"):
            return arg if (val if op == ":+" else present) else ""
        return val  # plain or :? / ? (required)

    text = _BRACED.sub(sub, text)
    return text.replace(marker, "$")


def _variables(text: str) -> tuple[set[str], set[str]]:
    """(required, defaulted) variable names referenced by compose interpolation."""
    text = text.replace("$$", "")
    required, defaulted = set(), set()
    for m in _BRACED.finditer(text):
        name, op = m.group(1), m.group(2)
        if op in (None, ":?", "?"):
            required.add(name)
        else:
            defaulted.add(name)
    for m in _BARE.finditer(_BRACED.sub("", text)):
        required.add(m.group(1))
    return required, defaulted


def _env_example_names() -> set[str]:
    names = set()
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            names.add(line.split("=", 1)[0].strip())
    return names


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, None) for item in env)
    return {k: ("" if v is None else str(v)) for k, v in env.items()}


def _depends_on(service: dict) -> list[str]:
    deps = service.get("depends_on") or []
    return list(deps) if isinstance(deps, (list, dict)) else []


def _mount_targets(service: dict) -> dict[str, str]:
    targets = {}
    for vol in service.get("volumes") or []:
        if isinstance(vol, str):
            parts = vol.split(":")
            # "source:target[:mode]"; sources here hold "${AIRFLOW_PROJ_DIR:-.}/x" (a ':')
            source, target = ":".join(parts[:-1]), parts[-1]
            if target in ("ro", "rw", "z", "Z") or not target.startswith("/"):
                source, target = ":".join(parts[:-2]), parts[-2]
            targets[target] = _interpolate(source)
        else:
            targets[vol["target"]] = _interpolate(str(vol.get("source", "")))
    return targets


# ----------------------------------------------------------------------------- graph


def test_every_depends_on_names_an_existing_service(services: dict) -> None:
    for name, service in services.items():
        for dep in _depends_on(service):
            assert dep in services, f"{name} depends on unknown service {dep!r}"


def test_depends_on_conditions_are_valid_and_match_healthchecks(services: dict) -> None:
    allowed = {"service_started", "service_healthy", "service_completed_successfully"}
    for name, service in services.items():
        deps = service.get("depends_on") or {}
        if not isinstance(deps, dict):
            continue
        for dep, spec in deps.items():
            condition = (spec or {}).get("condition", "service_started")
            assert condition in allowed, f"{name} -> {dep}: {condition}"
            if condition == "service_healthy":
                assert "healthcheck" in services[dep], f"{name} waits for {dep} to be healthy, but it has no healthcheck"
            if condition == "service_completed_successfully":
                assert services[dep].get("restart", "no") == "no", f"{dep} is a one-shot job and must not restart"


def test_no_dependency_cycles(services: dict) -> None:
    state: dict[str, int] = {}

    def visit(name: str, path: tuple[str, ...]) -> None:
        if state.get(name) == 2:
            return
        assert state.get(name) != 1, f"dependency cycle: {' -> '.join(path + (name,))}"
        state[name] = 1
        for dep in _depends_on(services[name]):
            visit(dep, path + (name,))
        state[name] = 2

    for name in services:
        visit(name, ())


def test_airflow_does_not_need_datahub_to_start(services: dict) -> None:
    """The documented `docker compose up -d airflow-...` subset must not pull DataHub in."""

    def closure(name: str, seen: set[str]) -> set[str]:
        for dep in _depends_on(services[name]):
            if dep not in seen:
                seen.add(dep)
                closure(dep, seen)
        return seen

    for name in AIRFLOW_SERVICES:
        pulled = closure(name, set())
        assert not {d for d in pulled if d.startswith("datahub")}, f"{name} pulls in {pulled}"


# ----------------------------------------------------------------------------- Airflow


def test_airflow_services_exist(services: dict) -> None:
    missing = [s for s in AIRFLOW_SERVICES if s not in services]
    assert not missing


def test_airflow_services_share_image_build_and_env_anchor(compose: dict, services: dict) -> None:
    common = compose["x-airflow-common"]
    common_env = {k: str(v) for k, v in common["environment"].items()}
    assert common["build"]["dockerfile"] == "docker/Dockerfile"
    assert (ROOT / common["build"].get("context", ".") / common["build"]["dockerfile"]).is_file()
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service.get("build") == common["build"], name
        assert service.get("image") == common["image"], name
        env = _env(service)
        for key, value in common_env.items():
            assert env.get(key) == value, f"{name}: {key} differs from the x-airflow-common env"


def test_no_other_service_builds_the_airflow_image(compose: dict, services: dict) -> None:
    image = compose["x-airflow-common"]["image"]
    for name, service in services.items():
        if service.get("image") == image or "build" in service:
            assert service.get("build") == compose["x-airflow-common"]["build"], name


def test_celery_executor_with_redis_broker_and_postgres_backends(compose: dict, services: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert services["airflow-worker"]["command"] == "celery worker"

    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis" and broker.hostname in services
    assert services[broker.hostname]["image"].startswith("redis:")

    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        url = urlsplit(env[key])
        assert "postgresql" in url.scheme, key
        assert url.hostname == "postgres", key
    assert env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_secrets_come_from_env_file(compose: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET"):
        required, _ = _variables(env[key])
        assert required, f"{key} must be taken from .env without a default"


def test_redis_and_two_postgres_services(services: dict) -> None:
    images = [s.get("image", "") for s in services.values()]
    assert sum(i.startswith("redis:") for i in images) == 1
    postgres = [n for n, s in services.items() if s.get("image", "").startswith("postgres:")]
    assert sorted(postgres) == ["postgres", "warehouse-postgres"]


def test_project_folders_are_mounted_into_every_airflow_service(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        targets = _mount_targets(services[name])
        for folder in MOUNTED:
            target = f"/opt/airflow/{folder}"
            assert target in targets, f"{name} does not mount {folder}"
            assert targets[target] == f"./{folder}", f"{name}: {target} <- {targets[target]}"


def test_execution_api_url_points_at_the_api_server(compose: dict, services: dict) -> None:
    url = urlsplit(compose["x-airflow-common"]["environment"]["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver"
    assert url.path == "/execution/"
    api = services["airflow-apiserver"]
    assert api["command"] == "api-server"
    # The api-server listens on 8080 in the container; the URL must use that port.
    assert (url.port or 80) == 8080
    assert any(str(p).endswith(":8080") for p in api.get("ports", []))


def test_dataproducts_settings_point_at_the_warehouse(compose: dict, services: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["DATAPRODUCTS_HOME"] == "/opt/airflow"
    assert env["DATAPRODUCTS_DBT_TARGET"] == "postgres"
    assert env["DBT_PROFILES_DIR"] == "/opt/airflow/dbt"
    assert env["DATAPRODUCTS_PG_HOST"] == "warehouse-postgres"
    assert env["DATAPRODUCTS_PG_PORT"] == "5432"
    wh_env = _env(services["warehouse-postgres"])
    # The dbt credentials are the ones the warehouse container is created with.
    assert env["DATAPRODUCTS_PG_USER"] == wh_env["POSTGRES_USER"]
    assert env["DATAPRODUCTS_PG_PASSWORD"] == wh_env["POSTGRES_PASSWORD"]
    assert env["DATAPRODUCTS_PG_DBNAME"] == wh_env["POSTGRES_DB"]
    # Every Airflow container waits for the warehouse.
    for name in AIRFLOW_SERVICES:
        deps = services[name]["depends_on"]
        assert deps["warehouse-postgres"]["condition"] == "service_healthy", name


def test_airflow_init_migrates_creates_admin_pool_and_compiles(services: dict) -> None:
    init = services["airflow-init"]
    env = _env(init)
    assert env["_AIRFLOW_DB_MIGRATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    script = "\n".join(init["command"]) if isinstance(init["command"], list) else init["command"]
    assert re.search(r"airflow pools set dataproducts_warehouse 8\b", script)
    assert "dataproducts compile" in script
    # The pool runs after the migration (the first /entrypoint call) and compile after it.
    assert script.index("/entrypoint airflow version") < script.index("pools set") < script.index("dataproducts compile")
    for name in AIRFLOW_SERVICES:
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_airflow_healthchecks_like_the_official_file(services: dict) -> None:
    for name in AIRFLOW_SERVICES:
        if name == "airflow-init":
            continue
        assert "healthcheck" in services[name], name
    assert services["airflow-worker"]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    assert services["airflow-worker"]["environment"]["DUMB_INIT_SETSID"] == "0"


def test_compose_runs_the_same_production_stack_as_the_demo_and_its_tests(compose: dict, services: dict, tmp_path) -> None:
    """`./run demo --stack celery` and tests/production start the stack with the settings in
    dataproducts.ops.celery_stack; docker-compose.yaml must give Airflow the same ones."""
    from dataproducts.core.project import Project
    from dataproducts.ops.celery_stack import (
        LOCAL_ONLY_SETTINGS,
        PRODUCTION_SETTINGS,
        WAREHOUSE_POOL_SLOTS,
        CeleryStack,
        StackSettings,
    )

    env = {k: str(v) for k, v in compose["x-airflow-common"]["environment"].items()}
    differing = {k: (v, env.get(k)) for k, v in PRODUCTION_SETTINGS.items() if env.get(k) != v}
    assert not differing, f"docker-compose.yaml differs from PRODUCTION_SETTINGS (stack, compose): {differing}"
    stack_keys = set(CeleryStack(Project(tmp_path), tmp_path / "home", StackSettings()).stack_env())
    assert not (stack_keys - LOCAL_ONLY_SETTINGS) - set(env), "settings the stack gives Airflow that compose does not"
    assert env["DATAPRODUCTS_PG_ROLE_PREFIX"] == StackSettings().role_prefix
    script = "\n".join(services["airflow-init"]["command"])
    assert re.search(rf"airflow pools set dataproducts_warehouse {WAREHOUSE_POOL_SLOTS}\b", script)
    assert script.index("dataproducts compile") < script.index("dataproducts warehouse provision")
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY"):
        required, _ = _variables(env[key])
        assert required, f"{key} must be one secret from .env for every container, without a default"
    for name in AIRFLOW_SERVICES:  # the stack starts an exited component again; so must compose
        if name != "airflow-init":
            assert services[name].get("restart") == "always", name


# ----------------------------------------------------------------------------- DataHub


def test_datahub_services_exist(services: dict) -> None:
    for name in ("datahub-gms", "datahub-frontend-react", "datahub-system-update"):
        assert name in services
    assert services["datahub-gms"]["image"].startswith("acryldata/datahub-gms:")
    assert services["datahub-frontend-react"]["image"].startswith("acryldata/datahub-frontend-react:")
    assert services["datahub-system-update"]["image"].startswith("acryldata/datahub-upgrade:")
    assert services["datahub-system-update"]["command"] == ["-u", "SystemUpdate"]
    frontend_ports = [str(p) for p in services["datahub-frontend-react"]["ports"]]
    assert any(_interpolate(p).endswith("9002:9002") for p in frontend_ports)
    for name in ("datahub-gms", "datahub-frontend-react"):
        assert services[name]["depends_on"]["datahub-system-update"]["condition"] == "service_completed_successfully"


def test_datahub_backing_services_are_reachable_by_the_configured_hosts(services: dict) -> None:
    gms = _env(services["datahub-gms"])
    kafka_host = gms["KAFKA_BOOTSTRAP_SERVER"].split(":")[0]
    assert kafka_host in services
    assert gms["ELASTICSEARCH_HOST"] in services
    assert gms["EBEAN_DATASOURCE_HOST"].split(":")[0] in services
    kafka_env = _env(services[kafka_host])
    assert kafka_env["KAFKA_PROCESS_ROLES"].replace(" ", "") in ("broker,controller", "controller,broker")
    assert "KAFKA_ZOOKEEPER_CONNECT" not in kafka_env
    assert f"{kafka_host}:29092" in kafka_env["KAFKA_ADVERTISED_LISTENERS"]
    frontend = _env(services["datahub-frontend-react"])
    assert frontend["DATAHUB_GMS_HOST"] == "datahub-gms" and frontend["DATAHUB_GMS_PORT"] == "8080"
    # GMS and its clients must agree on the shared secrets.
    for key in ("DATAHUB_SYSTEM_CLIENT_SECRET",):
        assert gms[key] == frontend[key] == _env(services["datahub-system-update"])[key]


def test_airflow_datahub_connection_points_at_gms(compose: dict, services: dict) -> None:
    env = compose["x-airflow-common"]["environment"]
    assert env["AIRFLOW__DATAHUB__CONN_ID"] == "dataproducts_datahub"
    assert str(env["AIRFLOW__DATAHUB__CAPTURE_AIRFLOW_ASSETS"]).lower() == "false"
    assert "AIRFLOW__DATAHUB__ENABLED" in env
    # Connection id <-> env var name, as Airflow derives it.
    assert "AIRFLOW_CONN_" + env["AIRFLOW__DATAHUB__CONN_ID"].upper() == DATAHUB_CONN_VAR

    conn = json.loads(_interpolate(env[DATAHUB_CONN_VAR]))
    assert conn["conn_type"] == "datahub-rest"
    url = urlsplit(conn["host"])
    assert url.scheme == "http"
    gms = services["datahub-gms"]
    assert url.hostname == "datahub-gms" and gms.get("hostname", "datahub-gms") == "datahub-gms"
    # The port in the URL is the one GMS listens on inside the network (container side).
    container_ports = {int(_interpolate(str(p)).split(":")[-1]) for p in gms["ports"]}
    assert url.port in container_ports
    health = " ".join(gms["healthcheck"]["test"])
    assert f":{url.port}/health" in health


# ----------------------------------------------------------------------------- files


def test_every_required_variable_is_in_env_example(compose_text: str) -> None:
    required, _ = _variables(compose_text)
    missing = sorted(required - _env_example_names())
    assert not missing, f"add to docker/.env.example: {missing}"


def test_env_example_has_no_unknown_variables(compose_text: str) -> None:
    required, defaulted = _variables(compose_text)
    unknown = sorted(_env_example_names() - required - defaulted)
    assert not unknown, f"docker/.env.example sets variables docker-compose.yaml does not use: {unknown}"


def test_variable_parser_understands_compose_syntax() -> None:
    text = "a: ${A}\nb: ${B:-x}\nc: ${C:?err msg}\nd: $$HOSTNAME $${E}\nf: ${F-}\ng: $G"
    required, defaulted = _variables(text)
    assert required == {"A", "C", "G"}
    assert defaulted == {"B", "F"}
    assert _interpolate('{"host": "${H:-http://x:8080}"}') == '{"host": "http://x:8080"}'


def test_dockerfile_is_based_on_airflow_3_3() -> None:
    lines = [line.strip() for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()]
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert froms, "no FROM line"
    assert re.fullmatch(r"apache/airflow:3\.3\.\d+(-python3\.\d+)?", froms[-1]), froms[-1]
    text = "\n".join(lines)
    for pin in ("acryl-datahub-airflow-plugin==1.7.0.17", "acryl-datahub==1.7.0.17", "dbt-core>=1.11,<1.12", "dbt-postgres"):
        assert pin in text, pin
    assert '"apache-airflow==${AIRFLOW_VERSION}"' in text


# ----------------------------------------------------------------------------- compose CLI


def _compose_cli() -> list[str] | None:
    def ok(cmd: list[str]) -> str | None:
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    if shutil.which("docker") and ok(["docker", "compose", "version", "--short"]):
        return ["docker", "compose"]
    if shutil.which("docker-compose"):
        version = ok(["docker-compose", "version", "--short"])
        if version and not version.lstrip("v").startswith("1."):
            return ["docker-compose"]
    return None


def test_docker_compose_config_accepts_the_file() -> None:
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no Docker Compose v2 CLI on PATH (neither `docker compose` nor a v2 `docker-compose`)")
    # --env-file: validate with the example values, not a developer's own .env.
    base = [*cli, "--project-directory", str(ROOT), "-f", str(COMPOSE_FILE), "--env-file", str(ENV_EXAMPLE)]
    result = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    # Fully resolved model: the JSON connection survives interpolation intact.
    result = subprocess.run([*base, "config", "--format", "json"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    model = json.loads(result.stdout)
    conn = json.loads(model["services"]["airflow-worker"]["environment"][DATAHUB_CONN_VAR])
    assert conn == {"conn_type": "datahub-rest", "host": "http://datahub-gms:8080", "password": ""}
    # Every profile's services resolve too.
    result = subprocess.run([*base, "--profile", "*", "config", "-q"], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert result.returncode == 0, result.stderr
