"""The FastAPI service. Import :func:`taskora.server.app.create_app` to build it."""
