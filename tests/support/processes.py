"""Re-exported from `rebalancer_local.processes` (shared with the demo and the benchmarks)."""

from rebalancer_local.processes import ManagedProcess, free_port, port_open, wait_for

__all__ = ["ManagedProcess", "free_port", "port_open", "wait_for"]
