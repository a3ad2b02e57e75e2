"""Request and response shapes of ``/api/v1/templates`` (pydantic)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from mailflow.api.models import Strict


class TemplateState(BaseModel):
    kind: str
    locale: str
    state: Literal["default", "edited"]
    version: int | None = Field(description="The saved version in force; null for the shipped default.")
    versions: int = Field(description="How many versions are saved.")


class VersionOut(BaseModel):
    version: int
    created_at: datetime
    created_by: str
    note: str
    current: bool
    subject: str


class TemplateOut(TemplateState):
    subject: str
    mjml: str
    text: str | None
    history: list[VersionOut]


class TemplateDraft(Strict):
    subject: str = Field(max_length=1000)
    mjml: str = Field(max_length=200_000)
    text: str | None = Field(default=None, max_length=200_000, description="Null: derived from the HTML.")


class NewVersion(TemplateDraft):
    note: str = Field(default="", max_length=500)


class Preview(Strict):
    """Render with sample data; without ``draft`` the template in force is rendered."""

    variant: Literal["manage", "no-manage"] = "manage"
    draft: TemplateDraft | None = None


class ProblemOut(BaseModel):
    part: str
    line: int | None
    message: str


class ValidationOut(BaseModel):
    valid: bool
    problems: list[ProblemOut]


class PreviewOut(BaseModel):
    subject: str
    html: str
    text: str
