"""The simulator's rules with plain values (no process), and the app run inside the test's loop
for what needs control over settings or shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import socketio
from aiohttp import web
from pydantic import ValidationError
from zehnlabs_sim.app import create_app
from zehnlabs_sim.models import (
    Allocation,
    AllocationsBody,
    FaultBody,
    FaultMode,
    PublishBody,
    SeedStrategy,
)
from zehnlabs_sim.seed import DEMO_STRATEGIES, ConfigError, load_config
from zehnlabs_sim.simulator import Settings
from zehnlabs_sim.state import INITIAL_LAST_REBALANCE_ON, SimState

from tests.support.processes import free_port

MONTH_END = datetime(2026, 11, 30, 20, 50, 12, 345678, tzinfo=UTC)


class FakeClock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def sixty_forty() -> SeedStrategy:
    return SeedStrategy(
        name="sixty-forty",
        allocations=[
            Allocation(symbol="SPY", allocation=0.6),
            Allocation(symbol="AGG", allocation=0.4),
        ],
    )


def test_a_rebalance_moves_last_rebalance_on_to_now_in_whole_seconds() -> None:
    state = SimState(seeds=[sixty_forty()], clock=FakeClock(MONTH_END))
    assert state.strategies["sixty-forty"].last_rebalance_on == INITIAL_LAST_REBALANCE_ON

    message = state.new_event("sixty-forty", PublishBody(exec="rebalance"))

    assert state.strategies["sixty-forty"].api_data()["last_rebalance_on"] == (
        "2026-11-30T20:50:12Z"
    )
    assert state.last_message["sixty-forty"] == message


def test_two_rebalances_in_one_second_still_differ() -> None:
    state = SimState(seeds=[sixty_forty()], clock=FakeClock(MONTH_END))
    state.new_event("sixty-forty", PublishBody(exec="rebalance"))
    state.new_event("sixty-forty", PublishBody(exec="rebalance"))
    assert state.strategies["sixty-forty"].last_rebalance_on == (
        MONTH_END.replace(microsecond=0) + timedelta(seconds=1)
    )


def test_other_commands_and_plain_allocation_updates_leave_last_rebalance_on() -> None:
    state = SimState(seeds=[sixty_forty()], clock=FakeClock(MONTH_END))
    state.new_event("sixty-forty", PublishBody(exec="print-rebalance"))
    state.set_allocations(
        "sixty-forty", AllocationsBody(allocations=[Allocation(symbol="SPY", allocation=1.0)])
    )
    assert state.strategies["sixty-forty"].last_rebalance_on == INITIAL_LAST_REBALANCE_ON


def test_an_event_passes_extra_fields_through_after_id_strategy_and_exec() -> None:
    state = SimState(seeds=[sixty_forty()])
    body = PublishBody.model_validate({"exec": "rebalance", "id": "evt-1", "note": "month-end"})
    message = state.new_event("sixty-forty", body)
    assert list(message.items()) == [
        ("id", "evt-1"),
        ("strategy", "sixty-forty"),
        ("exec", "rebalance"),
        ("note", "month-end"),
    ]


def test_a_strategy_fault_wins_over_the_global_one_and_runs_out() -> None:
    state = SimState(seeds=[sixty_forty()])
    state.set_fault(FaultBody(mode=FaultMode.OVERWEIGHT))
    state.set_fault(FaultBody(mode=FaultMode.HTTP_500, strategy="sixty-forty", times=1))

    assert state.take_fault("sixty-forty") is FaultMode.HTTP_500
    assert state.take_fault("sixty-forty") is FaultMode.OVERWEIGHT
    assert state.take_fault("other") is FaultMode.OVERWEIGHT

    state.set_fault(FaultBody(mode=None))
    assert state.take_fault("sixty-forty") is None


def test_overweight_scales_the_real_weights_to_1_3() -> None:
    strategy = SimState(seeds=[sixty_forty()]).strategies["sixty-forty"]
    served = strategy.overweight_allocations()
    assert [a.symbol for a in served] == ["SPY", "AGG"]
    assert math.isclose(sum(a.allocation for a in served), 1.3)
    assert math.isclose(served[0].allocation / served[1].allocation, 1.5)


@pytest.mark.parametrize(
    ("allocations", "reason"),
    [
        ([("SPY", 0.7), ("TLT", 0.35)], "sum to 1.05"),
        ([("SPY", 0.5), ("SPY", 0.2)], "duplicate symbols SPY"),
        ([("SPY", -0.1)], "not between 0 and 1"),
        ([(" ", 0.1)], "symbol is empty"),
    ],
)
def test_allocations_zehnlabs_never_serves_are_refused(
    allocations: list[tuple[str, float]], reason: str
) -> None:
    entries = [{"symbol": s, "allocation": w} for s, w in allocations]
    with pytest.raises(ValidationError, match=reason):
        AllocationsBody.model_validate({"allocations": entries})
    # ...unless a test asks for them on purpose.
    AllocationsBody.model_validate({"allocations": entries, "unchecked": True})


def test_rounding_slack_up_to_1_01_is_accepted() -> None:
    entries = [{"symbol": "SPY", "allocation": 0.505}, {"symbol": "TLT", "allocation": 0.5}]
    assert len(AllocationsBody.model_validate({"allocations": entries}).allocations) == 2


def test_demo_strategies_are_valid_and_keep_some_cash_or_none() -> None:
    for seed in DEMO_STRATEGIES:
        assert seed.allocations
        assert sum(a.allocation for a in seed.allocations) <= 1.0 + 1e-9


def test_a_config_naming_one_strategy_twice_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "strategies.json"
    config.write_text('{"strategies": [{"name": "a"}, {"name": "a"}]}')
    with pytest.raises(ConfigError, match="duplicate names a"):
        load_config(config)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.json")


# -- the app in the test's event loop -------------------------------------------------------


@contextlib.asynccontextmanager
async def serving(settings: Settings) -> AsyncIterator[tuple[str, web.AppRunner]]:
    runner = web.AppRunner(create_app(settings), shutdown_timeout=5.0)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", runner
    finally:
        await runner.cleanup()


async def test_the_allocations_api_can_have_its_own_key() -> None:
    settings = Settings(
        api_key="events-key", allocations_api_key="alloc-key", seeds=[sixty_forty()]
    )
    async with serving(settings) as (url, _), httpx.AsyncClient(base_url=url) as http:
        path = "/api/v1/strategies/sixty-forty/allocations"
        assert (await http.get(path, headers={"x-api-key": "alloc-key"})).status_code == 200
        assert (await http.get(path, headers={"x-api-key": "events-key"})).status_code == 401

        sio = socketio.AsyncClient(reconnection=False, handle_sigint=False)
        await sio.connect(url, auth={"api_key": "events-key"}, wait_timeout=5)
        await sio.disconnect()


async def test_shutdown_releases_a_hanging_request_at_once() -> None:
    settings = Settings(api_key="k", allocations_api_key="k", seeds=[sixty_forty()])
    async with (
        serving(settings) as (url, runner),
        httpx.AsyncClient(base_url=url, timeout=10) as http,
    ):
        await http.put("/control/allocations-fault", json={"mode": "timeout"})
        hanging = asyncio.create_task(
            http.get("/api/v1/strategies/sixty-forty/allocations", headers={"x-api-key": "k"})
        )
        for _ in range(500):
            state = (await http.get("/control/state")).json()
            if state["allocations_requests"]:
                break
            await asyncio.sleep(0.01)

        loop = asyncio.get_running_loop()
        started = loop.time()
        await runner.cleanup()
        # Well under the 60 s hang and the 5 s shutdown timeout.
        assert loop.time() - started < 2.0
        assert (await hanging).status_code == 504
