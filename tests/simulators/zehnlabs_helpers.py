"""Start the real `zehnlabs-sim` entry point for the simulator's tests (Socket.IO and Ably)."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ManagedProcess, free_port, port_open, wait_for

SIM_SCRIPT = Path(sys.executable).parent / "zehnlabs-sim"
# Ably's key form, appId.keyId:secret (the SDK splits it); Socket.IO takes any string.
API_KEY = "zlsim.subscriber:8c1d-secret"
ETF_BLEND = "demo-etf-blend"
TREASURY = "demo-treasury-rotation"
START_WAIT = 15.0
"""Generous for a loaded machine; every wait ends as soon as its condition holds."""


@dataclass
class Sim:
    port: int
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=START_WAIT, **kwargs)


def start_sim(
    log_dir: Path, *extra: str, port: int | None = None, name: str = "zehnlabs-sim"
) -> Sim:
    """A simulator on `port` (a free one by default), listening when this returns."""
    port = port or free_port()
    argv = [str(SIM_SCRIPT), "--port", str(port), "--api-key", API_KEY, *extra]
    process = ManagedProcess(name, argv, log_dir).start()
    try:
        wait_for(lambda: port_open(port) or not process.alive(), START_WAIT, f"{name} to listen")
        assert process.alive(), process.log_text()
    except BaseException:
        process.stop()
        raise
    return Sim(port=port, process=process)


def reset(sim: Sim) -> Sim:
    """A module's simulator back to its start, once the previous test's clients are gone (they
    said goodbye; the server may still be processing it)."""
    response = httpx.post(f"{sim.url}/control/reset", timeout=START_WAIT)
    assert response.status_code == 200
    wait_for(
        lambda: httpx.get(f"{sim.url}/control/state").json()["clients"] == [],
        START_WAIT,
        "the previous test's clients to be gone",
    )
    return sim
