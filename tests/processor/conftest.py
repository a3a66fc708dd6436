"""End-to-end fixtures: redis-server, both simulators and the processor as subprocesses."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import failed
from tests.support.stack import MARKET_OPEN_MONDAY, Stack

QUOTES = {
    # symbol: (bid, ask, last) — realistic late-2026 prices
    "SPY": (600.00, 600.05, 600.02),
    "QQQ": (520.00, 520.10, 520.05),
    "TLT": (90.00, 90.02, 90.01),
    "IEF": (95.00, 95.02, 95.01),
    "GLD": (240.00, 240.05, 240.02),
    "VOO": (550.00, 550.10, 550.05),
    "BIL": (91.50, 91.51, 91.50),
}


@pytest.fixture
def stack(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Stack]:
    stack = Stack(tmp_path / "stack", redis_url)
    try:
        stack.start_ib_sim()
        stack.start_zehnlabs_sim()
        stack.ib.put_quotes(QUOTES)
        stack.ib.set_clock(MARKET_OPEN_MONDAY, running=True)
        yield stack
    finally:
        stack.stop_all()
        if failed(request):
            stack.print_logs()
