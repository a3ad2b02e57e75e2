"""Request and response shapes of ``/api/v1/webhooks`` (pydantic; issue 19)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from mailflow.api.models import Strict
from mailflow.services.webhooks import EVENTS, MAX_URL

EVENTS_TEXT = "Event types, from: " + ", ".join(EVENTS) + "."


class WebhookIn(Strict):
    """A new endpoint: any http(s) URL, private addresses included."""

    url: str = Field(max_length=MAX_URL, description="Where the signed POSTs go.")
    events: list[str] | None = Field(default=None, description=EVENTS_TEXT + " Default: all.")


class WebhookUpdate(Strict):
    """Only the fields given change; ``enabled: true`` clears the failure count."""

    url: str | None = Field(default=None, max_length=MAX_URL)
    events: list[str] | None = Field(default=None, description=EVENTS_TEXT)
    enabled: bool | None = None


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None = Field(description="Why it was disabled (the last error), or null.")
    failing_since: datetime | None = Field(description="The first failed attempt since the last success.")
    consecutive_failures: int
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="The signing secret (whsec_…): shown only in this answer.")


class DeliveryOut(BaseModel):
    id: int
    endpoint_id: int
    webhook_id: str = Field(description="The webhook-id header: the same on every attempt.")
    type: str
    booking: str | None = Field(description="The booking's reference, if the event concerns one.")
    status: str = Field(description="pending, sending, delivered or failed.")
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None = Field(description="The HTTP status of the last answer (null: none came).")
    last_response: str | None = Field(description="The first bytes of the last answer, or what went wrong.")
    delivered_at: datetime | None
