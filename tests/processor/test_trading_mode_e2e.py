"""A gateway logged in to the other trading mode stops the real `event-processor` with exit
code 2 and one line that names the mode, the account and what to fix, before anything trades."""

from __future__ import annotations

import pytest

from tests.support.processes import ManagedProcess, wait_for
from tests.support.stack import Stack, entry_point

EXIT_WITHIN_SECONDS = 30


def run_processor(stack: Stack, mode: str, account_type: str, account_id: str) -> ManagedProcess:
    stack.write_accounts(
        [{"account_id": account_id, "type": account_type, "strategy_name": "etf-blend-200-35"}]
    )
    process = ManagedProcess(
        "event-processor",
        [entry_point("event-processor")],
        stack.workdir,
        stack.service_env(TRADING_MODE=mode),
    ).start()
    stack.processes.append(process)
    return process


@pytest.mark.parametrize(
    ("mode", "reported", "other"),
    [("paper", "U7654321", "live"), ("live", "DU1234567", "paper")],
)
def test_a_gateway_of_the_other_mode_stops_the_processor_with_exit_code_2(
    stack: Stack, mode: str, reported: str, other: str
) -> None:
    # The simulator manages DU1234567 (paper); a U account is what IB reports for live.
    stack.ib.put_account(reported, 50_000.0)
    process = run_processor(stack, mode, mode, "DU1234567" if mode == "paper" else "U7654321")

    assert process.proc is not None
    assert process.proc.wait(timeout=EXIT_WITHIN_SECONDS) == 2
    output = process.log_text()
    assert "event-processor: invalid configuration" in output
    [line] = [text for text in output.splitlines() if text.startswith("TRADING_MODE=")]
    assert line.startswith(f"TRADING_MODE={mode}, but IB Gateway at 127.0.0.1:{stack.ib_port}")
    assert f"manages {other} account" in line
    assert "IB_GATEWAY_API_PORT" in line
    assert '"gateway.connected"' not in output  # refused before it counted as connected
    assert stack.ib.orders() == []


def test_a_gateway_of_the_right_mode_is_used(stack: Stack) -> None:
    process = run_processor(stack, "paper", "paper", "DU1234567")
    wait_for(
        lambda: '"gateway.connected"' in process.log_text() or not process.alive(),
        EXIT_WITHIN_SECONDS,
        "the processor to connect",
    )
    assert process.alive()
    assert process.stop() == 0
