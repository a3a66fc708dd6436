"""Re-exported from `rebalancer_local.redis_server` (shared with the demo and the benchmarks)."""

from rebalancer_local.redis_server import RedisServer

__all__ = ["RedisServer"]
