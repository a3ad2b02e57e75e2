"""Web adapter: FastAPI application (health now; manage pages, self-service, admin, API later)."""
