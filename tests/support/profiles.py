"""Hypothesis profiles: `ci` (the default, what CI runs) and `fast` (the fast loop, `make check`).

Chosen by HYPOTHESIS_PROFILE, or `fast` when REBALANCER_FAST_TESTS=1. A property test asks
`examples(n)` for its count: n in CI, a few dozen in the fast loop, so a one-line change is
checked in seconds and CI still searches thousands of accounts.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

FAST_EXAMPLES = 30

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "fast",
    max_examples=FAST_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
PROFILE = os.environ.get(
    "HYPOTHESIS_PROFILE", "fast" if os.environ.get("REBALANCER_FAST_TESTS") == "1" else "ci"
)
settings.load_profile(PROFILE)


def examples(ci: int) -> int:
    """How many examples a property runs: `ci` in CI, at most FAST_EXAMPLES in the fast loop."""
    return ci if PROFILE == "ci" else min(ci, FAST_EXAMPLES)
