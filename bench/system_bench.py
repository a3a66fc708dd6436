"""System benchmark: the whole rebalancer on the simulators, measured where the real limit is
(IB accepts about 50 API messages per second per client).

    uv run python -m bench.system_bench        # or: make bench

Starts its own redis-server, both simulators and the three services (127.0.0.1, free ports),
then measures, prints a table and writes `bench-results.json`:

* startup: seconds from spawning each process to it being ready (processor: `processor.started`,
  broker: `catch_up.done`, management: `GET /health` answered; simulators and Redis: port open);
* latency: one account, `--latency-runs` rebalances 1.1 s apart, so each starts with IB's
  one-second window clear (weights alternate, so each run sells and buys): from the moment the
  publish call returns to the moment the processor
  holds IB's confirmation of the account's last fill (the history record's `started_at` plus its
  `timings` lap of the last order batch); also to the record written (the end of the event);
* fan-out: one strategy event to `--fanout-accounts` accounts with `--concurrency` events at once:
  total time, orders, IB messages (the simulator's `messages_received`) per order, the mean
  message rate over the fan-out and the peak over any one second (sampled every 0.5 s here, and
  the simulator's own peak) as a fraction of 50/s, messages refused with error 100;
* stream: publish -> queued latency of the broker over each transport (Ably and Socket.IO),
  `--stream-runs` publishes, from two extra brokers on their own Redis databases
  (bench/stream_latency.py), and each one's resident memory;
* memory: resident memory (VmRSS, and PSS) of each service idle and its peak during the
  fan-out, while the bench asks the management service for /queue/status and /metrics every
  0.5 s as a dashboard would; the services run from a runtime-only environment, as in the
  Docker images (`--dev-venv`: from this one);
* faults: a chaos run (`rebalancer_testkit.chaos`, seeded) with its audit: events published,
  processed, lost, duplicated, kills survived (`--no-chaos` skips it and reads the figures of the
  last chaos test from test-artifacts/chaos.json if there are any).

The bench polls (the simulator's stats, Redis counters, /proc); the services never do.
Exit code 1 when a goal of docs/performance.md is missed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from rebalancer_local.processes import ManagedProcess, uv_executable, wait_for
from rebalancer_local.redis_server import RedisServer
from rebalancer_local.stack import MARKET_OPEN_MONDAY, Stack, log_events
from rebalancer_shared import keys
from rebalancer_testkit.chaos import QUOTES, AccountSeed, ChaosSystem, make_accounts, run_chaos
from rebalancer_testkit.chaos_audit import audit, report

from bench.stream_latency import measure_stream_latency
from bench.stream_latency import table_rows as stream_rows

IB_LIMIT_PER_SECOND = 50.0
SINGLE = "bench-single"
FANOUT = "bench-fanout"
SINGLE_WEIGHTS = (
    {"SPY": 0.45, "TLT": 0.35, "GLD": 0.18},
    {"SPY": 0.30, "TLT": 0.50, "GLD": 0.18},
)
FANOUT_WEIGHTS = {"VTI": 0.35, "TLT": 0.25, "IEF": 0.2, "GLD": 0.1, "DBC": 0.08}
SERVICES = ("event-processor", "event-broker", "management-service")
SAMPLE_SECONDS = 0.5
LATENCY_PAUSE_SECONDS = 1.1
MIB = 1024.0

GOAL_BUDGET_USED = 0.8  # mean message rate over the fan-out, fraction of 50/s
GOAL_MESSAGES_PER_ORDER = 1.5
GOAL_BROKER_RSS_MIB = 90.0  # the broker alone, with the Ably SDK loaded
GOAL_SERVICES_RSS_MIB = 250.0  # VmRSS of the three summed, MiB as ps, top and docker show it


def _proc_kib(path: str, field_name: str) -> float:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{field_name}:"):
                return float(line.split()[1])
    except OSError:
        pass
    return 0.0


def rss_mib(pid: int) -> float:
    """Resident memory of a process (VmRSS), MiB; 0 when it is gone. Pages of shared libraries
    count in full in every process that maps them."""
    return _proc_kib(f"/proc/{pid}/status", "VmRSS") / MIB


def pss_mib(pid: int) -> float:
    """Proportional set size, MiB: shared pages divided among the processes sharing them, so
    the PSS of several processes adds up to the memory they take together."""
    return _proc_kib(f"/proc/{pid}/smaps_rollup", "Pss") / MIB


def log_time(process: ManagedProcess, event: str) -> float | None:
    """Wall-clock time of the first JSON log line `event` of a process."""
    for record in log_events(process):
        if record.get("event") == event and "timestamp" in record:
            return datetime.fromisoformat(str(record["timestamp"])).timestamp()
    return None


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


@dataclass
class Sample:
    at: float
    messages: int
    refused: int
    orders: int
    rss: dict[str, float]
    pss: dict[str, float]


@dataclass
class Sampler:
    """Every 0.5 s: the simulator's counters and each service's resident memory."""

    ib_control_port: int
    pids: Mapping[str, int]
    management_port: int
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Sampler:
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        management = httpx.Client(base_url=f"http://127.0.0.1:{self.management_port}", timeout=5)
        with httpx.Client(base_url=f"http://127.0.0.1:{self.ib_control_port}", timeout=5) as http:
            while not self._stop.is_set():
                # What a dashboard and Prometheus ask meanwhile: the management service's load.
                for path in ("/queue/status", "/metrics"):
                    management.get(path).raise_for_status()
                stats = http.get("/stats").json()
                self.samples.append(
                    Sample(
                        at=time.time(),
                        messages=int(stats["messages_received"]),
                        refused=int(stats.get("messages_refused", 0)),
                        orders=int(stats["orders"]),
                        rss={name: rss_mib(pid) for name, pid in self.pids.items()},
                        pss={name: pss_mib(pid) for name, pid in self.pids.items()},
                    )
                )
                self._stop.wait(SAMPLE_SECONDS)
        management.close()

    def peak_rate(self, since: float, until: float) -> float:
        """The most messages received within any one second between the samples (per second)."""
        inside = [s for s in self.samples if since - SAMPLE_SECONDS <= s.at <= until + 1.0]
        best = 0.0
        for i, first in enumerate(inside):
            for later in inside[i + 1 :]:
                if later.at - first.at >= 0.95:
                    best = max(best, (later.messages - first.messages) / (later.at - first.at))
                    break
        return best

    def peak_memory(self, since: float, until: float) -> dict[str, dict[str, float]]:
        """Per service, the highest RSS and PSS sampled; and the highest sums of the three."""
        inside = [s for s in self.samples if since <= s.at <= until] or self.samples[-1:]
        return {
            "rss": {name: max(s.rss[name] for s in inside) for name in self.pids},
            "pss": {name: max(s.pss[name] for s in inside) for name in self.pids},
            "total": {
                "rss": max(sum(s.rss.values()) for s in inside),
                "pss": max(sum(s.pss.values()) for s in inside),
            },
        }


def runtime_venv(path: Path) -> Path:
    """A virtual environment with the runtime packages only, as the Docker images have them
    (`uv sync --frozen --no-dev`), so that memory is measured without the dev tools (rich,
    pygments and greenlet, which structlog imports when they are installed). Returns its bin.

    Compiled to bytecode like the images (UV_COMPILE_BYTECODE=1): where PYTHONDONTWRITEBYTECODE
    is set, as in the images and some shells, a service would otherwise compile every module
    from source at each start, which leaves 5 to 14 MiB more resident per service."""
    environment = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(path)}
    root = Path(__file__).resolve().parents[1]
    subprocess.run(
        [
            uv_executable(),
            *("sync", "--frozen", "--no-dev", "--all-packages", "--compile-bytecode", "--quiet"),
        ],
        cwd=root,
        env=environment,
        check=True,
    )
    return path / "bin"


class ServicesStack(Stack):
    """The Stack, with the three services started from another environment's entry points."""

    def __init__(self, workdir: Path, redis_url: str, services_bin: Path | None) -> None:
        super().__init__(workdir, redis_url)
        self.services_bin = services_bin

    def _start(
        self, name: str, argv: list[str], env: Mapping[str, str] | None = None
    ) -> ManagedProcess:
        program = Path(argv[0]).name
        if self.services_bin is not None and program in SERVICES:
            argv = [str(self.services_bin / program), *argv[1:]]
        return super()._start(name, argv, env)


