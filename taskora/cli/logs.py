"""Logging set-up for the commands that run the service or change the database."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=LOG_FORMAT, force=True)
    # Alembic logs each plugin it sets up at INFO, which buries the service's own start-up lines.
    logging.getLogger("alembic").setLevel(max(logging.WARNING, logging.getLogger().level))
