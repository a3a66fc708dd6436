"""docker-compose.yml (the real deployment) and docker-compose.demo.yml (the simulators), read as
Compose reads them: valid against the compose specification, and safe by default."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rebalancer_shared.config import load_accounts
from rebalancer_shared.settings import Settings

from tests.deploy.files import (
    COMPOSE,
    DEMO_COMPOSE,
    GATEWAY_DOCKERFILE,
    ROOT,
    Dockerfile,
    MissingVariable,
    interpolate,
    load_compose,
    required_variables,
)

CREDENTIALS = {
    "IB_USERNAME": "jdoe123",
    "IB_PASSWORD": "hunter2",
    "VNC_PASSWORD": "s3cret-vnc",
    "REDIS_PASSWORD": "0c8a4f5e2b7d9163aa5e",
}
BOTH = [pytest.param(COMPOSE, id="deployment"), pytest.param(DEMO_COMPOSE, id="demo")]


def services(path: Path, env: dict[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """The services of a compose file with variables substituted (credentials set by default)."""
    model = interpolate(load_compose(path), CREDENTIALS if env is None else env)
    found: dict[str, dict[str, Any]] = model["services"]
    return found


def image_user(service: dict[str, Any]) -> str | None:
    """The user a built service runs as: compose's `user:`, else its Dockerfile's last USER."""
    if "user" in service:
        return str(service["user"])
    build = service.get("build")
    if build is None:
        return None
    dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
    user = Dockerfile(dockerfile).final.last("USER")
    return user.arguments if user else None


@pytest.mark.parametrize("path", BOTH)
def test_compose_file_is_valid_against_the_compose_specification(path: Path) -> None:
    check = Path(sys.executable).parent / "check-jsonschema"
    result = subprocess.run(
        [str(check), "--builtin-schema", "vendor.compose-spec", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_deployment_has_the_six_services_of_the_spec() -> None:
    assert set(services(COMPOSE)) == {
        "redis",
        "ib-gateway",
        "novnc",
        "event-broker",
        "event-processor",
        "management-service",
    }


def test_demo_replaces_gateway_and_zehnlabs_by_the_simulators() -> None:
    assert set(services(DEMO_COMPOSE)) == {
        "redis",
        "ib-gateway-sim",
        "zehnlabs-sim",
        "event-broker",
        "event-processor",
        "management-service",
    }


@pytest.mark.parametrize("path", BOTH)
def test_published_ports_listen_on_localhost_by_default(path: Path) -> None:
    published = 0
    for name, service in services(path).items():
        for port in service.get("ports", []):
            assert isinstance(port, dict), f"{name}: use the long port syntax with host_ip"
            assert port.get("host_ip") == "127.0.0.1", f"{name} publishes {port} beyond localhost"
            published += 1
    assert published >= 1


def test_a_bind_address_in_env_opens_management_and_novnc_to_the_network() -> None:
    opened = services(COMPOSE, {**CREDENTIALS, "MANAGEMENT_BIND": "0.0.0.0", "NOVNC_BIND": "::"})
    assert opened["management-service"]["ports"][0]["host_ip"] == "0.0.0.0"
    assert opened["novnc"]["ports"][0]["host_ip"] == "::"
    moved = services(COMPOSE, {**CREDENTIALS, "MANAGEMENT_PORT": "9000"})
    assert moved["management-service"]["ports"][0] == {
        "target": 8000,
        "host_ip": "127.0.0.1",
        "published": "9000",
        "protocol": "tcp",
    }


def test_redis_and_the_gateway_publish_no_port_and_redis_stays_on_the_internal_network() -> None:
    model = interpolate(load_compose(COMPOSE), CREDENTIALS)
    assert "ports" not in model["services"]["redis"]
    assert "ports" not in model["services"]["ib-gateway"]
    assert model["services"]["redis"]["networks"] == ["backend"]
    assert model["networks"]["backend"] == {"internal": True}
    for name, service in model["services"].items():
        if name != "novnc":  # on a network of its own with the gateway (test_isolation.py)
            assert "backend" in service["networks"], f"{name} cannot reach the backend"


@pytest.mark.parametrize("path", BOTH)
def test_every_container_runs_as_a_non_root_user(path: Path) -> None:
    for name, service in services(path).items():
        user = image_user(service)
        assert user is not None, f"{name}: no USER in its image and no user: in compose"
        assert user.split(":")[0] not in {"root", "0"}, f"{name} runs as {user}"


@pytest.mark.parametrize("path", BOTH)
def test_no_container_gets_the_docker_socket_or_host_privileges(path: Path) -> None:
    for name, service in services(path).items():
        for volume in service.get("volumes", []):
            source = volume if isinstance(volume, str) else str(volume.get("source", ""))
            assert "docker.sock" not in source, f"{name} mounts the Docker socket"
        assert not service.get("privileged"), f"{name} is privileged"
        for shared in ("network_mode", "pid", "ipc"):
            assert service.get(shared) != "host", f"{name} shares the host's {shared}"
        assert "cap_add" not in service, f"{name} adds capabilities"


@pytest.mark.parametrize("path", BOTH)
def test_every_container_drops_capabilities_and_privilege_escalation(path: Path) -> None:
    for name, service in services(path).items():
        assert service.get("cap_drop") == ["ALL"], name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        if name != "ib-gateway":  # IB Gateway writes its settings and X11 files
            assert service.get("read_only") is True, f"{name} has a writable root file system"


def test_deployment_requires_the_ib_login_the_vnc_password_and_the_redis_password() -> None:
    model = load_compose(COMPOSE)
    assert required_variables(model) == {
        "IB_USERNAME",
        "IB_PASSWORD",
        "VNC_PASSWORD",
        "REDIS_PASSWORD",
    }
    for missing in CREDENTIALS:
        env = {name: value for name, value in CREDENTIALS.items() if name != missing}
        with pytest.raises(MissingVariable, match=missing):
            interpolate(model, env)
    with pytest.raises(MissingVariable, match="VNC_PASSWORD"):
        interpolate(model, {**CREDENTIALS, "VNC_PASSWORD": ""})  # empty is missing too
    started = interpolate(model, CREDENTIALS)["services"]["ib-gateway"]["environment"]
    assert started["TWS_USERID"] == "jdoe123"


def test_demo_needs_no_credentials_and_no_env_file() -> None:
    model = load_compose(DEMO_COMPOSE)
    assert required_variables(model) == set()
    demo = interpolate(model, {})  # nothing set at all
    for name, service in demo["services"].items():
        assert "env_file" not in service, f"{name} would read your real .env"


def test_gateway_gets_mode_2fa_action_and_restart_time_from_env() -> None:
    env = {
        **CREDENTIALS,
        "TRADING_MODE": "live",
        "TWOFA_TIMEOUT_ACTION": "exit",
        "AUTO_RESTART_TIME": "06:30 AM",
    }
    gateway = services(COMPOSE, env)["ib-gateway"]["environment"]
    assert gateway["TRADING_MODE"] == "live"
    assert gateway["TWOFA_TIMEOUT_ACTION"] == "exit"
    assert gateway["AUTO_RESTART_TIME"] == "06:30 AM"
    assert gateway["READ_ONLY_API"] == "no"
    defaults = services(COMPOSE)["ib-gateway"]["environment"]
    assert defaults["TRADING_MODE"] == "paper"
    assert defaults["TWOFA_TIMEOUT_ACTION"] == "restart"
    assert defaults["AUTO_RESTART_TIME"] == "11:59 PM"


def test_third_party_images_are_pinned_to_a_version() -> None:
    for path in (COMPOSE, DEMO_COMPOSE):
        for name, service in services(path).items():
            if "build" in service:
                continue
            image = service["image"]
            tag = image.rsplit(":", 1)[1]
            assert tag not in {"latest", "stable"} and any(c.isdigit() for c in tag), (
                f"{name}: {image} is not pinned"
            )
    gateway_base = Dockerfile(GATEWAY_DOCKERFILE).final.base
    assert gateway_base.startswith("ghcr.io/gnzsnz/ib-gateway:"), gateway_base


def test_redis_is_a_7_4_release_with_the_2026_security_fixes() -> None:
    # 7.4.2 has known remote code executions through Lua (CVE-2025-49844, fixed in 7.4.6) and
    # more fixed since; 7.4.9 (May 2026) is the latest 7.4 patch release we could confirm.
    for path in (COMPOSE, DEMO_COMPOSE):
        image = services(path)["redis"]["image"]
        found = re.fullmatch(r"redis:7\.4\.(\d+)-alpine", image)
        assert found is not None and int(found[1]) >= 9, f"{path.name}: {image}"


def test_gateway_keeps_its_settings_on_a_volume_through_a_re_create() -> None:
    model = interpolate(load_compose(COMPOSE), CREDENTIALS)
    gateway = model["services"]["ib-gateway"]
    path = gateway["environment"]["TWS_SETTINGS_PATH"]
    assert f"ib-gateway-settings:{path}" in gateway["volumes"]
    assert "ib-gateway-settings" in model["volumes"]
    # A new named volume takes the owner of the folder it is mounted on, and belongs to root
    # when the image has no such folder: the gateway (uid 1000) could not write its settings.
    # So the image has the folder, owned by the gateway's user.
    assert gateway["user"] == "1000:1000"
    runs = [item.arguments for item in Dockerfile(GATEWAY_DOCKERFILE).final.all("RUN")]
    assert any(run.startswith("install -d -o 1000 -g 1000") and path in run for run in runs)


@pytest.mark.parametrize("path", BOTH)
def test_every_service_restarts_and_rotates_its_logs(path: Path) -> None:
    for name, service in services(path).items():
        assert service.get("restart") == "unless-stopped", name
        logging = service.get("logging", {})
        assert logging.get("driver") == "json-file", name
        assert {"max-size", "max-file"} <= set(logging.get("options", {})), name


@pytest.mark.parametrize("path", BOTH)
def test_redis_is_append_only_on_a_volume_with_a_health_check(path: Path) -> None:
    redis = services(path)["redis"]
    assert "exec redis-server --appendonly yes --appendfsync everysec" in redis["command"][-1]
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-cli ping" in redis["healthcheck"]["test"][-1]


@pytest.mark.parametrize("path", BOTH)
def test_every_service_has_a_health_check_in_compose_or_in_its_image(path: Path) -> None:
    for name, service in services(path).items():
        if "healthcheck" in service:
            continue
        build = service.get("build")
        assert build is not None, f"{name}: no health check"
        dockerfile = ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
        assert Dockerfile(dockerfile).final.last("HEALTHCHECK") is not None, name


@pytest.mark.parametrize("path", BOTH)
def test_services_start_once_redis_is_healthy(path: Path) -> None:
    found = services(path)
    for name in ("event-broker", "event-processor", "management-service"):
        assert found[name]["depends_on"]["redis"] == {"condition": "service_healthy"}, name


def test_processor_reaches_the_gateway_inside_docker() -> None:
    processor = services(COMPOSE)["event-processor"]["environment"]
    assert (processor["IB_HOST"], processor["IB_PORT"]) == ("ib-gateway", "4004")
    live = services(COMPOSE, {**CREDENTIALS, "IB_GATEWAY_API_PORT": "4003"})
    assert live["event-processor"]["environment"]["IB_PORT"] == "4003"
    for name in ("event-broker", "event-processor", "management-service"):
        environment = services(COMPOSE)[name]["environment"]
        assert environment["REDIS_URL"] == "redis://:0c8a4f5e2b7d9163aa5e@redis:6379/0"
        assert environment["ACCOUNTS_FILE"] == "/config/accounts.yaml"


def test_demo_services_are_pointed_at_the_simulators() -> None:
    demo = services(DEMO_COMPOSE, {})
    processor = demo["event-processor"]["environment"]
    gateway_sim = demo["ib-gateway-sim"]["command"]
    assert f"--port={processor['IB_PORT']}" in gateway_sim
    assert processor["IB_HOST"] == "ib-gateway-sim"
    key = demo["zehnlabs-sim"]["environment"]["ZEHNLABS_SIM_API_KEY"]
    for name in ("event-broker", "event-processor"):
        environment = demo[name]["environment"]
        # The demo runs on the default transport, Ably, against the simulator's Ably endpoint.
        assert environment["ZEHNLABS_EVENTS_TRANSPORT"] == "ably"
        assert environment["ZEHNLABS_EVENTS_URL"] == "ws://zehnlabs-sim:4200"
        assert environment["ALLOCATIONS_API_URL"] == "http://zehnlabs-sim:4200/api/v1/strategies"
        assert environment["REBALANCE_EVENT_SUBSCRIPTION_API_KEY"] == key
        assert environment["ALLOCATIONS_API_KEY"] == key


def test_docker_defaults_are_zehnlabs_real_endpoints() -> None:
    # A subscriber pastes two keys; the events come from Ably's own service (empty URL) and the
    # allocations from Zehnlabs' API, even when .env leaves those settings empty.
    for unset in ({}, {"ZEHNLABS_EVENTS_URL": "", "ALLOCATIONS_API_URL": ""}):
        real = services(COMPOSE, {**CREDENTIALS, **unset})
        for name in ("event-broker", "event-processor"):
            environment = real[name]["environment"]
            assert environment["ZEHNLABS_EVENTS_TRANSPORT"] == "ably"
            assert environment["ZEHNLABS_EVENTS_URL"] == ""
            assert (
                environment["ALLOCATIONS_API_URL"]
                == "https://workers.fintech.zehnlabs.com/api/v1/strategies"
            )


def test_docker_waits_longer_than_the_processors_shutdown_grace() -> None:
    grace = Settings.model_fields["shutdown_grace_seconds"].default
    for path in (COMPOSE, DEMO_COMPOSE):
        stop = services(path)["event-processor"]["stop_grace_period"]
        assert stop.endswith("s") and float(stop[:-1]) > grace, (
            f"Docker would SIGKILL the processor before its {grace}s grace ends"
        )


@pytest.mark.parametrize("path", BOTH)
def test_mounted_files_exist_and_are_read_only(path: Path) -> None:
    for name, service in services(path).items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                assert not volume.startswith((".", "/")), f"{name}: bind {volume} in long syntax"
                continue
            assert volume["read_only"] is True, f"{name}: {volume['source']} is writable"
            assert volume["bind"] == {"create_host_path": False}, name
            source = ROOT / volume["source"]
            # accounts.yaml is the user's copy of accounts.example.yaml
            expected = ROOT / "accounts.example.yaml" if source.name == "accounts.yaml" else source
            if path == DEMO_COMPOSE:
                expected = source
            assert expected.is_file(), f"{name} mounts {volume['source']}, which is missing"


def test_example_and_demo_accounts_pass_the_services_validation() -> None:
    example = load_accounts(ROOT / "accounts.example.yaml", ROOT / "replacement-sets.yaml")
    assert example.accounts and example.replacement_sets
    demo_files = ROOT / "docker" / "demo"
    demo = load_accounts(demo_files / "accounts.yaml", demo_files / "replacement-sets.yaml")
    assert {account.strategy_name for account in demo.accounts} == {
        "demo-etf-blend",
        "demo-treasury-rotation",
    }
    assert all(account.type.value == "paper" and account.enabled for account in demo.accounts)