class BenchSystem:
    """redis-server, both simulators and the three services, with their start-to-ready times."""

    def __init__(self, workdir: Path, concurrency: int, services_bin: Path | None) -> None:
        self.workdir = workdir
        self.concurrency = concurrency
        self.services_bin = services_bin
        self.redis = RedisServer(workdir / "redis")
        self.stack: Stack | None = None
        self.startup: dict[str, float] = {}
        self.services: dict[str, ManagedProcess] = {}

    def _timed(self, name: str, start: Callable[[], Any]) -> Any:
        spawned = time.time()
        result = start()
        self.startup[name] = round(time.time() - spawned, 3)
        return result

    def start(self, accounts: Sequence[AccountSeed]) -> Stack:
        self._timed("redis-server", self.redis.start)
        stack = self.stack = ServicesStack(
            self.workdir / "stack", self.redis.url, self.services_bin
        )
        self._timed("ib-gateway-sim", stack.start_ib_sim)
        self._timed("zehnlabs-sim", stack.start_zehnlabs_sim)
        stack.ib.put_quotes(QUOTES)
        stack.ib.set_clock(MARKET_OPEN_MONDAY, running=True)
        for account in accounts:
            stack.ib.put_account(account.account_id, account.cash, account.positions)
        stack.write_accounts([account.yaml_row() for account in accounts])
        stack.zehnlabs.set_allocations(SINGLE, SINGLE_WEIGHTS[0])
        stack.zehnlabs.set_allocations(FANOUT, FANOUT_WEIGHTS)

        env = {
            "MAX_CONCURRENT_EVENTS": str(self.concurrency),
            "ORDER_TIMEOUT_SECONDS": "30",
            "LOG_LEVEL": "INFO",
        }
        spawned = time.time()
        processor = stack.start_processor("event-processor", **env)
        self.startup["event-processor"] = _since(spawned, log_time(processor, "processor.started"))
        wait_for(lambda: log_time(processor, "gateway.ready") is not None, 20, "the gateway")
        self.startup["event-processor (gateway connected)"] = _since(
            spawned, log_time(processor, "gateway.ready")
        )
        spawned = time.time()
        broker = stack.start_broker("event-broker")
        self.startup["event-broker"] = _since(spawned, log_time(broker, "catch_up.done"))
        spawned = time.time()
        management = stack.start_management("management-service")
        with httpx.Client(timeout=5) as http:
            url = f"http://127.0.0.1:{stack.management_port}/health"
            wait_for(lambda: _answers(http, url), 30, "management-service /health")
        self.startup["management-service"] = round(time.time() - spawned, 3)
        self.services = {
            "event-processor": processor,
            "event-broker": broker,
            "management-service": management,
        }
        return stack

    def close(self) -> None:
        try:
            if self.stack is not None:
                self.stack.stop_all()
        finally:
            self.redis.stop()


