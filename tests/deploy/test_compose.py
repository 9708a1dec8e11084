"""What can be checked of the compose deployment without a Docker engine: the compose file against
the compose-spec schema, its shape, that every variable and connection it sets is read by the code,
the secrets story, and that the image installs from the same lock."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import yaml

from cryptolstm.ui import dashboard
from psycopg2.extensions import parse_dsn

from cryptolstm.dsn import dsn_from_airflow_conn
from cryptolstm.environment import load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yaml").read_text())
DOCKERFILE = (ROOT / "Dockerfile").read_text()
AIRFLOW_SERVICES = ["airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-triggerer", "airflow-worker"]
CODE_DIRS = [ROOT / "cryptolstm", ROOT / "dags", ROOT / "plugins"]


def _dotenv(path: Path) -> dict[str, str]:
    """KEY=value lines with ` # comments`, the way compose reads .env."""
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        env[key.strip()] = re.split(r"\s+#", value, maxsplit=1)[0].strip()
    return env


_VAR = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, env: dict[str, str]) -> str:
    """Compose-style interpolation: ${X}, ${X:-default}, ${X-default}, ${X:?error}, $$ -> $."""
    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group("name"), m.group("op"), m.group("arg")
        val = env.get(name)
        if op in (":?", "?") and (val is None or (op == ":?" and val == "")):
            raise KeyError(f"required variable {name} unset: {arg}")
        if op == ":-" and not val or op == "-" and val is None:
            return arg
        return val or ""
    return _VAR.sub(sub, value)


def _service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    raw = COMPOSE["services"][name].get("environment", {})
    return {k: _interpolate(str(v), env) for k, v in raw.items()}


def _code_text() -> str:
    return "\n".join(p.read_text() for d in CODE_DIRS for p in d.rglob("*.py"))


def _compose_schema() -> dict:
    """The compose-spec JSON schema as vendored by check-jsonschema (a test dependency in the lock)."""
    files = [f for f in metadata.files("check-jsonschema") if f.name == "compose-spec.json"]
    assert files, "check-jsonschema does not ship compose-spec.json any more"
    return json.loads(files[0].locate().read_text())


def test_compose_file_is_valid_against_the_compose_spec_schema():
    import jsonschema

    schema = _compose_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    errors = sorted(cls(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_schema_check_catches_a_broken_file():
    import jsonschema

    schema = _compose_schema()
    broken = {**COMPOSE, "services": {**COMPOSE["services"], "postgres": {
        **COMPOSE["services"]["postgres"], "healthcheck": {"interval": 10, "retries": "many"}}}}
    assert list(jsonschema.validators.validator_for(schema)(schema).iter_errors(broken))


def test_shape_follows_airflow_official_compose():
    services = COMPOSE["services"]
    common = COMPOSE["x-airflow-common"]
    for name in AIRFLOW_SERVICES:
        svc = services[name]
        assert svc["image"] == common["image"] and svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == \
            "${AIRFLOW_EXECUTOR:-LocalExecutor}", name
    commands = {n: services[n]["command"] for n in AIRFLOW_SERVICES if n != "airflow-init"}
    assert commands == {"airflow-apiserver": "api-server", "airflow-scheduler": "scheduler",
                        "airflow-dag-processor": "dag-processor", "airflow-triggerer": "triggerer",
                        "airflow-worker": "celery worker --queues ${AIRFLOW_WORKER_QUEUES:-default,train}"}
    # LocalExecutor by default: only redis and the worker sit in the `celery` profile
    assert {n for n, s in services.items() if s.get("profiles")} == {"redis", "airflow-worker"}
    assert all(services[n]["profiles"] == ["celery"] for n in ("redis", "airflow-worker"))
    assert "healthcheck" in services["postgres"] and "pg_isready" in services["postgres"]["healthcheck"]["test"]
    for name in AIRFLOW_SERVICES[1:5]:
        assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}
        assert services[name]["depends_on"]["postgres"] == {"condition": "service_healthy"}
        assert "healthcheck" in services[name], name
    assert "/api/v2/monitor/health" in json.dumps(services["airflow-apiserver"]["healthcheck"])
    init = "\n".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init and "cryptolstm db migrate" in init
    assert "cryptolstm services pools >" in init and "airflow pools import" in init  # before any task is queued
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in (ROOT / "docker-compose.yaml").read_text()


def test_ui_is_published_on_loopback_by_default():
    """Issue 12 §5: 8080 was published on every interface; now 127.0.0.1 unless AIRFLOW_API_BIND says otherwise."""
    published = COMPOSE["services"]["airflow-apiserver"]["ports"]
    assert [_interpolate(p, {}) for p in published] == ["127.0.0.1:8080:8080"]
    assert [_interpolate(p, {"AIRFLOW_API_BIND": "0.0.0.0", "AIRFLOW_API_PORT": "9090"}) for p in published] == \
        ["0.0.0.0:9090:8080"]
    for name, svc in COMPOSE["services"].items():  # every other published port is loopback-only too
        for p in svc.get("ports", []):
            assert _interpolate(str(p), {}).startswith("127.0.0.1:"), (name, p)


def test_worker_serves_both_queues_by_default_and_can_be_split():
    from cryptolstm.runtime.services import WORKER_QUEUES

    cmd = COMPOSE["services"]["airflow-worker"]["command"]
    assert _interpolate(cmd, {}) == "celery worker --queues " + ",".join(WORKER_QUEUES)
    assert _interpolate(cmd, {"AIRFLOW_WORKER_QUEUES": "train"}) == "celery worker --queues train"
    assert "AIRFLOW_WORKER_QUEUES" in (ROOT / "docs" / "deploy.md").read_text()


def test_postgres_runs_the_init_script_with_the_variables_it_reads():
    pg = COMPOSE["services"]["postgres"]
    assert "./docker/postgres-init:/docker-entrypoint-initdb.d:ro" in pg["volumes"]
    scripts = sorted((ROOT / "docker" / "postgres-init").glob("*"))
    assert scripts and all(s.suffix in (".sh", ".sql") for s in scripts)
    text = "\n".join(s.read_text() for s in scripts)
    for var in pg["environment"]:
        if not var.startswith("POSTGRES_"):
            assert var in text, f"postgres gets {var} but no init script reads it"
    assert "CREATE DATABASE cryptolstm" in text and "CREATE ROLE cryptolstm_reader" in text


def test_every_variable_and_connection_set_is_read_by_the_code():
    code = _code_text()
    common = COMPOSE["x-airflow-common"]["environment"]
    for var in common:
        if var.startswith("CRYPTOLSTM_"):
            assert f'"{var}"' in code, f"compose sets {var} but cryptolstm/dags/plugins never read it"
        elif var.startswith("AIRFLOW_CONN_"):
            conn_id = var.removeprefix("AIRFLOW_CONN_").lower()
            provider_default = conn_id == "smtp_default"  # SmtpHook / SmtpNotifier's default connection
            assert provider_default or f'"{var}"' in code or f'"{conn_id}"' in code, \
                f"compose sets connection {conn_id} but no code uses it"
        else:
            assert var.startswith("AIRFLOW__"), var
    if "smtp_default" in {v.removeprefix("AIRFLOW_CONN_").lower() for v in common}:
        from importlib.util import find_spec

        hook = Path(find_spec("airflow.providers.smtp.hooks.smtp").origin).read_text()
        assert 'default_conn_name = "smtp_default"' in hook
    # airflow-init's own variables are used by its command
    init = COMPOSE["services"]["airflow-init"]
    for var in set(init["environment"]) - set(common):
        assert f"$${{{var}}}" in "\n".join(init["command"]), var


def test_every_airflow_option_set_exists_in_airflow_config():
    """AIRFLOW__SECTION__KEY names are checked against Airflow's own option catalogue (config.yml) and,
    for [celery], the celery provider's (pinned in requirements.lock)."""
    from importlib.util import find_spec

    from airflow.providers.celery.get_provider_info import get_provider_info

    airflow_dir = Path(find_spec("airflow").submodule_search_locations[0])  # no import: no config side effects
    catalogue = yaml.safe_load((airflow_dir / "config_templates" / "config.yml").read_text())
    catalogue.update(get_provider_info()["config"])
    opts = [v for v in COMPOSE["x-airflow-common"]["environment"] if v.startswith("AIRFLOW__")]
    unknown = []
    for opt in opts:
        section, key = (p.lower() for p in opt.split("__")[1:3])
        if key not in (catalogue.get(section) or {}).get("options", {}):
            unknown.append(opt)
    assert unknown == []


