"""Re-exported from `rebalancer_local.stack` (shared with the demo and the benchmarks)."""

from rebalancer_local.stack import (
    BIN,
    MARKET_OPEN_MONDAY,
    ZEHNLABS_KEY,
    IBSimControl,
    Stack,
    ZehnlabsControl,
    entry_point,
    eventually,
    log_events,
)

__all__ = [
    "BIN",
    "MARKET_OPEN_MONDAY",
    "ZEHNLABS_KEY",
    "IBSimControl",
    "Stack",
    "ZehnlabsControl",
    "entry_point",
    "eventually",
    "log_events",
]