def _since(spawned: float, ready: float | None) -> float:
    return round((ready if ready is not None else time.time()) - spawned, 3)


def _answers(http: httpx.Client, url: str) -> bool:
    try:
        return http.get(url).status_code in (200, 503)
    except httpx.HTTPError:
        return False


# --- the measurements ------------------------------------------------------------------------


def history(client: redis.Redis, newer_than: float = 0.0) -> list[dict[str, Any]]:
    rows = [json.loads(row) for row in client.lrange(keys.HISTORY, 0, -1)]
    return [r for r in rows if _epoch(r.get("finished_at")) > newer_than]


def _epoch(value: Any) -> float:
    return datetime.fromisoformat(str(value)).timestamp() if value else 0.0


def last_fill_at(record: Mapping[str, Any]) -> float:
    """When the processor held IB's confirmation of the event's last fill: the claim time plus
    the `timings` lap of its last order batch (buys, else sells)."""
    timings = record["details"].get("timings", {})
    lap = timings.get("buys", timings.get("sells", timings.get("done", 0.0)))
    return _epoch(record["started_at"]) + float(lap)


def succeeded(client: redis.Redis) -> int:
    return int(client.hget(keys.COUNTERS, "succeeded") or 0)


def _more_than(client: redis.Redis, count: int) -> Callable[[], bool]:
    return lambda: succeeded(client) > count


