"""The real `event-processor` entry point refusing a bad configuration: exit 2, no traceback."""

from __future__ import annotations

from pathlib import Path

from tests.management.helpers import write_accounts
from tests.support.processes import ManagedProcess
from tests.support.stack import entry_point

EXIT_TIMEOUT_SECONDS = 20


def run_processor(tmp_path: Path, **environment: str) -> tuple[int, str]:
    """Start the processor with this environment; its exit code and output once it stops."""
    env = {
        "ACCOUNTS_FILE": str(write_accounts(tmp_path)),
        "REPLACEMENT_SETS_FILE": str(tmp_path / "replacement-sets.yaml"),
        "TRADING_MODE": "paper",
        "REDIS_URL": "redis://127.0.0.1:1/0",  # never reached: the configuration stops it first
        "ALLOCATIONS_API_URL": "https://workers.fintech.zehnlabs.com/api/v1/strategies",
        "ALLOCATIONS_API_KEY": "alloc-key-1234",
        "NOTIFY_URLS": "",
        **environment,
    }
    process = ManagedProcess("event-processor", [entry_point("event-processor")], tmp_path, env)
    process.start()
    try:
        assert process.proc is not None
        return process.proc.wait(timeout=EXIT_TIMEOUT_SECONDS), process.log_text()
    finally:
        process.stop()


def test_missing_allocations_key_stops_the_processor_with_one_line(tmp_path: Path) -> None:
    code, output = run_processor(tmp_path, ALLOCATIONS_API_KEY="")

    assert code == 2
    assert "Traceback" not in output
    assert output.splitlines() == [
        "event-processor: invalid configuration",
        "environment: ALLOCATIONS_API_KEY: is empty: the event processor needs it "
        "(see .env.example)",
    ]


def test_environment_and_file_problems_are_reported_in_one_run(tmp_path: Path) -> None:
    (tmp_path / "bad-accounts.yaml").write_text("- account_id: DU1234567\n  type: paper: x\n")
    code, output = run_processor(
        tmp_path,
        ACCOUNTS_FILE=str(tmp_path / "bad-accounts.yaml"),
        REDIS_URL="http://:s3cret-redis-pass@redis:6379/0",
        NOTIFY_URLS="nosuchservice://s3cret-topic",
    )

    assert code == 2
    assert "Traceback" not in output and "s3cret" not in output
    assert output.splitlines() == [
        "event-processor: invalid configuration",
        "environment: REDIS_URL: a URL starting with http:// is not a Redis URL: write "
        "redis://HOST:6379/0, rediss://HOST:6379/0 (TLS) or unix:///path/to/redis.sock",
        "environment: NOTIFY_URLS: entry 1 (scheme 'nosuchservice') is not a notification URL "
        "apprise understands; see https://github.com/caronc/apprise/wiki for the URL of each "
        "service",
        "bad-accounts.yaml: line 2, column 14: mapping values are not allowed here",
    ]
