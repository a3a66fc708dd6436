"""The real `management-service` entry point as a subprocess: config, port, auth, SIGTERM."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.management.helpers import TOKEN, write_accounts
from tests.management.service import (
    ENTRY_POINT,
    START_TIMEOUT_SECONDS,
    running_service,
    service_env,
)
from tests.support.processes import ManagedProcess, free_port


@pytest.fixture
def service(tmp_path: Path, redis_url: str) -> Iterator[tuple[ManagedProcess, str]]:
    with running_service(write_accounts(tmp_path), redis_url, token=TOKEN) as started:
        yield started


def test_entry_point_serves_the_api_with_the_token(
    service: tuple[ManagedProcess, str],
) -> None:
    _, url = service
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=url, timeout=5) as http:
        health = http.get("/health")
        refused = http.get("/queue/status")
        added = http.post(
            "/queue/events",
            json={"account_id": "DU1234567", "exec_command": "rebalance"},
            headers=auth,
        )
        status = http.get("/queue/status", headers=auth)
        page = http.get("/")

    assert health.status_code == 200 and health.json()["status"] == "healthy"
    assert refused.status_code == 401
    assert added.status_code == 201
    assert status.json()["queue_length"] == 1
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]


def test_entry_point_logs_json_without_the_token_and_stops_on_sigterm(
    service: tuple[ManagedProcess, str],
) -> None:
    process, url = service
    with httpx.Client(base_url=url, timeout=5) as http:
        http.get("/queue/status", headers={"Authorization": f"Bearer {TOKEN}"})

    assert process.stop() == 0
    log = process.log_text()
    assert TOKEN not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    events = {line["event"] for line in lines}
    assert {"management.listen", "management.started", "management.stopped"} <= events
    assert all(line["service"] == "management-service" for line in lines)


def test_bad_accounts_file_stops_the_service_at_start(tmp_path: Path, redis_url: str) -> None:
    accounts_file = write_accounts(tmp_path)
    accounts_file.write_text(
        accounts_file.read_text().replace("cash_reserve_percent: 2.5", "cash_reserve_percent: 140")
    )
    env = service_env(accounts_file, redis_url, free_port())
    process = ManagedProcess("bad-config", [ENTRY_POINT], tmp_path, env, cwd=tmp_path).start()

    assert process.proc is not None
    assert process.proc.wait(timeout=START_TIMEOUT_SECONDS) == 2
    message = process.log_text()
    assert message.startswith("management-service: invalid configuration\n")
    assert (
        "accounts.yaml: entry 2 (account DU7654321): field cash_reserve_percent: "
        "140 is not between 0 and 100"
    ) in message


def test_missing_accounts_file_stops_the_service_at_start(tmp_path: Path, redis_url: str) -> None:
    env = service_env(tmp_path / "accounts.yaml", redis_url, free_port())
    process = ManagedProcess("no-config", [ENTRY_POINT], tmp_path, env, cwd=tmp_path).start()

    assert process.proc is not None
    assert process.proc.wait(timeout=START_TIMEOUT_SECONDS) == 2
    assert "accounts.yaml: file not found" in process.log_text()


@pytest.mark.slow
def test_bad_setting_and_bad_file_stop_the_service_with_one_report(
    tmp_path: Path, redis_url: str
) -> None:
    accounts_file = write_accounts(tmp_path)
    accounts_file.write_text(accounts_file.read_text().replace("type: live", "type: Live"))
    env = service_env(accounts_file, redis_url, free_port())
    env["REDIS_URL"] = "http://:s3cret-redis-pass@localhost:6379/0"
    process = ManagedProcess("bad-setting", [ENTRY_POINT], tmp_path, env, cwd=tmp_path).start()

    assert process.proc is not None
    assert process.proc.wait(timeout=START_TIMEOUT_SECONDS) == 2
    output = process.log_text()
    assert "Traceback" not in output and "s3cret" not in output
    assert output.splitlines() == [
        "management-service: invalid configuration",
        "environment: REDIS_URL: a URL starting with http:// is not a Redis URL: write "
        "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock",
        "accounts.yaml: entry 4 (account U1234567): field type: 'Live' is not one of paper, live",
    ]
