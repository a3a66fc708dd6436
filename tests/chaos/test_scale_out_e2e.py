"""Scale-out (SPEC section 5, rule 7): two processor instances on one Redis and one gateway.

Fifty accounts in two strategies; each strategy's rebalance is published with a
`print-positions` for the same accounts right behind it, then the rebalance again with new
weights while the first round still runs, so both instances want the same accounts at the same
time. Every event runs once (one attempt, one success), every publication reaches every
account, both instances do part of the work, neither exceeds IB's 50 messages a second, and
never do two events of one account run at once: each attempt starts after every earlier
attempt of its account, in either instance, last wrote while holding it (their JSON logs,
merged by timestamp).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from rebalancer_testkit.chaos import ChaosSystem, run_scale_out
from rebalancer_testkit.chaos_audit import audit, read_processor_logs, report

from tests.chaos.conftest import chaos_seed, write_artifact


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_two_processors_on_one_redis_run_every_event_once_and_never_one_account_twice_at_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    with capsys.disabled():
        print(f"\nscale-out seed: {seed}")
    system = ChaosSystem(tmp_path / "scale-out")
    try:
        run = run_scale_out(system, seed, account_count=50, processors=2)
    except BaseException:
        system.stack.print_logs()
        raise
    finally:
        system.close()
    result = audit(run)
    artifact = write_artifact("scale-out.json", report(run, result))
    where = f"seed {seed}; figures in {artifact}"
    if result.violations:
        system.stack.print_logs(30)
    assert result.violations == [], "\n".join([where, *result.violations])

    figures = result.figures
    assert figures["accounts"] == 50
    assert figures["events_published"] == 100, where  # two rounds of two strategies of 25
    assert figures["events_lost"] == figures["events_duplicated"] == 0, where
    assert figures["overlapping_attempts"] == 0, where
    attempts, _ = read_processor_logs(run.facts["processor_logs"])
    per_event = Counter(attempt.event_id for attempt in attempts)
    assert max(per_event.values()) == 1, f"an event ran more than once: {per_event}; {where}"
    succeeded = Counter(r["event_id"] for r in run.facts["history"] if r["outcome"] == "succeeded")
    assert set(succeeded) == set(per_event), where
    assert max(succeeded.values()) == 1, where
    assert figures["attempts"] == {"succeeded": len(per_event)}, where
    commands = Counter(r["exec"] for r in run.facts["history"])
    assert commands["print-positions"] == 50, f"{commands}; {where}"
    # Each instance is one IB client, held to 50 a second by the simulator's allowance (its
    # peak, timed on arrival, is a figure: a late read can crowd a second).
    ib = figures["ib_stats"]
    assert ib["messages_refused"] == 0, (ib, where)
    by_process = figures["attempts_per_process"]
    assert len(by_process) == 2 and min(by_process.values()) > 0, (
        f"both instances take part: {by_process}; {where}"
    )
