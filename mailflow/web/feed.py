"""``GET /cal/{token}.ics``: a staff member's private calendar feed (``services.calendar_feed``).

Calendar apps poll it every few minutes: the ETag is answered with 304 and no body
when nothing changed. An unknown or replaced token gets the same plain 404 as any
other wrong link.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends, Request
from fastapi.responses import PlainTextResponse, Response

from mailflow.services.calendar_feed import read_feed
from mailflow.web.deps import Wiring, clock, wiring

__all__ = ["router"]

router = APIRouter()
CACHING = {"Cache-Control": "private, no-cache", "Referrer-Policy": "no-referrer"}


def etag_matches(header: str | None, etag: str) -> bool:
    """Whether an ``If-None-Match`` header names ``etag`` (or is ``*``); weak tags count."""
    if not header:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in tags or etag in tags


@router.get("/cal/{token}.ics", include_in_schema=False)
def calendar_feed(
    token: str, request: Request, site: Wiring = Depends(wiring), now: datetime = Depends(clock)
) -> Response:
    settings = site.notifier.builder.settings
    feed = read_feed(site.engine, token, now, public_url=settings.public_url, domain=settings.message_domain)
    if feed is None:
        return PlainTextResponse("Not found\n", status_code=404, headers=CACHING)
    headers = {**CACHING, "ETag": feed.etag}
    if etag_matches(request.headers.get("if-none-match"), feed.etag):
        return Response(status_code=304, headers=headers)
    return Response(feed.build(), media_type="text/calendar; charset=utf-8", headers=headers)
