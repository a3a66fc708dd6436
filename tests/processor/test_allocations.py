"""Allocations API: the pure parser against every shape, the client against real HTTP servers.

The client tests run the `zehnlabs-sim` entry point as a subprocess (the allocations endpoint and
its fault modes) and a small aiohttp app for answers the simulator never gives (a key echoed
back, a proxy's plain-text error).
"""

from __future__ import annotations

import io
import math
import shutil
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
from aiohttp import web
from event_broker.allocations import AllocationsReader
from event_processor.allocations import (
    AllocationsClient,
    AllocationsError,
    StrategyAllocations,
    parse_allocations,
)
from pydantic import SecretStr
from rebalancer_shared.log import configure_logging

from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

Handler = Callable[[web.Request], Awaitable[web.Response]]

KEY = "zl-alloc-key-5f2e9d41"
WRONG_KEY = "zl-alloc-key-00000000"


def answer(allocations: object, **data: object) -> dict[str, object]:
    return {
        "status": "success",
        "data": {
            "name": "tactical-etf",
            "strategy_long_name": "Tactical ETF Rotation",
            "last_rebalance_on": "2026-11-23T20:45:00Z",
            "allocations": allocations,
            **data,
        },
    }


# -- parse_allocations: plain values ------------------------------------------------------------


def test_good_answer_gives_upper_cased_weights_and_metadata() -> None:
    parsed = parse_allocations(
        "tactical-etf",
        answer(
            [
                {"symbol": "SPY", "allocation": 0.25},
                {"symbol": "qqq", "allocation": 0.25},
                {"symbol": " tlt ", "allocation": 0.4},
                {"symbol": "GLD", "allocation": 0},
            ]
        ),
    )
    assert parsed == StrategyAllocations(
        name="tactical-etf",
        long_name="Tactical ETF Rotation",
        last_rebalance_on="2026-11-23T20:45:00Z",
        weights={"SPY": 0.25, "QQQ": 0.25, "TLT": 0.4, "GLD": 0.0},
    )
    assert parsed.total == pytest.approx(0.9)


def test_weights_below_one_leave_the_rest_in_cash() -> None:
    parsed = parse_allocations("tactical-etf", answer([{"symbol": "BIL", "allocation": 0.5}]))
    assert parsed.weights == {"BIL": 0.5}


