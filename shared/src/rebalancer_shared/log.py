"""Structured JSON logs: one line per event, `service` always bound, secrets never shown.

Services call `configure_logging(service, level, secrets)` once at start; modules use
`get_logger()`. `event_id` and `account_id` are bound per event with
`structlog.contextvars.bound_contextvars(...)`, so every line written while an event is being
processed carries them. Library loggers (stdlib `logging`) go through the same pipeline, so a
URL with a key in it logged by a library is redacted too.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any, TextIO
from urllib.parse import quote, quote_plus

import structlog

REDACTED = "[REDACTED]"

# Fields whose value is a secret whatever it is (a key named like this is never logged).
_SECRET_FIELD = re.compile(r"(password|passwd|secret|token|api_key|apikey|authorization)", re.I)


class SecretRedactor:
    """A structlog processor that removes configured secret values from every field."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # A secret can also appear URL-encoded (an SDK logging its connect URL with the key in
        # the query): those forms are redacted too. Longest first, so a secret containing
        # another is replaced whole.
        given = {s for s in secrets if len(s) >= 4}
        forms = given | {quote(s, safe="") for s in given} | {quote_plus(s) for s in given}
        values = sorted(forms, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in values)) if values else None

    def __call__(
        self, logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        return {key: self._clean(key, value) for key, value in event_dict.items()}

    def _clean(self, key: str, value: Any) -> Any:
        if _SECRET_FIELD.search(key) and value not in (None, "", False):
            return REDACTED
        if isinstance(value, str):
            return self._pattern.sub(REDACTED, value) if self._pattern else value
        if isinstance(value, Mapping):
            return {str(k): self._clean(str(k), v) for k, v in value.items()}
        if isinstance(value, list | tuple | set):
            return [self._clean(key, item) for item in value]
        if isinstance(value, int | float | bool) or value is None:
            return value
        return self._clean(key, str(value))


def configure_logging(
    service: str,
    level: str = "INFO",
    secrets: Iterable[str] = (),
    stream: TextIO | None = None,
) -> None:
    """JSON lines on `stream` (stdout by default) for structlog and stdlib loggers alike."""
    redactor = SecretRedactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
    ]
    structlog.configure(
        processors=[
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            _bind_service(service),
            redactor,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
    )
    handler = logging.StreamHandler(stream or sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Chatty libraries stay at WARNING unless we debug.
    for name in ("ib_async", "socketio", "engineio", "httpx", "aiohttp.access", "uvicorn.access"):
        logging.getLogger(name).setLevel(logging.DEBUG if level.upper() == "DEBUG" else "WARNING")


def _bind_service(service: str) -> Any:
    def processor(
        logger: Any, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event_dict.setdefault("service", service)
        return event_dict

    return processor


def get_logger(name: str | None = None, **bound: Any) -> Any:
    """A structlog logger; `log.info("order.filled", symbol=..., qty=...)`."""
    # Lazy: a module-level logger created before configure_logging() still uses its pipeline.
    return structlog.stdlib.get_logger(name, **bound)
