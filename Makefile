# Shortcuts for the commands the README and docs/ describe. Each one is an ordinary script or
# uv command; the Makefile only names them.

.PHONY: check test bench demo

# The fast loop while you work (under a minute): format, lint, types, and the tests that start
# no process (the rest are marked slow in tests/conftest.py).
check:
	./scripts/check

# Formatting, lint, types and the whole test suite: exactly what CI runs (.ci/run).
test:
	./scripts/test

# The system benchmark on the simulators (docs/performance.md); writes bench-results.json.
# Options after BENCH_ARGS=, e.g. make bench BENCH_ARGS="--no-chaos --latency-runs 10".
bench:
	./scripts/bench $(BENCH_ARGS)

# The whole system on the simulators, one command (README).
demo:
	./scripts/demo