def test_sum_within_rounding_above_one_is_scaled_down_to_one() -> None:
    parsed = parse_allocations(
        "tactical-etf",
        answer(
            [
                {"symbol": "SPY", "allocation": 0.334},
                {"symbol": "TLT", "allocation": 0.334},
                {"symbol": "GLD", "allocation": 0.334},
            ]
        ),
    )
    assert math.fsum(parsed.weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert parsed.weights["SPY"] == pytest.approx(1 / 3)


def test_sum_of_exactly_one_point_zero_one_is_accepted() -> None:
    parsed = parse_allocations(
        "tactical-etf",
        answer([{"symbol": "SPY", "allocation": 0.5}, {"symbol": "TLT", "allocation": 0.51}]),
    )
    assert parsed.total == pytest.approx(1.0)


def test_empty_allocations_are_refused_rather_than_selling_everything() -> None:
    with pytest.raises(AllocationsError, match="refusing to sell the whole account"):
        parse_allocations("tactical-etf", answer([]))
    with pytest.raises(AllocationsError, match="refusing to sell the whole account"):
        parse_allocations("tactical-etf", answer([{"symbol": "SPY", "allocation": 0}]))


def test_missing_metadata_falls_back_to_the_requested_name() -> None:
    payload = {"status": "success", "data": {"allocations": [{"symbol": "SPY", "allocation": 1}]}}
    parsed = parse_allocations("tactical-etf", payload)
    assert parsed == StrategyAllocations("tactical-etf", None, None, {"SPY": 1.0})


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (
            answer([{"symbol": "SPY", "allocation": 0.65}, {"symbol": "TLT", "allocation": 0.65}]),
            "weights sum to 1.3, above 1",
        ),
        (answer([{"symbol": "SPY", "allocation": -0.1}]), "SPY allocation -0.1 is not between"),
        (answer([{"symbol": "SPY", "allocation": 1.2}]), "SPY allocation 1.2 is not between"),
        (
            answer([{"symbol": "SPY", "allocation": 0.3}, {"symbol": "spy", "allocation": 0.3}]),
            "symbol SPY appears twice (allocations[1])",
        ),
        (answer([{"symbol": " ", "allocation": 0.3}]), "allocations[0] symbol is empty"),
        (answer([{"symbol": 42, "allocation": 0.3}]), "allocations[0] symbol is 42"),
        (answer([{"allocation": 0.3}]), "allocations[0] symbol is missing"),
        (
            answer([{"symbol": "SPY", "allocation": math.nan}]),
            "SPY allocation nan is not a finite number",
        ),
        (
            answer([{"symbol": "SPY", "allocation": math.inf}]),
            "SPY allocation inf is not a finite number",
        ),
        (answer([{"symbol": "SPY", "allocation": "0.25"}]), "SPY allocation is the string '0.25'"),
        (answer([{"symbol": "SPY", "allocation": True}]), "SPY allocation is True"),
        (answer([{"symbol": "SPY"}]), "SPY allocation is missing"),
        (answer(["SPY"]), "allocations[0] is the string 'SPY'"),
        (answer({"SPY": 0.25}), "'data.allocations' is a dict, expected a list"),
        (answer(None), "'data.allocations' is missing"),
        (answer([], strategy_long_name=7), "'data.strategy_long_name' is 7"),
        ({"status": "success"}, "'data' is missing"),
        ({"status": "success", "data": []}, "'data' is a list"),
        ({"status": "error", "message": "Strategy paused"}, "status is 'error'"),
        ({"data": {"allocations": []}}, "status is None"),
        ([{"symbol": "SPY", "allocation": 0.25}], "answer is a list, expected a JSON object"),
        ("OK", "answer is the string 'OK'"),
    ],
)
def test_bad_answers_are_refused_naming_strategy_symbol_and_value(
    payload: object, message: str
) -> None:
    with pytest.raises(AllocationsError) as error:
        parse_allocations("tactical-etf", payload)
    text = str(error.value)
    assert text.startswith("allocations for strategy 'tactical-etf': ")
    assert message in text


def test_overweight_message_lists_the_weights() -> None:
    payload = answer([{"symbol": "SPY", "allocation": 0.8}, {"symbol": "TLT", "allocation": 0.5}])
    with pytest.raises(AllocationsError, match=r"SPY 0\.8, TLT 0\.5"):
        parse_allocations("tactical-etf", payload)


def test_server_error_message_is_quoted() -> None:
    with pytest.raises(AllocationsError, match="Strategy paused"):
        parse_allocations("tactical-etf", {"status": "error", "message": "Strategy paused"})


# -- the client against the zehnlabs-sim entry point ---------------------------------------------


def _sim_argv(port: int) -> list[str]:
    script = shutil.which("zehnlabs-sim", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "zehnlabs_sim.main"]
    # A hanging `timeout` fault is released by the reset after each test, well before this.
    return [*command, "--port", str(port), "--api-key", KEY, "--hang-seconds", "30"]


@pytest.fixture(scope="module")
def zehnlabs_sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "zehnlabs-sim", _sim_argv(port), tmp_path_factory.mktemp("zehnlabs-sim")
    ).start()
    try:
        wait_for(
            lambda: port_open(port) or not process.alive(), timeout=20, what="zehnlabs-sim port"
        )
        assert process.alive(), process.log_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


@pytest.fixture
def sim(zehnlabs_sim: str) -> Iterator[str]:
    """The simulator's base URL, with its seeded strategies and no faults, before and after."""
    httpx.post(f"{zehnlabs_sim}/control/reset").raise_for_status()
    yield zehnlabs_sim
    # Also releases a request still hanging in a `timeout` fault.
    httpx.post(f"{zehnlabs_sim}/control/reset").raise_for_status()


async def control_put(sim: str, path: str, body: object) -> None:
    async with httpx.AsyncClient() as http:
        (await http.put(f"{sim}/control/{path}", json=body)).raise_for_status()


async def set_fault(sim: str, mode: str | None) -> None:
    await control_put(sim, "allocations-fault", {"mode": mode})


def api(sim: str) -> str:
    return f"{sim}/api/v1/strategies"


