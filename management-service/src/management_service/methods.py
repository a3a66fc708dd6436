"""OPTIONS and 405 name every method of a path.

Starlette tries the routes in order and answers a method the first matching route lacks with 405
and that route's methods only: `OPTIONS /queue/events` got `405, Allow: GET` though the path also
takes POST and DELETE. `AllowedMethods` answers OPTIONS itself (204 with the whole `Allow`) and
corrects the `Allow` of every 405. It adds no CORS headers: a preflight from another site's page
is still refused by the browser.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.datastructures import MutableHeaders
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.status import HTTP_204_NO_CONTENT, HTTP_405_METHOD_NOT_ALLOWED
from starlette.types import ASGIApp, Message, Receive, Scope, Send

METHOD_ORDER = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def allowed_methods(routes: Sequence[BaseRoute], scope: Scope) -> list[str]:
    """Every method some route takes on the path of `scope`, plus OPTIONS; [] for no route.

    Each method is tried through the routes' public `matches`: FastAPI nests included routers in
    route objects of its own, so the routes are not a flat list of paths and methods to read.
    """
    found = [
        method
        for method in METHOD_ORDER
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return [*found, "OPTIONS"] if found and "OPTIONS" not in found else found


class AllowedMethods:
    """ASGI middleware over the app's `routes` (the list itself: routes added later count)."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["method"] == "OPTIONS":
            allow = allowed_methods(self.routes, scope)
            if allow:
                response = Response(
                    status_code=HTTP_204_NO_CONTENT, headers={"Allow": ", ".join(allow)}
                )
                await response(scope, receive, send)
                return

        async def send_with_allow(message: Message) -> None:
            if message["type"] == "http.response.start" and (
                message["status"] == HTTP_405_METHOD_NOT_ALLOWED
            ):
                allow = allowed_methods(self.routes, scope)
                if allow:
                    MutableHeaders(scope=message)["Allow"] = ", ".join(allow)
            await send(message)

        await self.app(scope, receive, send_with_allow)