def measure_latency(stack: Stack, client: redis.Redis, account: str, runs: int) -> dict[str, Any]:
    to_fill: list[float] = []
    to_record: list[float] = []
    orders: list[int] = []
    ib_messages: list[int] = []
    for run in range(runs):
        # Each run on its own: the previous run's messages out of IB's one-second window.
        time.sleep(LATENCY_PAUSE_SECONDS)
        stack.zehnlabs.set_allocations(SINGLE, SINGLE_WEIGHTS[(run + 1) % 2])
        sent_before = stack.ib.stats()["messages_received"]
        before = succeeded(client)
        stack.zehnlabs.publish(SINGLE)
        published = time.time()
        wait_for(_more_than(client, before), 60, f"latency run {run + 1}", 0.005)
        [record] = [r for r in history(client, published) if r["account_id"] == account]
        assert record["outcome"] == "succeeded", record
        to_fill.append(last_fill_at(record) - published)
        to_record.append(_epoch(record["finished_at"]) - published)
        orders.append(len(record["details"].get("orders", [])))
        ib_messages.append(stack.ib.stats()["messages_received"] - sent_before)
    return {
        "runs": runs,
        "orders_per_run": round(statistics.mean(orders), 2),
        "ib_messages_per_run": round(statistics.mean(ib_messages), 2),
        "publish_to_last_fill_seconds": _summary(to_fill),
        "publish_to_recorded_seconds": _summary(to_record),
    }


def _summary(values: Sequence[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values, 0.5), 3),
        "p95": round(percentile(values, 0.95), 3),
        "min": round(min(values), 3),
        "max": round(max(values), 3),
    }


def measure_fanout(
    stack: Stack,
    client: redis.Redis,
    sampler: Sampler,
    accounts: Sequence[AccountSeed],
) -> dict[str, Any]:
    wanted = {account.account_id for account in accounts}
    before = stack.ib.stats()
    done_before = succeeded(client)
    stack.zehnlabs.publish(FANOUT)
    published = time.time()
    wait_for(
        lambda: succeeded(client) >= done_before + len(wanted), 600, "the fan-out", interval=0.05
    )
    records = [r for r in history(client, published) if r["account_id"] in wanted]
    finished = max(_epoch(r["finished_at"]) for r in records)
    last_fill = max(last_fill_at(r) for r in records)
    time.sleep(SAMPLE_SECONDS * 2)  # a sample after the end
    after = stack.ib.stats()
    messages = after["messages_received"] - before["messages_received"]
    orders = after["orders"] - before["orders"]
    seconds = finished - published
    peak = sampler.peak_rate(published, finished)
    return {
        "accounts": len(wanted),
        "events_succeeded": sum(r["outcome"] == "succeeded" for r in records),
        "attempts_failed": sum(r["outcome"] == "failed" for r in records),
        "total_seconds": round(seconds, 2),
        "publish_to_last_fill_seconds": round(last_fill - published, 2),
        "orders": orders,
        "ib_messages": messages,
        "ib_messages_per_order": round(messages / orders, 3) if orders else None,
        "mean_messages_per_second": round(messages / seconds, 2),
        "mean_budget_used": round(messages / seconds / IB_LIMIT_PER_SECOND, 3),
        "peak_messages_per_second_sampled": round(peak, 1),
        "peak_budget_used_sampled": round(peak / IB_LIMIT_PER_SECOND, 3),
        "simulator_peak_messages_per_second": after["peak_messages_per_second"],
        "messages_refused": after.get("messages_refused", 0) - before.get("messages_refused", 0),
        "orders_per_second": round(orders / seconds, 2),
    }


def run_fault_figures(workdir: Path, seed: int) -> dict[str, Any]:
    system = ChaosSystem(workdir / "chaos")
    try:
        run = run_chaos(system, seed)
    finally:
        system.close()
    result = audit(run)
    return {"source": "bench chaos run", **_fault_summary(report(run, result))}


def _fault_summary(chaos_report: Mapping[str, Any]) -> dict[str, Any]:
    figures = chaos_report["figures"]
    return {
        "seed": chaos_report["seed"],
        "events_published": figures["events_published"],
        "events_processed": figures["events_processed"],
        "events_coalesced": figures["events_coalesced"],
        "events_lost": figures["events_lost"],
        "events_duplicated": figures["events_duplicated"],
        "kills_survived": figures["kills_survived"],
        "faults": figures["faults"],
        "attempts": figures["attempts"],
        "violations": len(chaos_report["violations"]),
        "chaos_seconds": figures["chaos_seconds"],
        "settle_seconds": figures["settle_seconds"],
    }