@pytest.fixture
async def client(sim: str) -> AsyncIterator[AllocationsClient]:
    async with AllocationsClient(api(sim), KEY, timeout_seconds=5) as allocations:
        yield allocations


async def fetch_error(client: AllocationsClient, strategy: str) -> str:
    with pytest.raises(AllocationsError) as error:
        await client.fetch(strategy)
    text = str(error.value)
    assert KEY not in text
    return text


async def test_fetch_returns_the_strategy_weights_from_the_simulator(
    client: AllocationsClient,
) -> None:
    parsed = await client.fetch("demo-etf-blend")
    assert parsed.name == "demo-etf-blend"
    assert parsed.long_name == "Demo ETF Blend (SPY/QQQ/TLT/IEF/GLD)"
    assert parsed.last_rebalance_on == "2026-01-02T20:45:00Z"
    assert parsed.weights == {"SPY": 0.30, "QQQ": 0.20, "TLT": 0.20, "IEF": 0.14, "GLD": 0.14}


async def test_allocations_set_through_the_control_api_are_served(
    sim: str, client: AllocationsClient
) -> None:
    await control_put(
        sim,
        "strategies/tactical-etf/allocations",
        {
            "allocations": [
                {"symbol": "SPY", "allocation": 0.6},
                {"symbol": "BIL", "allocation": 0.4},
            ]
        },
    )
    assert (await client.fetch("tactical-etf")).weights == {"SPY": 0.6, "BIL": 0.4}


async def test_wrong_key_is_http_401_without_either_key_in_the_message(sim: str) -> None:
    async with AllocationsClient(api(sim), WRONG_KEY) as wrong:
        with pytest.raises(AllocationsError) as error:
            await wrong.fetch("demo-etf-blend")
    text = str(error.value)
    assert "allocations API for strategy 'demo-etf-blend' answered HTTP 401" in text
    assert "check ALLOCATIONS_API_KEY" in text
    assert WRONG_KEY not in text
    assert KEY not in text


async def test_unknown_strategy_is_http_404(client: AllocationsClient) -> None:
    text = await fetch_error(client, "no-such-strategy")
    assert "strategy 'no-such-strategy' answered HTTP 404" in text
    assert "check strategy_name in accounts.yaml" in text


async def test_server_error_is_http_500(sim: str, client: AllocationsClient) -> None:
    await set_fault(sim, "http_500")
    text = await fetch_error(client, "demo-etf-blend")
    assert text.startswith("allocations API for strategy 'demo-etf-blend' answered HTTP 500")
    assert "Internal server error (simulated)" in text


async def test_no_answer_within_the_timeout(sim: str) -> None:
    await set_fault(sim, "timeout")
    async with AllocationsClient(api(sim), KEY, timeout_seconds=0.3) as impatient:
        text = await fetch_error(impatient, "demo-etf-blend")
    assert "allocations API for strategy 'demo-etf-blend' did not answer within 0.3 s" in text


async def test_malformed_json(sim: str, client: AllocationsClient) -> None:
    await set_fault(sim, "malformed_json")
    text = await fetch_error(client, "demo-etf-blend")
    assert "strategy 'demo-etf-blend' answered malformed JSON" in text


async def test_weights_summing_to_1_3_are_refused(sim: str, client: AllocationsClient) -> None:
    await set_fault(sim, "overweight")
    text = await fetch_error(client, "demo-etf-blend")
    assert "allocations for strategy 'demo-etf-blend': weights sum to 1.3, above 1" in text


async def test_duplicate_symbols_served_by_the_simulator_are_refused(
    sim: str, client: AllocationsClient
) -> None:
    await control_put(
        sim,
        "strategies/demo-etf-blend/allocations",
        {
            "allocations": [
                {"symbol": "SPY", "allocation": 0.3},
                {"symbol": "SPY", "allocation": 0.3},
            ],
            "unchecked": True,
        },
    )
    assert "symbol SPY appears twice" in await fetch_error(client, "demo-etf-blend")


