"""The FastAPI application. Built by ``mailflow.app``; holds no global state."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import Engine

from mailflow.errors import MailflowError
from mailflow.store.migrate import ensure_migrated


def create_web_app(engine: Engine) -> FastAPI:
    """The web application over ``engine``."""
    web = FastAPI(title="mailflow", version="0.1.0")

    @web.get("/healthz")
    def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @web.get("/readyz")
    def readyz() -> JSONResponse:
        """Readiness: the database answers and is migrated."""
        try:
            ensure_migrated(engine)
        except MailflowError as exc:
            return JSONResponse({"status": "unavailable", "detail": str(exc)}, status_code=503)
        except Exception as exc:
            return JSONResponse(
                {"status": "unavailable", "detail": f"database: {type(exc).__name__}"}, status_code=503
            )
        return JSONResponse({"status": "ok"})

    return web