def fault_figures_from_artifact(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {"source": f"none: {path} not found (run the chaos test, or drop --no-chaos)"}
    return {"source": str(path), **_fault_summary(json.loads(path.read_text()))}


# --- the run ---------------------------------------------------------------------------------


def run_bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    rng = random.Random(args.seed)
    single = AccountSeed("DU7000001", SINGLE, 1.0, 100_000.0, {})
    fanout = make_accounts(rng, args.fanout_accounts, [FANOUT], first_number=7_100_000)
    services_bin = None if args.dev_venv else runtime_venv(args.runtime_venv)
    system = BenchSystem(workdir, args.concurrency, services_bin)
    results: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "latency_runs": args.latency_runs,
            "stream_runs": args.stream_runs,
            "fanout_accounts": args.fanout_accounts,
            "max_concurrent_events": args.concurrency,
            "seed": args.seed,
            "services_from": "the dev environment" if args.dev_venv else "runtime-only packages",
        },
    }
    try:
        stack = system.start([single, *fanout])
        results["startup_seconds"] = system.startup
        pids = {name: process.pid for name, process in system.services.items()}
        client = system.redis.client()
        with Sampler(stack.ib_control_port, pids, stack.management_port) as sampler:
            time.sleep(2.0)  # idle: connected, subscribed, nothing to do
            idle = sampler.peak_memory(time.time() - 1.0, time.time())
            say(f"latency: {args.latency_runs} runs of one account ...")
            results["latency"] = measure_latency(
                stack, client, single.account_id, args.latency_runs
            )
            say(f"fan-out: one event to {args.fanout_accounts} accounts ...")
            started = time.time()
            results["fanout"] = measure_fanout(stack, client, sampler, fanout)
            loaded = sampler.peak_memory(started, time.time())
        client.close()
        say(f"stream: {args.stream_runs} publishes over Ably and Socket.IO ...")
        results["stream_latency"] = measure_stream_latency(
            stack, system.redis.url, args.stream_runs, rss_mib
        )
        results["memory_mib"] = {
            "idle_rss": _rounded(idle["rss"]),
            "under_load_rss": _rounded(loaded["rss"]),
            "idle_pss": _rounded(idle["pss"]),
            "under_load_pss": _rounded(loaded["pss"]),
            "services_total_idle_rss": round(idle["total"]["rss"], 1),
            "services_total_under_load_rss": round(loaded["total"]["rss"], 1),
            "services_total_under_load_rss_mb": round(loaded["total"]["rss"] * MIB * 1024 / 1e6, 1),
            "services_total_under_load_pss": round(loaded["total"]["pss"], 1),
        }
    finally:
        system.close()
    if args.no_chaos:
        results["faults"] = fault_figures_from_artifact(args.chaos_artifact)
    else:
        say(f"faults: chaos run, seed {args.chaos_seed} ...")
        results["faults"] = run_fault_figures(workdir, args.chaos_seed)
    results["goals"] = goals(results)
    return results


def _rounded(values: Mapping[str, float]) -> dict[str, float]:
    return {name: round(value, 1) for name, value in values.items()}


