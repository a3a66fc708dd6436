"""Phone notifications through apprise (`NOTIFY_URLS`: ntfy, Telegram, email, ...).

What is sent (SPEC section 10): a rebalance done, with its orders; an event failed (the first
failure, then at most one notice per event per hour); an event delayed to the market open; the
gateway unreachable for long, and back.

Sending never raises into the caller and never blocks the event loop: apprise delivers from its
worker threads while we await the outcome, bounded by a timeout. A notice that cannot be delivered
is logged. With no URLs configured, every notice is logged and nothing is sent.

The URLs carry tokens and passwords, so they are never logged, and apprise's own log lines are
filtered: below WARNING they are dropped (they print full request URLs and payloads), the rest
have every part of a configured URL replaced.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from pydantic import SecretStr

from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import REDACTED, get_logger
from rebalancer_shared.settings import Settings

if TYPE_CHECKING:
    import apprise

# apprise's NotifyType values: the notice's icon and colour where the service shows one.
NoticeType = Literal["info", "success", "warning", "failure"]

# One notice per failing event per hour: enough to know it still fails, not a flood while it is
# retried every minute.
FAILURE_NOTICE_INTERVAL = timedelta(hours=1)

# Per-event failure bookkeeping is dropped after this long without a notice, so events deleted
# through the management API (we are not told) do not accumulate.
_FORGET_FAILURE_AFTER = timedelta(days=1)

# A slow mail server must not hold a rebalance back for long.
DEFAULT_TIMEOUT_SECONDS = 30.0

# A phone shows a few lines; the management API has the full list.
MAX_ORDER_LINES = 20
MAX_ERROR_CHARS = 500


log = get_logger(__name__)


def _utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class _FailureNotices:
    last_sent: datetime
    suppressed: int = 0


class Notifier:
    """Sends the system's notices to every configured apprise URL."""

    def __init__(
        self,
        urls: Sequence[str | SecretStr] = (),
        *,
        clock: Callable[[], datetime] = _utc_now,
        failure_interval: timedelta = FAILURE_NOTICE_INTERVAL,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
    ) -> None:
        """Raises ConfigError naming the entry (never its text) for a URL apprise cannot use."""
        plain = [url.get_secret_value() if isinstance(url, SecretStr) else url for url in urls]
        plain = [url.strip() for url in plain if url.strip()]
        self._clock = clock
        self._failure_interval = failure_interval
        self._timeout = timeout_seconds
        self._failures: dict[str, _FailureNotices] = {}
        self._gateway_alerted = False
        self._apprise: apprise.Apprise | None = None
        if plain:
            # Imported only when there is somewhere to send to: apprise and requests take about
            # 2 MiB of memory (issue 9), which a processor without NOTIFY_URLS never needs.
            import apprise

            _APPRISE_LOG_FILTER.add_secrets(plain)
            self._apprise = apprise.Apprise()
            for number, url in enumerate(plain, start=1):
                if not self._apprise.add(url):
                    raise ConfigError(
                        f"environment: NOTIFY_URLS: entry {number} ({_describe_scheme(url)}) is "
                        "not a notification URL apprise understands; see "
                        "https://github.com/caronc/apprise/wiki for the URL of each service"
                    )

    @classmethod
    def from_settings(cls, settings: Settings) -> Notifier:
        return cls(settings.notify_urls)

    @property
    def enabled(self) -> bool:
        """True when at least one URL is configured."""
        return self._apprise is not None

    # -- the notices -----------------------------------------------------------------------------

    async def rebalance_done(
        self,
        account_id: str,
        event_id: str,
        orders: Sequence[Mapping[str, Any]],
        observe_only: bool,
    ) -> bool:
        """The orders of a finished rebalance, one `BUY 12 SPY @ 512.30` line each.

        An order is a mapping with `symbol`, `action` (or `side`: BUY/SELL), `quantity` (or
        `qty`, `shares`, `filled`; a negative quantity without an action is a sell) and
        optionally a price (`avg_fill_price`, `fill_price`, `avg_price`, `price` or
        `limit_price`, the first present). Returns True when every service accepted it.
        """
        # The event succeeded: a later failure of the same id starts its notices afresh.
        self._failures.pop(event_id, None)
        count = len(orders)
        noun = "order" if count == 1 else "orders"
        if observe_only:
            title = f"{account_id}: planned {count} {noun} (observe only)"
        elif count:
            title = f"{account_id}: rebalanced, {count} {noun}"
        else:
            title = f"{account_id}: on target, no orders"
        lines = [format_order(order) for order in orders[:MAX_ORDER_LINES]]
        if count > MAX_ORDER_LINES:
            lines.append(f"... and {count - MAX_ORDER_LINES} more")
        if observe_only:
            lines.append("Observe only: nothing was placed.")
        lines.append(f"event {event_id}")
        return await self._send(
            "rebalance_done",
            title,
            "\n".join(lines),
            "success",
            account_id=account_id,
            event_id=event_id,
        )

    async def event_failed(
        self, account_id: str, event_id: str, error: str | BaseException, times_queued: int
    ) -> bool:
        """An event failed and waits for its retry. The first failure of an event is sent; later
        ones at most once per `failure_interval`, saying how many were not sent in between."""
        now = self._clock()
        self._forget_old_failures(now)
        notices = self._failures.get(event_id)
        if notices is not None and now - notices.last_sent < self._failure_interval:
            notices.suppressed += 1
            log.info(
                "notify.suppressed",
                kind="event_failed",
                account_id=account_id,
                event_id=event_id,
                suppressed=notices.suppressed,
            )
            return False
        suppressed = notices.suppressed if notices else 0
        # Recorded before sending, so two failures reported at once send one notice.
        self._failures[event_id] = _FailureNotices(last_sent=now)
        text = _error_text(error)
        lines = [text, f"Queued {times_queued}x; it is retried until it succeeds or is deleted."]
        if suppressed:
            failures = "failure" if suppressed == 1 else "failures"
            lines.append(f"{suppressed} more {failures} since the last notice.")
        lines.append(f"event {event_id}")
        return await self._send(
            "event_failed",
            f"{account_id}: event failed",
            "\n".join(lines),
            "failure",
            account_id=account_id,
            event_id=event_id,
        )

    async def delayed_to_open(
        self, account_id: str, event_id: str, opens_at: datetime, reason: str
    ) -> bool:
        """An event waits for the market open; `opens_at` is shown in its own time zone."""
        body = f"{reason}\nRuns at {opens_at:%a %Y-%m-%d %H:%M %Z}.\nevent {event_id}"
        return await self._send(
            "delayed_to_open",
            f"{account_id}: delayed to market open",
            body,
            "info",
            account_id=account_id,
            event_id=event_id,
        )

    async def gateway_unreachable(self, minutes: float) -> bool:
        """The processor has had no gateway connection for `minutes`; the caller picks when."""
        self._gateway_alerted = True
        body = (
            "No orders can be placed until it is back. If IB asks for the weekly two-factor "
            "login, approve it in the IBKR app or through noVNC."
        )
        return await self._send(
            "gateway_unreachable",
            f"IB Gateway unreachable for {minutes:.0f} min",
            body,
            "warning",
        )

    async def gateway_back(self) -> bool:
        """The gateway answers again. Sent only after an unreachable notice, so a short blip
        that never alarmed anyone does not send an all-clear either."""
        if not self._gateway_alerted:
            log.info("notify.suppressed", kind="gateway_back", reason="no alert was sent")
            return False
        self._gateway_alerted = False
        return await self._send(
            "gateway_back",
            "IB Gateway connected again",
            "Waiting events run now.",
            "success",
        )

    # -- delivery --------------------------------------------------------------------------------

    async def _send(
        self,
        kind: str,
        title: str,
        body: str,
        notify_type: NoticeType,
        **fields: str,
    ) -> bool:
        if self._apprise is None:
            log.info("notify.skipped", kind=kind, title=title, reason="no NOTIFY_URLS", **fields)
            return False
        try:
            result = await asyncio.wait_for(
                self._apprise.async_notify(body=body, title=title, notify_type=notify_type),
                timeout=self._timeout,
            )
        except TimeoutError:
            log.warning(
                "notify.failed", kind=kind, title=title, reason=f"timeout {self._timeout:g} s"
            )
            return False
        except Exception as error:  # a notice must never break the rebalance that sends it
            log.warning(
                "notify.failed",
                kind=kind,
                title=title,
                reason=_APPRISE_LOG_FILTER.redact(f"{type(error).__name__}: {error}"),
                **fields,
            )
            return False
        if result:
            log.info("notify.sent", kind=kind, title=title, **fields)
            return True
        # apprise names each failed service ("JSON", "Telegram"), never with its URL.
        failed = [
            str(getattr(item, "name", "?")) for item in getattr(result, "results", ()) if not item
        ]
        log.warning("notify.failed", kind=kind, title=title, failed_services=failed, **fields)
        return False

    def _forget_old_failures(self, now: datetime) -> None:
        stale = [
            event_id
            for event_id, notices in self._failures.items()
            if now - notices.last_sent > max(_FORGET_FAILURE_AFTER, self._failure_interval)
        ]
        for event_id in stale:
            del self._failures[event_id]


