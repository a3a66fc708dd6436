"""Run the whole system locally on the simulators: process helpers, a private redis-server,
the stack of services, and the one-command demo (`rebalancer-demo`). Used by the demo, the
end-to-end tests and the benchmarks, so all three start things the same way."""