def goals(results: Mapping[str, Any]) -> dict[str, bool]:
    fanout = results["fanout"]
    faults = results["faults"]
    found = {
        "fanout_budget_used_at_least_80_percent": fanout["mean_budget_used"] >= GOAL_BUDGET_USED,
        "fanout_never_above_the_limit": fanout["messages_refused"] == 0
        and fanout["peak_messages_per_second_sampled"] <= IB_LIMIT_PER_SECOND
        and fanout["simulator_peak_messages_per_second"] <= IB_LIMIT_PER_SECOND,
        "fanout_at_most_1_5_messages_per_order": (fanout["ib_messages_per_order"] or 0)
        <= GOAL_MESSAGES_PER_ORDER,
        "broker_with_ably_under_90_mib_rss": results["stream_latency"]["ably"]["broker_rss_mib"]
        < GOAL_BROKER_RSS_MIB,
        "services_under_250_mib_rss_under_load": results["memory_mib"][
            "services_total_under_load_rss"
        ]
        < GOAL_SERVICES_RSS_MIB,
    }
    if "events_lost" in faults:
        found["faults_nothing_lost_or_duplicated"] = (
            faults["events_lost"] == faults["events_duplicated"] == faults["violations"] == 0
        )
    return found


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def table(results: Mapping[str, Any]) -> str:
    lines: list[str] = []

    def row(name: str, value: object) -> None:
        lines.append(f"  {name:<44} {value}")

    lines.append("startup (spawn to ready, s)")
    for name, seconds in results["startup_seconds"].items():
        row(name, f"{seconds:.2f}")
    latency = results["latency"]
    fill, record = latency["publish_to_last_fill_seconds"], latency["publish_to_recorded_seconds"]
    lines.append(
        f"one account, {latency['runs']} runs ({latency['orders_per_run']} orders, "
        f"{latency['ib_messages_per_run']} IB messages each)"
    )
    row("publish -> last fill p50 / p95 (s)", f"{fill['p50']:.3f} / {fill['p95']:.3f}")
    row("publish -> recorded p50 / p95 (s)", f"{record['p50']:.3f} / {record['p95']:.3f}")
    lines.append("the broker's stream, per transport")
    for name, value in stream_rows(results["stream_latency"]):
        row(name, value)
    fanout = results["fanout"]
    lines.append(f"one event fanned out to {fanout['accounts']} accounts")
    row("total time, publish -> last recorded (s)", fanout["total_seconds"])
    row("publish -> last fill (s)", fanout["publish_to_last_fill_seconds"])
    row("orders / IB messages", f"{fanout['orders']} / {fanout['ib_messages']}")
    row("IB messages per order", fanout["ib_messages_per_order"])
    row(
        "mean rate (msg/s, share of 50/s)",
        f"{fanout['mean_messages_per_second']} ({100 * fanout['mean_budget_used']:.0f} %)",
    )
    row(
        "peak rate over 1 s, sampled (share of 50/s)",
        f"{fanout['peak_messages_per_second_sampled']} "
        f"({100 * fanout['peak_budget_used_sampled']:.0f} %)",
    )
    row("simulator's peak (msg/s, timed on arrival)", fanout["simulator_peak_messages_per_second"])
    row("messages refused (error 100)", fanout["messages_refused"])
    row("failed attempts", fanout["attempts_failed"])
    memory = results["memory_mib"]
    lines.append("resident memory, MiB: RSS idle / under load (PSS under load)")
    for name in SERVICES:
        row(
            name,
            f"{memory['idle_rss'][name]:.1f} / {memory['under_load_rss'][name]:.1f} "
            f"({memory['under_load_pss'][name]:.1f})",
        )
    row(
        "three services together",
        f"{memory['services_total_idle_rss']} / {memory['services_total_under_load_rss']} "
        f"({memory['services_total_under_load_pss']}); "
        f"{memory['services_total_under_load_rss_mb']} MB RSS",
    )
    faults = results["faults"]
    lines.append(f"faults ({faults['source']})")
    for name in ("seed", "events_published", "events_processed", "events_coalesced"):
        if name in faults:
            row(name, faults[name])
    for name in ("events_lost", "events_duplicated", "kills_survived", "violations"):
        if name in faults:
            row(name, faults[name])
    if "faults" in faults:
        row("faults injected", ", ".join(f"{k} {v}" for k, v in sorted(faults["faults"].items())))
    lines.append("goals")
    for name, met in results["goals"].items():
        row(name, "met" if met else "MISSED")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--latency-runs", type=int, default=30)
    parser.add_argument("--stream-runs", type=int, default=30, help="publishes per transport")
    parser.add_argument("--fanout-accounts", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=24, help="MAX_CONCURRENT_EVENTS")
    parser.add_argument("--seed", type=int, default=7, help="the fan-out accounts' seed")
    parser.add_argument("--chaos-seed", type=int, default=20261123)
    parser.add_argument("--no-chaos", action="store_true", help="read the chaos test's figures")
    parser.add_argument("--chaos-artifact", type=Path, default=Path("test-artifacts/chaos.json"))
    parser.add_argument("--output", type=Path, default=Path("bench-results.json"))
    parser.add_argument(
        "--runtime-venv",
        type=Path,
        default=Path(tempfile.gettempdir()) / "rebalancer-bench-runtime-venv",
        help="where to build the runtime-only environment the services run from",
    )
    parser.add_argument(
        "--dev-venv", action="store_true", help="run the services from this (dev) environment"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs)")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="system-bench-"))
    say(f"work directory (logs of every process): {workdir}")
    results = run_bench(args, workdir)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written to {args.output}")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(results["goals"].values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