def format_order(order: Mapping[str, Any]) -> str:
    """`BUY 12 SPY @ 512.30` (no `@` part without a price)."""
    quantity = _first(order, "quantity", "qty", "shares", "filled")
    action = str(_first(order, "action", "side") or "").upper()
    if not action and isinstance(quantity, int | float):
        action = "SELL" if quantity < 0 else "BUY"
    if isinstance(quantity, int | float):
        quantity = abs(quantity)
    line = f"{action or '?'} {_number(quantity)} {order.get('symbol', '?')}"
    price = _first(order, "avg_fill_price", "fill_price", "avg_price", "price", "limit_price")
    if isinstance(price, int | float) and not isinstance(price, bool) and price > 0:
        line += f" @ {price:.2f}" if price >= 1 else f" @ {price:.4f}"
    return line


def _first(order: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if order.get(key) is not None:
            return order[key]
    return None


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "?" if value is None else str(value)


def _error_text(error: str | BaseException) -> str:
    text = str(error) or type(error).__name__
    text = text.strip()
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "..."


def _describe_scheme(url: str) -> str:
    """What a bad URL may show of itself: its scheme, which is never secret."""
    scheme, separator, _ = url.partition("://")
    if separator and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]{0,19}", scheme):
        return f"scheme {scheme!r}"
    return "no scheme://"


