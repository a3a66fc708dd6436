"""docker-compose.yml read for who holds which secret and who can reach whom (docs/security.md,
"Deployment"): each container gets only the secrets it uses, Redis asks every client for a
password, noVNC reaches the gateway and nothing else, and the gateway reads its passwords from
files instead of its environment."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import redis
from event_broker.settings import BrokerSettings
from pydantic import SecretStr
from rebalancer_shared.settings import Settings
from redis.backoff import NoBackoff
from redis.retry import Retry

from tests.deploy.files import (
    COMPOSE,
    DEMO_COMPOSE,
    ROOT,
    MissingVariable,
    interpolate,
    load_compose,
    referenced_variables,
    required_variables,
)
from tests.support.redis_server import RedisServer

REDIS_PASSWORD = "9f86d081884c7d65d4b4ba2c4a64b8e3"
ENV = {
    "IB_USERNAME": "jdoe123",
    "IB_PASSWORD": "hunter2",
    "VNC_PASSWORD": "s3cret-vnc",
    "REDIS_PASSWORD": REDIS_PASSWORD,
}
APP_SERVICES = ("event-broker", "event-processor", "management-service")


def _is_secret(annotation: Any) -> bool:
    return annotation is SecretStr or SecretStr in getattr(annotation, "__args__", ())


# What .env holds that is a secret: every SecretStr setting, the IB login (it is one half of the
# credentials) and Redis's password (part of REDIS_URL inside Docker).
SECRETS = {
    *(
        name.upper()
        for name, field in Settings.model_fields.items()
        if _is_secret(field.annotation)
    ),
    "IB_USERNAME",
    "REDIS_PASSWORD",
}
# Which container may see which secret, and why.
NEEDS = {
    "redis": {"REDIS_PASSWORD"},
    # IB's login and the screen's password: only the gateway logs in and serves the screen.
    "ib-gateway": {"IB_USERNAME", "IB_PASSWORD", "VNC_PASSWORD"},
    "novnc": set(),  # the browser asks for the VNC password; the gateway checks it
    # The stream's key to subscribe, the allocations API's key for the catch-up checks.
    "event-broker": {
        "REBALANCE_EVENT_SUBSCRIPTION_API_KEY",
        "ALLOCATIONS_API_KEY",
        "REDIS_PASSWORD",
    },
    # The allocations of each event, and the notifications it sends.
    "event-processor": {"ALLOCATIONS_API_KEY", "NOTIFY_URLS", "REDIS_PASSWORD"},
    "management-service": {"MANAGEMENT_API_TOKEN", "REDIS_PASSWORD"},
}


def env_file_names() -> set[str]:
    """Every variable of .env (the user's copy of .env.example)."""
    text = (ROOT / ".env.example").read_text(encoding="utf-8")
    return set(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def environment_of(service: dict[str, Any]) -> dict[str, Any]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        pairs = [item.partition("=") for item in environment]
        return {name: value if sep else None for name, sep, value in pairs}
    return dict(environment)


def visible(model: dict[str, Any], name: str) -> set[str]:
    """The .env variables whose values reach the container of service `name`: all of them
    through `env_file`, an `environment` entry without a value (Compose passes that variable
    on from .env), the variables interpolated into its environment, command or health check,
    and the variables its Compose secrets are made from."""
    service = model["services"][name]
    seen: set[str] = set()
    if "env_file" in service:
        seen |= env_file_names()
    for key, value in environment_of(service).items():
        seen |= {key} if value is None else referenced_variables(value)
    for part in ("command", "entrypoint", "healthcheck"):
        seen |= referenced_variables(service.get(part))
    for secret in service.get("secrets", []):
        source = secret if isinstance(secret, str) else secret["source"]
        definition = model["secrets"][source]
        seen |= {definition["environment"]} if "environment" in definition else set()
    return seen


@pytest.mark.parametrize("name", list(NEEDS))
def test_each_container_sees_only_the_secrets_it_uses(name: str) -> None:
    model = load_compose(COMPOSE)
    assert set(model["services"]) == set(NEEDS)
    assert visible(model, name) & SECRETS == NEEDS[name]


def test_no_container_reads_the_whole_env_file() -> None:
    for name, service in load_compose(COMPOSE)["services"].items():
        assert "env_file" not in service, f"{name} would see every secret of .env"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_every_setting_that_is_not_a_secret_still_reaches_the_services(name: str) -> None:
    # Without env_file, a setting of .env reaches a service only if compose names it: a new
    # setting left out here would silently keep its default inside Docker.
    environment = environment_of(load_compose(COMPOSE)["services"][name])
    settings = {field.upper() for field in Settings.model_fields} - SECRETS
    if name == "event-broker":
        settings |= {f"BROKER_{field.upper()}" for field in BrokerSettings.model_fields}
    assert sorted(settings - set(environment)) == []


def test_compose_refuses_to_start_without_a_redis_password() -> None:
    model = load_compose(COMPOSE)
    assert "REDIS_PASSWORD" in required_variables(model)
    unset = {name: value for name, value in ENV.items() if name != "REDIS_PASSWORD"}
    for env in (unset, {**ENV, "REDIS_PASSWORD": ""}):
        with pytest.raises(MissingVariable, match="REDIS_PASSWORD"):
            interpolate(model, env)


@pytest.mark.parametrize("path", [COMPOSE, DEMO_COMPOSE], ids=["deployment", "demo"])
def test_redis_asks_for_a_password_that_every_service_has(path: Any) -> None:
    services = interpolate(load_compose(path), ENV)["services"]
    password = services["redis"]["environment"]["REDIS_PASSWORD"]
    assert len(password) >= 16
    if path == COMPOSE:
        assert password == REDIS_PASSWORD
    for name in APP_SERVICES:
        url = services[name]["environment"]["REDIS_URL"]
        assert url == f"redis://:{password}@redis:6379/0", name
    # The password reaches redis-server on its standard input, not its command line (which every
    # user of the host sees in `ps`); the health check authenticates through the environment.
    script = " ".join(services["redis"]["command"])
    assert "requirepass $REDIS_PASSWORD" in script
    assert "--requirepass" not in script
    check = " ".join(services["redis"]["healthcheck"]["test"])
    assert 'REDISCLI_AUTH="$REDIS_PASSWORD" redis-cli ping' in check


def test_the_tests_redis_asks_for_a_password_too(redis_server: RedisServer) -> None:
    # Every service test runs against a RedisServer, so each one authenticates as in Docker.
    anonymous = redis.Redis(
        port=redis_server.port, retry=Retry(NoBackoff(), 0)
    )  # refused at once, no retries
    with pytest.raises(redis.exceptions.AuthenticationError):
        anonymous.ping()
    anonymous.close()
    assert urlsplit(redis_server.url).password == redis_server.password
    client = redis.Redis.from_url(redis_server.url)
    assert client.ping()
    client.close()


def test_the_demo_runs_redis_exactly_as_the_deployment_does() -> None:
    real = load_compose(COMPOSE)["services"]["redis"]
    demo = load_compose(DEMO_COMPOSE)["services"]["redis"]
    for part in ("image", "command", "healthcheck", "user", "volumes"):
        assert demo[part] == real[part], part


def test_novnc_reaches_the_gateway_and_nothing_else() -> None:
    model = interpolate(load_compose(COMPOSE), ENV)
    networks = {name: set(service["networks"]) for name, service in model["services"].items()}
    novnc = networks["novnc"]
    assert novnc, "novnc is on no network"
    for network in novnc:
        members = {name for name, joined in networks.items() if network in joined}
        assert members == {"novnc", "ib-gateway"}, f"{network} also joins {members}"
    assert "backend" not in novnc and "outbound" not in novnc


def test_gateway_reads_its_passwords_from_secret_files() -> None:
    model = load_compose(COMPOSE)
    gateway = model["services"]["ib-gateway"]
    environment = environment_of(gateway)
    # The image's scripts read X_FILE into X (file_env) and refuse both being set.
    assert "TWS_PASSWORD" not in environment and "VNC_SERVER_PASSWORD" not in environment
    mounted = {secret["source"]: secret for secret in gateway["secrets"]}
    for variable, file_variable in (
        ("IB_PASSWORD", "TWS_PASSWORD_FILE"),
        ("VNC_PASSWORD", "VNC_SERVER_PASSWORD_FILE"),
    ):
        [source] = [
            name
            for name, definition in model["secrets"].items()
            if definition.get("environment") == variable
        ]
        secret = mounted[source]
        assert environment[file_variable] == f"/run/secrets/{secret.get('target', source)}"
        # Readable by the gateway's own user (uid 1000) only.
        assert (secret["uid"], secret["gid"], secret["mode"]) == ("1000", "1000", 0o400)
    # Compose writes a secret made from a variable into the container, which a read-only
    # container refuses; and it skips a secret whose variable is empty, hence the required
    # ${VARIABLE:?...} of each password.
    assert not gateway.get("read_only")
    assert {"IB_PASSWORD", "VNC_PASSWORD"} <= required_variables(model)