def test_connections_resolve_to_what_the_library_expects():
    env = _dotenv(ROOT / ".env.example")
    common = {k: _interpolate(str(v), env) for k, v in COMPOSE["x-airflow-common"]["environment"].items()}
    assert parse_dsn(load_settings(common).dsn) == parse_dsn("postgresql://cryptolstm:change-me@postgres:5432/cryptolstm")
    assert parse_dsn(dashboard.reader_dsn(common)) \
        == parse_dsn("postgresql://cryptolstm_reader:change-me@postgres:5432/cryptolstm")
    assert parse_dsn(dsn_from_airflow_conn(common["AIRFLOW_CONN_CRYPTOLSTM_READER"]))["dbname"] == "cryptolstm"
    smtp = json.loads(common["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert smtp["conn_type"] == "smtp" and smtp["host"] == "mailpit" and smtp["port"] == 1025
    assert smtp["extra"]["disable_tls"] is True and smtp["extra"]["disable_ssl"] is True  # JSON booleans
    settings = load_settings(common)
    assert settings.market.coins == ("BTC", "ETH", "BNB", "XRP", "ADA", "SOL", "DOGE", "LTC", "LINK")
    assert settings.market.api_url is None  # empty -> the real exchange
    assert common["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert _service_env("airflow-init", env)["AIRFLOW_WWW_PASSWORD"] == "change-me"


def test_no_secret_is_committed():
    env = _dotenv(ROOT / ".env.example")
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yaml").read_text()))
    assert required <= set(env), f".env.example lacks {sorted(required - set(env))}"
    for key in required:
        assert env[key].startswith("change-me"), f"{key} has a real-looking value in .env.example"
    with pytest.raises(KeyError, match="POSTGRES_PASSWORD"):
        _interpolate(COMPOSE["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"], {})
    assert ".env" in (ROOT / ".gitignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()
    tracked = subprocess.run(["git", "ls-files", ".env"], cwd=ROOT, capture_output=True, text=True).stdout
    assert tracked.strip() == ""


def _check_secrets(env: dict[str, str]) -> subprocess.CompletedProcess:
    """docker/check-secrets.sh as compose runs it: the `check-secrets` service's environment from `env`."""
    return subprocess.run(["sh", str(ROOT / "docker" / "check-secrets.sh")], env=_service_env("check-secrets", env),
                          capture_output=True, text=True, timeout=30)


def test_compose_refuses_the_placeholder_secrets_and_says_how_to_make_one():
    """Issue 20: compose started on the .env.example placeholders, a public AIRFLOW_JWT_SECRET included."""
    services = COMPOSE["services"]
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yaml").read_text()))
    assert set(services["check-secrets"]["environment"]) == required  # every secret compose requires is checked
    # nothing holding a secret starts before the check has passed
    for name, svc in services.items():
        if name != "check-secrets" and required & set(svc.get("environment", {})):
            assert svc["depends_on"]["check-secrets"] == {"condition": "service_completed_successfully"}, name
    placeholders = _check_secrets(_dotenv(ROOT / ".env.example"))
    assert placeholders.returncode != 0
    refused = placeholders.stderr.splitlines()
    assert {line.split()[3] for line in refused} == required  # "refusing to start: NAME ..." once per secret
    assert all("secrets.token_urlsafe" in line for line in refused)
    real = {name: secrets.token_urlsafe(48) for name in required}
    assert _check_secrets(real).returncode == 0
    short_jwt = _check_secrets({**real, "AIRFLOW_JWT_SECRET": secrets.token_urlsafe(24)})
    assert short_jwt.returncode != 0
    assert short_jwt.stderr.startswith("refusing to start: AIRFLOW_JWT_SECRET in .env has 32 characters, it needs 64")


def test_check_secrets_refuses_the_placeholder_in_any_case():
    """Issue 27 §4: `change-me` was matched case-sensitively, so `CHANGE-ME` (or `Change-Me-...`) passed."""
    required = set(re.findall(r"\$\{([A-Z0-9_]+):\?", (ROOT / "docker-compose.yaml").read_text()))
    real = {name: secrets.token_urlsafe(48) for name in required}
    for placeholder in ("CHANGE-ME", "Change-Me-please", "cHaNgE-mE-" + "x" * 64):
        out = _check_secrets({**real, "CRYPTOLSTM_DB_PASSWORD": placeholder})
        assert out.returncode != 0, placeholder
        assert out.stderr.splitlines() == [
            "refusing to start: CRYPTOLSTM_DB_PASSWORD in .env is unset or the .env.example placeholder; make one "
            "with: python3 -c \"import secrets; print(secrets.token_urlsafe(48))\""], placeholder
    assert _check_secrets({**real, "CRYPTOLSTM_DB_PASSWORD": "exchange-me-not-" + "x" * 40}).returncode == 0


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not pinned"
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_dockerfile_installs_from_the_same_lock():
    lock = _pins(ROOT / "requirements.lock")
    assert re.search(r"^FROM python:3\.11[-.\w]*$", DOCKERFILE, re.M), "image Python must be 3.11 like the lock"
    assert re.search(r"^COPY requirements\.lock .*/opt/cryptolstm/$", DOCKERFILE, re.M)
    runs = re.findall(r"^RUN pip install (.*?)(?:&&|$)", DOCKERFILE.replace("\\\n", " "), re.M)
    assert runs, "no pip install step"
    for run in runs:  # every install step is constrained by the lock
        assert "-c /opt/cryptolstm/requirements.lock" in run, run
    assert "-r /opt/cryptolstm/requirements.lock" in runs[0]
    assert "--no-deps" in runs[-1] and "/opt/cryptolstm" in runs[-1]  # the project adds nothing outside it
    assert "_PIP_ADDITIONAL_REQUIREMENTS" not in DOCKERFILE
    # the lock pins every dependency of the package, the CeleryExecutor's included
    import tomllib

    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in deps:
        name = re.sub(r"[-_.]+", "-", re.split(r"[\[<>=~!; ]", dep, maxsplit=1)[0]).lower()
        assert name in lock, f"{name} is a dependency but not pinned in requirements.lock"
    assert {"apache-airflow-providers-celery", "celery", "redis", "kombu"} <= set(lock)
