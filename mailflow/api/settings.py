"""``/api/v1/business``, ``/services``, ``/staff``, ``/customers``: the business and its settings.

A settings change is audited (before and after) and applies from then on:
the manage rule is evaluated when an email is rendered or a page is shown, so
turning ``customer_can_manage`` on gives the next email of an existing
booking its Manage button. Reminders already planned keep their times; new
offsets apply to bookings made or moved afterwards.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy import delete
from sqlmodel import Session, col, select

from mailflow.api.errors import FieldInvalid
from mailflow.api.keys import ApiCaller
from mailflow.api.models import (
    MAX_OFFSET,
    BusinessOut,
    BusinessUpdate,
    CustomerOut,
    ServiceOut,
    ServiceUpdate,
    StaffOut,
)
from mailflow.errors import NotFound
from mailflow.store import queries
from mailflow.store.engine import read_session, write_session
from mailflow.store.tables import AuditEvent, Business, Customer, Service, ServiceStaff, Staff, pk

if TYPE_CHECKING:
    from mailflow.api import Api


def business_out(business: Business) -> BusinessOut:
    return BusinessOut.model_validate(business, from_attributes=True)


def service_out(session: Session, service: Service) -> ServiceOut:
    staff = [member.email for member in queries.staff_for_service(session, service)]
    return ServiceOut.model_validate({**service.model_dump(), "staff": staff})


def staff_out(session: Session, member: Staff) -> StaffOut:
    slugs = session.exec(
        select(Service.slug)
        .join(ServiceStaff, col(ServiceStaff.service_id) == col(Service.id))
        .where(ServiceStaff.staff_id == member.id)
        .order_by(col(Service.slug))
    ).all()
    return StaffOut.model_validate({**member.model_dump(), "services": list(slugs)})


def _audit(session: Session, api: Api, caller: ApiCaller, action: str, before: Any, after: Any) -> None:
    actor = api.actor(caller)
    session.add(
        AuditEvent(
            business_id=caller.business_id,
            at=api.clock(),
            actor_kind=actor.kind.value,
            actor_label=actor.label,
            action=action,
            before=before,
            after=after,
        )
    )


def _changes(row: Any, update: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Apply ``update`` to ``row``; the (before, after) of the fields that really changed."""
    before, after = {}, {}
    for name, value in update.items():
        if getattr(row, name) != value:
            before[name], after[name] = getattr(row, name), value
            setattr(row, name, value)
    return before, after


def _service(session: Session, caller: ApiCaller, slug: str) -> Service:
    business = session.get_one(Business, caller.business_id)
    return queries.service_by_slug(session, business, slug)


def _eligible(session: Session, caller: ApiCaller, emails: list[str]) -> list[Staff]:
    members = []
    for index, address in enumerate(emails):
        member = session.exec(
            select(Staff).where(Staff.business_id == caller.business_id, Staff.email == address)
        ).first()
        if member is None:
            raise FieldInvalid.at(("body", "staff", index), f"no staff member {address!r} in this business")
        members.append(member)
    return members