async def test_the_key_never_reaches_a_log_line(sim: str) -> None:
    stream = io.StringIO()
    # No secrets given to the redactor: the client itself must not log the key.
    configure_logging("event-processor", "DEBUG", [], stream=stream)
    async with AllocationsClient(api(sim), KEY) as allocations:
        await allocations.fetch("demo-etf-blend")
        await set_fault(sim, "http_500")
        with pytest.raises(AllocationsError):
            await allocations.fetch("demo-etf-blend")
    logged = stream.getvalue()
    assert '"event": "allocations.fetched"' in logged
    assert '"event": "allocations.failed"' in logged
    assert KEY not in logged
    assert KEY not in repr(allocations)


# -- the client against answers the simulator never gives ----------------------------------------


@asynccontextmanager
async def serve(handler: Handler) -> AsyncIterator[str]:
    """An aiohttp app on a free 127.0.0.1 port answering the allocations path with `handler`."""
    app = web.Application()
    app.router.add_get("/api/v1/strategies/{name}/allocations", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    try:
        yield f"http://{host}:{port}/api/v1/strategies"
    finally:
        await runner.cleanup()


async def test_a_key_echoed_back_by_the_server_is_redacted() -> None:
    async def echo(request: web.Request) -> web.Response:
        key = request.headers["x-api-key"]
        return web.json_response({"status": "error", "message": f"key {key} is suspended"})

    async with serve(echo) as url, AllocationsClient(url, KEY) as allocations:
        text = await fetch_error(allocations, "tactical-etf")
    assert "status is 'error', expected 'success': key [REDACTED] is suspended" in text


async def test_a_key_echoed_in_an_http_error_is_redacted() -> None:
    async def refuse(request: web.Request) -> web.Response:
        key = request.headers["x-api-key"]
        return web.Response(status=403, text=f"Forbidden for {key}", content_type="text/plain")

    async with serve(refuse) as url, AllocationsClient(url, KEY) as allocations:
        text = await fetch_error(allocations, "tactical-etf")
    assert "answered HTTP 403" in text
    assert "server said: Forbidden for [REDACTED]" in text


async def test_the_key_travels_in_the_header_and_the_name_is_url_quoted() -> None:
    seen: dict[str, str] = {}

    async def record(request: web.Request) -> web.Response:
        seen["path"] = request.path_qs
        seen["raw_path"] = request.raw_path
        seen["key"] = request.headers["x-api-key"]
        return web.json_response(answer([{"symbol": "SPY", "allocation": 1.0}]))

    async with serve(record) as url, AllocationsClient(url + "/", KEY) as allocations:
        await allocations.fetch("tactical etf/2")
    assert seen["key"] == KEY
    assert seen["raw_path"] == "/api/v1/strategies/tactical%20etf%2F2/allocations"
    assert KEY not in seen["raw_path"]


async def test_an_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}/api/v1/strategies"
    async with AllocationsClient(url, KEY) as allocations:
        text = await fetch_error(allocations, "tactical-etf")
    assert f"allocations API for strategy 'tactical-etf' could not be reached at {url}" in text


async def test_a_shared_http_client_is_left_open_for_its_owner(sim: str) -> None:
    async with httpx.AsyncClient() as shared:
        allocations = AllocationsClient(api(sim), KEY, client=shared)
        assert (await allocations.fetch("demo-treasury-rotation")).weights == {
            "TLT": 0.45,
            "IEF": 0.35,
            "BIL": 0.20,
        }
        await allocations.aclose()
        assert not shared.is_closed


def test_missing_url_or_key_is_refused_at_construction() -> None:
    with pytest.raises(ValueError, match="ALLOCATIONS_API_URL is empty"):
        AllocationsClient("", KEY)
    with pytest.raises(ValueError, match="ALLOCATIONS_API_KEY is empty"):
        AllocationsClient("http://127.0.0.1:1/api/v1/strategies", "")
    with pytest.raises(ValueError, match="timeout 0 s is not above 0"):
        AllocationsClient("http://127.0.0.1:1/api/v1/strategies", KEY, timeout_seconds=0)


def test_the_broker_reader_is_refused_for_the_same_reasons() -> None:
    # The checks live once, in the shared HTTP client both services build on.
    with pytest.raises(ValueError, match="ALLOCATIONS_API_URL is empty"):
        AllocationsReader(" ", SecretStr(KEY), 5.0)
    with pytest.raises(ValueError, match="ALLOCATIONS_API_KEY is empty"):
        AllocationsReader("http://127.0.0.1:1/api/v1/strategies", SecretStr(""), 5.0)