class _SecretUrlFilter(logging.Filter):
    """Keeps the parts of configured notification URLs out of apprise's and urllib3's logs."""

    # As the shared log redactor: shorter parts would blank out ordinary words and ports.
    MIN_PART_LENGTH = 4

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None

    def add_secrets(self, urls: Iterable[str]) -> None:
        for url in urls:
            self._secrets.update(part for part in _url_parts(url) if part)
        ordered = sorted(self._secrets, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(s) for s in ordered)) if ordered else None

    def redact(self, text: str) -> str:
        return self._pattern.sub(REDACTED, text) if self._pattern else text

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name == "apprise" and record.levelno < logging.WARNING:
            return False
        if self._pattern is not None:
            message = record.getMessage()
            redacted = self.redact(message)
            if redacted != message:
                record.msg, record.args = redacted, None
        return True


def _url_parts(url: str) -> list[str]:
    """The whole URL and every piece of it that may be a secret (user, password, host, path
    segments, query values). Over-redacting apprise's warnings costs little; a leaked token more."""
    parts = [url]
    try:
        split = urlsplit(url)
        pieces = [split.username, split.password, split.hostname, split.netloc]
        pieces += split.path.split("/")
        pieces += [value for _, value in parse_qsl(split.query)]
    except ValueError:
        pieces = re.split(r"[/:@?&=#,]", url)
    parts += [p for p in pieces if p and len(p) >= _SecretUrlFilter.MIN_PART_LENGTH]
    return parts


_APPRISE_LOG_FILTER = _SecretUrlFilter()
# apprise logs through the `apprise` logger; requests (which it uses) through urllib3, whose
# DEBUG lines print request paths, where Telegram and others carry their tokens.
for _name in ("apprise", "urllib3.connectionpool"):
    logging.getLogger(_name).addFilter(_APPRISE_LOG_FILTER)
