"""Helpers for tests of the event log's retention."""

from __future__ import annotations

import time
from datetime import timedelta

from taskora.server.domain.tasks import utc_now
from taskora.server.store import events as event_log
from taskora.server.store.database import Database

PUBLISH_TIMEOUT_SECONDS = 10.0


def prune_everything(url: str) -> tuple[int, int]:
    """Wait until every event is published, prune them all, and return the log state.

    The state is (last position assigned, last position deleted).
    """
    database = Database(url)
    try:
        deadline = time.monotonic() + PUBLISH_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with database.read() as session:
                if not event_log.unpublished_events(session, 1):
                    break
            time.sleep(0.05)
        with database.write() as session:
            event_log.prune(session, utc_now() + timedelta(seconds=1))
        with database.read() as session:
            return event_log.log_state(session)
    finally:
        database.dispose()