def add_routes(router: APIRouter, api: Api) -> None:
    """The business, services, staff and customers routes."""

    @router.get("/business", response_model=BusinessOut, tags=["business"])
    def get_business(caller: ApiCaller = Depends(api.caller)) -> BusinessOut:
        """The key's business: contact details, sender, locales, time zone, change instructions."""
        with read_session(api.app.engine) as session:
            return business_out(session.get_one(Business, caller.business_id))

    @router.patch("/business", response_model=BusinessOut, tags=["business"])
    def update_business(body: BusinessUpdate, caller: ApiCaller = Depends(api.caller)) -> BusinessOut:
        """Change contact details, sender, default locale, time zone or change instructions."""
        with write_session(api.app.engine) as session:
            business = session.get_one(Business, caller.business_id)
            update = body.model_dump(exclude_unset=True)
            if "name" in update and update["name"] is None:
                raise FieldInvalid.at(("body", "name"), "the name cannot be null")
            for name in ("timezone", "default_locale"):
                if name in update and update[name] is None:
                    raise FieldInvalid.at(("body", name), f"{name} cannot be null")
            for name in ("phone", "email", "address", "sender_name", "sender_email"):
                if name in update:
                    update[name] = (update[name] or "").strip()
            locale = update.get("default_locale")
            if locale is not None and locale not in business.locales:
                raise FieldInvalid.at(
                    ("body", "default_locale"),
                    f"{locale!r} is not one of the business's locales {business.locales}",
                )
            before, after = _changes(business, update)
            if after:
                session.add(business)
                _audit(session, api, caller, "business.updated", before, after)
            return business_out(business)

    @router.get("/services", response_model=list[ServiceOut], tags=["services"])
    def list_services(caller: ApiCaller = Depends(api.caller)) -> list[ServiceOut]:
        """Every service of the business with its settings and eligible staff."""
        with read_session(api.app.engine) as session:
            rows = session.exec(
                select(Service).where(Service.business_id == caller.business_id).order_by(col(Service.id))
            ).all()
            return [service_out(session, row) for row in rows]

    @router.get("/services/{slug}", response_model=ServiceOut, tags=["services"])
    def get_service(slug: str, caller: ApiCaller = Depends(api.caller)) -> ServiceOut:
        """One service; 404 for an unknown slug."""
        with read_session(api.app.engine) as session:
            return service_out(session, _service(session, caller, slug))

    @router.patch("/services/{slug}", response_model=ServiceOut, tags=["services"])
    def update_service(slug: str, body: ServiceUpdate, caller: ApiCaller = Depends(api.caller)) -> ServiceOut:
        """Change settings: ``customer_can_manage``, cut-off, reminders, duration, buffers, staff…"""
        with write_session(api.app.engine) as session:
            service = _service(session, caller, slug)
            update = body.model_dump(exclude_unset=True)
            for name, value in list(update.items()):
                if value is None and name not in ("change_instructions",):
                    raise FieldInvalid.at(("body", name), f"{name} cannot be null")
            emails = update.pop("staff", None)
            before, after = _changes(service, update)
            if emails is not None:
                members = _eligible(session, caller, emails)
                current = [member.email for member in queries.staff_for_service(session, service)]
                if sorted(current) != sorted(emails):
                    session.execute(delete(ServiceStaff).where(col(ServiceStaff.service_id) == pk(service)))
                    for member in members:
                        session.add(ServiceStaff(service_id=pk(service), staff_id=pk(member)))
                    before["staff"], after["staff"] = current, emails
            if after:
                session.add(service)
                session.flush()
                _audit(session, api, caller, "service.updated", {"service": slug, **before}, after)
            return service_out(session, service)

    @router.get("/staff", response_model=list[StaffOut], tags=["staff"])
    def list_staff(caller: ApiCaller = Depends(api.caller)) -> list[StaffOut]:
        """Every staff member with role, working hours and the services they perform."""
        with read_session(api.app.engine) as session:
            rows = session.exec(
                select(Staff).where(Staff.business_id == caller.business_id).order_by(col(Staff.id))
            ).all()
            return [staff_out(session, row) for row in rows]

    @router.get("/customers", response_model=list[CustomerOut], tags=["customers"])
    def list_customers(
        email: str | None = Query(None, description="Only this address."),
        limit: int = Query(100, ge=1, le=500),
        offset: int = Query(0, ge=0, le=MAX_OFFSET),
        caller: ApiCaller = Depends(api.caller),
    ) -> list[CustomerOut]:
        """The business's customers, by email."""
        with read_session(api.app.engine) as session:
            statement = select(Customer).where(Customer.business_id == caller.business_id)
            if email is not None:
                statement = statement.where(Customer.email == email.strip().lower())
            rows = session.exec(statement.order_by(col(Customer.email)).offset(offset).limit(limit)).all()
            return [CustomerOut.model_validate(row, from_attributes=True) for row in rows]

    @router.get("/customers/{email}", response_model=CustomerOut, tags=["customers"])
    def get_customer(email: str, caller: ApiCaller = Depends(api.caller)) -> CustomerOut:
        """One customer by email; 404 when the business has none with that address."""
        with read_session(api.app.engine) as session:
            business = session.get_one(Business, caller.business_id)
            address = email.strip().lower()
            row = queries.customer_for(session, business, address) if "@" in address else None
            if row is None:
                raise NotFound("customer", email)
            return CustomerOut.model_validate(row, from_attributes=True)
