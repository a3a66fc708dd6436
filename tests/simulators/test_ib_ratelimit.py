"""IB's 50-messages-per-second limit, as the simulator holds each client to it."""

from __future__ import annotations

from ib_gateway_sim.ratelimit import RateLimiter, Verdict


def test_fifty_messages_at_once_pass_and_the_fifty_first_is_refused() -> None:
    limiter = RateLimiter(limit=50, disconnect_factor=2)
    verdicts = [limiter.record(10.0) for _ in range(51)]
    assert verdicts[:50] == [Verdict.ACCEPT] * 50
    assert verdicts[50] is Verdict.REFUSE


def test_a_steady_pace_at_the_limit_always_passes() -> None:
    limiter = RateLimiter(limit=50)
    assert {limiter.record(n * 0.02) for n in range(500)} == {Verdict.ACCEPT}  # 50/s for 10 s


def test_a_steady_pace_above_the_limit_is_refused_once_the_burst_allowance_is_spent() -> None:
    limiter = RateLimiter(limit=50)
    verdicts = [limiter.record(n / 60) for n in range(600)]  # 60/s for 10 s
    # The allowance of 50 shrinks by 10 a second: refusals start after about 5 s, then 10 a second.
    assert 250 <= verdicts.index(Verdict.REFUSE) <= 350
    assert 40 <= verdicts.count(Verdict.REFUSE) <= 60


def test_bursts_paced_like_ib_async_pass_even_when_they_arrive_late() -> None:
    limiter = RateLimiter(limit=50)
    # 45 sent at the start of every second; the first burst is read 30 ms late.
    arrivals = [0.030] * 45 + [1.0 + n * 0.0005 for n in range(45)]
    arrivals += [2.0 + n * 0.0005 for n in range(45)]
    assert {limiter.record(t) for t in arrivals} == {Verdict.ACCEPT}


def test_a_client_is_served_again_after_a_pause() -> None:
    limiter = RateLimiter(limit=5)
    for _ in range(8):
        limiter.record(1.0)
    assert limiter.record(1.05) is Verdict.REFUSE
    assert limiter.record(1.5) is Verdict.ACCEPT


def test_flooding_beyond_twice_the_limit_in_a_second_means_disconnect() -> None:
    limiter = RateLimiter(limit=50, disconnect_factor=2)
    verdicts = [limiter.record(5.0) for _ in range(101)]
    assert verdicts[99] is Verdict.REFUSE
    assert verdicts[100] is Verdict.DISCONNECT


def test_a_limit_of_zero_switches_the_limit_off() -> None:
    limiter = RateLimiter(limit=0)
    assert {limiter.record(1.0) for _ in range(1000)} == {Verdict.ACCEPT}
