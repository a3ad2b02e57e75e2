"""Web adapter: the FastAPI application (``app.create_web_app``), the customer pages
(``manage``, ``find``, ``book``, with their dependencies in ``deps``) and the admin (``admin/``)."""
