"""How long each HTTP request took, by route template, method and status: an ASGI middleware
that hands every request to an observer, the one timing both metrics sinks share (Prometheus
under uvicorn, functions/web/metrics.py; CloudWatch EMF on Lambda, functions/telemetry.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from functions.web import API_PREFIX

# observer(route template, method, status, seconds)
RequestObserver = Callable[[str, str, int, float], None]


class TimedRequests:
    """Times every HTTP request to the end of its answer (streamed answers included) and hands
    it to each of `observers`, whatever the answer was (an exception counts as a 500)."""

    def __init__(self, app: ASGIApp, observers: tuple[RequestObserver, ...]) -> None:
        self.app = app
        self.observers = observers

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope)
            for observe in self.observers:
                observe(route, scope["method"], status[0], seconds)


def route_template(scope: Scope) -> str:
    """The matched route's path template (`/api/v1/uploads/{upload_id}`), never the raw path
    (one series per route, not per upload); `unmatched` for a path no route serves."""
    template = getattr(scope.get("route"), "path", None)
    if not template:
        return "unmatched"
    # A route of an included router keeps its own path: add the prefix it is served under.
    if scope.get("path", "").startswith(API_PREFIX) and not template.startswith(API_PREFIX):
        return API_PREFIX + template
    return template
