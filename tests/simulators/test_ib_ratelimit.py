"""IB's 50-messages-per-second limit, counted in a sliding one-second window per client."""

from __future__ import annotations

from ib_gateway_sim.ratelimit import RateLimiter, Verdict


def test_fifty_messages_in_a_second_pass_and_the_fifty_first_is_refused() -> None:
    limiter = RateLimiter(limit=50, disconnect_factor=2)
    verdicts = [limiter.record(10.0 + n * 0.01) for n in range(51)]
    assert verdicts[:50] == [Verdict.ACCEPT] * 50
    assert verdicts[50] is Verdict.REFUSE


def test_the_window_slides_so_a_steady_pace_under_the_limit_always_passes() -> None:
    limiter = RateLimiter(limit=50)
    verdicts = {limiter.record(n * 0.025) for n in range(400)}  # 40 a second for 10 s
    assert verdicts == {Verdict.ACCEPT}


def test_a_client_is_served_again_once_the_second_has_passed() -> None:
    limiter = RateLimiter(limit=5)
    for _ in range(8):
        limiter.record(1.0)
    assert limiter.record(1.5) is Verdict.REFUSE
    assert limiter.record(2.6) is Verdict.ACCEPT


def test_flooding_beyond_twice_the_limit_means_disconnect() -> None:
    limiter = RateLimiter(limit=50, disconnect_factor=2)
    verdicts = [limiter.record(5.0) for _ in range(101)]
    assert verdicts[99] is Verdict.REFUSE
    assert verdicts[100] is Verdict.DISCONNECT


def test_a_limit_of_zero_switches_the_limit_off() -> None:
    limiter = RateLimiter(limit=0)
    assert {limiter.record(1.0) for _ in range(1000)} == {Verdict.ACCEPT}
