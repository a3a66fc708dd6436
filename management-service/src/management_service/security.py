"""Who may call the API from a browser: the Host allow-list and the rules for state changes.

The service listens on 127.0.0.1, and a web page the user visits can still make the browser send
requests there, in two ways:

- DNS rebinding: the page's own name is made to resolve to 127.0.0.1, so the browser treats the
  API as the page's own origin and lets it read the answers. Its requests carry the page's name in
  `Host` (`Host: attacker.example`), so only known host names are answered, on every path.
- Cross-site request forgery: the page submits a form to 127.0.0.1 (it cannot read the answer,
  but a `POST /processing/resume` does not need to be read). A form can send neither a custom
  header nor `Content-Type: application/json`, and a script that adds either needs a CORS
  preflight this service never approves. So, when no token is set, a state change needs one of
  them, and an `Origin`, when the browser sends one, must be the service's own.

With a token set the state-change rule is not applied: a browser never adds the bearer token to a
request another site makes, so the token proves intent on its own (and without it the answer is
401 anyway). The Host allow-list applies with or without a token.

The rules are pure functions of header values; `RequestGuard` is the ASGI middleware that applies
them before any route runs, so a route added later is covered without doing anything.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from rebalancer_shared.errors import ConfigError
from rebalancer_shared.log import get_logger
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.status import HTTP_403_FORBIDDEN, HTTP_421_MISDIRECTED_REQUEST
from starlette.types import ASGIApp, Receive, Scope, Send

log = get_logger(__name__)

BUILT_IN_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "management-service"})
"""Answered always: this machine, and the compose service name (Prometheus, other containers)."""

ALLOWED_HOSTS_SETTING = "MANAGEMENT_ALLOWED_HOSTS"

INTENT_HEADER = "X-Rebalancer-Request"
INTENT_VALUE = "1"
"""The header a state change sends when no token is set; any value counts, `1` is documented."""

STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

DEFAULT_PORTS = {"http": 80, "https": 443}

_HOST_NAME = re.compile(r"[a-z0-9_]([a-z0-9_.-]*[a-z0-9_])?|\[[0-9a-f:.]+\]")
"""A DNS name, an IPv4 address or a bracketed IPv6 address, lower case, without a port."""


@dataclass(frozen=True)
class Refusal:
    status: int
    detail: str


# --- host names ---------------------------------------------------------------------------------


def parse_allowed_hosts(setting: str) -> frozenset[str]:
    """The names of MANAGEMENT_ALLOWED_HOSTS (comma-separated), or ConfigError naming a bad one.

    Names only: any port is answered, so a port or a scheme here is a mistake worth stopping for.
    """
    hosts = set()
    for entry in setting.split(","):
        name = entry.strip().lower()
        if not name:
            continue
        if name.count(":") >= 2 and not name.startswith("[") and "/" not in name:
            name = f"[{name}]"  # a bare IPv6 address, written as the Host header carries it
        if not _HOST_NAME.fullmatch(name):
            raise ConfigError(
                f"environment: {ALLOWED_HOSTS_SETTING}: {entry.strip()!r} is not a host name: "
                "write names or addresses only, without scheme or port, like "
                "rebalancer.lan,192.168.1.20 (any port is answered)"
            )
        hosts.add(name)
    return frozenset(hosts)


def split_host(host: str) -> tuple[str, int | None]:
    """`Host` (or an origin's authority) as (lower-case name, port or None): `[::1]:8000` ->
    (`[::1]`, 8000). A port that is not a number leaves the whole value as the name."""
    host = host.strip().lower()
    end = host.find("]") + 1 if host.startswith("[") else 0  # after an IPv6 address
    name, colon, port = host[end:].rpartition(":")
    if not colon:
        return host, None
    if not port.isdigit():
        return host, None
    return host[:end] + name, int(port)


def host_refusal(host: str | None, allowed: frozenset[str]) -> Refusal | None:
    """421 unless the request's Host names this service: a rebound name is not answered."""
    name = split_host(host)[0] if host is not None else None
    if name is not None and name in allowed:
        return None
    # The configured names are not listed: a rebinding page reads this answer.
    what = f"host {name!r} is not" if name is not None else "a request without a Host header is"
    return Refusal(
        HTTP_421_MISDIRECTED_REQUEST,
        f"{what} answered: this service answers {', '.join(sorted(BUILT_IN_HOSTS))} and the "
        f"names in {ALLOWED_HOSTS_SETTING}. If you reach it by this name, add the name there "
        "(comma-separated, any port) and restart the service",
    )


# --- state changes ------------------------------------------------------------------------------


def is_json(content_type: str | None) -> bool:
    """`application/json` (parameters such as charset aside), or a `+json` type like it."""
    if content_type is None:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (
        media.startswith("application/") and media.endswith("+json")
    )


def origin_refusal(
    origin: str | None, scheme: str, host: str, trusted: frozenset[str]
) -> Refusal | None:
    """403 when the browser says another site sent the request.

    Accepted: no Origin (curl, scripts), the request's own origin (same scheme, host and port, as
    the dashboard and /docs send), or any origin whose host is in MANAGEMENT_ALLOWED_HOSTS (a
    reverse proxy in front, which may change the scheme or the port).
    """
    if origin is None:
        return None
    scheme_of, separator, authority = origin.strip().partition("://")
    if separator and "/" not in authority:  # not "null", not a URL with a path
        theirs = _origin(scheme_of, authority)
        if theirs == _origin(scheme, host) or theirs[1] in trusted:
            return None
    return Refusal(
        HTTP_403_FORBIDDEN,
        f"Origin {origin!r} is not this service ({scheme}://{host}): a page of another site "
        "cannot change the rebalancer. If you use the API through another name, add that name "
        f"to {ALLOWED_HOSTS_SETTING}",
    )


def _origin(scheme: str, authority: str) -> tuple[str, str, int | None]:
    """(scheme, host name, port), the scheme's default port filled in: comparable as is."""
    name, port = split_host(authority)
    scheme = scheme.lower()
    return scheme, name, port or DEFAULT_PORTS.get(scheme)


def intent_refusal(
    method: str, path: str, content_type: str | None, intent: str | None
) -> Refusal | None:
    """403 unless the request carries what a web form cannot send: the header or a JSON type."""
    if intent is not None or is_json(content_type):
        return None
    return Refusal(
        HTTP_403_FORBIDDEN,
        f"{method} {path} changes the rebalancer and needs the header "
        f"'{INTENT_HEADER}: {INTENT_VALUE}' (or a JSON body sent as 'Content-Type: "
        "application/json'): it shows the request is not a form another web page submitted. "
        "Or set MANAGEMENT_API_TOKEN and send 'Authorization: Bearer <token>'",
    )


def state_change_refusal(
    method: str, path: str, scheme: str, headers: Headers, trusted: frozenset[str]
) -> Refusal | None:
    return origin_refusal(
        headers.get("origin"), scheme, headers.get("host", ""), trusted
    ) or intent_refusal(method, path, headers.get("content-type"), headers.get(INTENT_HEADER))


# --- the middleware -----------------------------------------------------------------------------


class RequestGuard:
    """ASGI middleware: the Host allow-list on every request, the state-change rule when asked."""

    def __init__(self, app: ASGIApp, allowed_hosts: frozenset[str], check_intent: bool) -> None:
        self.app = app
        self.hosts = BUILT_IN_HOSTS | allowed_hosts
        self.trusted_origins = allowed_hosts
        self.check_intent = check_intent

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":  # lifespan; the API has no websockets
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        method, path = scope["method"], scope["path"]
        refusal = host_refusal(headers.get("host"), self.hosts)
        if refusal is None and self.check_intent and method in STATE_CHANGING:
            refusal = state_change_refusal(
                method, path, scope["scheme"], headers, self.trusted_origins
            )
        if refusal is None:
            await self.app(scope, receive, send)
            return
        log.warning(
            "request.refused",
            method=method,
            path=path,
            status=refusal.status,
            reason=refusal.detail,
        )
        response = JSONResponse({"detail": refusal.detail}, status_code=refusal.status)
        await response(scope, receive, send)


# --- OpenAPI ------------------------------------------------------------------------------------


def declare_intent_header(schema: dict[str, Any]) -> None:
    """Name the header in every state-changing operation of `schema` (and its 403), so that
    clients generated from the schema, and Swagger UI's "Try it out", send it.

    Required where the operation takes no body; optional where it takes JSON (enough on its own).
    """
    for item in schema.get("paths", {}).values():
        for method, operation in item.items():
            if method.upper() not in STATE_CHANGING:
                continue
            operation.setdefault("parameters", []).append(
                {
                    "name": INTENT_HEADER,
                    "in": "header",
                    "required": "requestBody" not in operation,
                    "schema": {"type": "string", "default": INTENT_VALUE},
                    "description": "Shows the request is not a form another web page submitted "
                    "(needed when no MANAGEMENT_API_TOKEN is set).",
                }
            )
            operation.setdefault("responses", {})["403"] = {
                "description": f"Sent without {INTENT_HEADER} (or a JSON body), or from a page "
                "of another site (Origin).",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}
                },
            }
