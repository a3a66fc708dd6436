"""SPEC section 5 under random faults: nothing lost, nothing traded twice, money rules kept.

Twenty paper accounts in four strategies (different cash, holdings and reserves) follow some
thirty rebalance publications, about 150 account events, while a seeded schedule kills the
processor, the broker and Redis (append-only file, restarted on the same port) with SIGKILL,
drops the gateway connection, makes the allocations API fail for a few requests and redelivers
stream messages. Then every fault is cleared, the system settles, and `audit` checks on ground
truth (the simulator's orders, the history in Redis, every process's log): each published event
processed exactly once per account or coalesced by the dedup rule, none lost, none
duplicated, no dedup key left, never two events of an account at once, no symbol bought twice
for one event, cash never below the reserve at any fill, every account on target. The rules of
that accounting are written at `rebalancer_testkit.chaos_audit.audit`.

The seed is printed, named in every assertion message and written with all the figures to
test-artifacts/chaos.json. `CHAOS_SEED=<n>` replays a run's schedule (the order of actions and
their parameters; the timing of a real system differs from run to run).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rebalancer_testkit.chaos import ChaosSystem, run_chaos
from rebalancer_testkit.chaos_audit import audit, report

from tests.chaos.conftest import chaos_seed, write_artifact


@pytest.mark.slow
@pytest.mark.timeout(420)
def test_rebalances_under_random_kills_and_faults_are_each_processed_once_and_keep_the_money_rules(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    seed = chaos_seed()
    with capsys.disabled():  # in the test output even when it passes
        print(f"\nchaos seed: {seed} (replay: CHAOS_SEED={seed})")
    system = ChaosSystem(tmp_path / "chaos")
    try:
        run = run_chaos(system, seed)
    except BaseException:
        system.stack.print_logs()
        raise
    finally:
        system.close()
    result = audit(run)
    artifact = write_artifact("chaos.json", report(run, result))
    figures = result.figures
    with capsys.disabled():
        print(
            f"chaos: {figures['events_published']} events published, "
            f"{figures['events_processed']} processed ({figures['events_coalesced']} coalesced), "
            f"{figures['events_lost']} lost, {figures['events_duplicated']} duplicated, "
            f"{figures['kills_survived']} kills survived; {artifact}"
        )
    where = f"chaos seed {seed} (replay: CHAOS_SEED={seed}); figures in {artifact}"
    if result.violations:
        system.stack.print_logs(30)
        # What the audit judged, for the post-mortem of a run that cannot be replayed exactly
        # (the process logs stay in pytest's temporary directory, named in the output above).
        facts = {k: v for k, v in run.facts.items() if not k.endswith("_logs")}
        kept = write_artifact("chaos-facts.json", facts)
        where += f"; IB's orders and books and the history in {kept}"
    assert result.violations == [], "\n".join([where, *result.violations])
    assert figures["events_published"] >= 100, where
    assert figures["events_lost"] == figures["events_duplicated"] == 0, where
    assert figures["events_processed"] == figures["events_published"], where
    assert figures["faults"]["processor_kills"] >= 3, where
    assert figures["faults"]["broker_kills"] >= 3, where
    assert figures["faults"]["redis_kills"] >= 3, where
    assert figures["faults"]["gateway_drops"] >= 1, where
    assert figures["faults"]["allocation_faults"] >= 1, where
    assert figures["faults"]["redeliveries"] >= 1, where
    assert figures["attempts"].get("failed", 0) > 0, f"the faults made no attempt fail: {where}"
