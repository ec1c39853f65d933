"""The service's secrets: the database URL and password, and the cursor signing key.

With Dapr they come from the sidecar's secret store, under the keys below; without Dapr
they are the ``TASKORA_*`` settings, read from the environment. Secret values never reach
a log line, an error message or ``/readyz``.
"""

from __future__ import annotations

import logging
import os
from typing import Protocol

from pydantic import SecretStr

from taskora.config import MIN_CURSOR_KEY_LENGTH, Settings

logger = logging.getLogger(__name__)

DATABASE_URL_SECRET = "database-url"
DATABASE_PASSWORD_SECRET = "database-password"
CURSOR_KEY_SECRET = "cursor-key"


class SecretUnavailable(Exception):
    """A secret could not be read or is invalid; the message names its key, not its value."""


class SecretSource(Protocol):
    """A source of secrets. ``get`` returns None for a key the source lacks."""

    name: str

    async def get(self, key: str) -> str | None: ...


async def apply_secrets(settings: Settings, source: SecretSource) -> Settings:
    """Return ``settings`` with each secret that ``source`` has in place of the setting.

    A secret the source lacks keeps its ``TASKORA_*`` value from the environment.
    """
    updates: dict[str, object] = {}

    database_url = await source.get(DATABASE_URL_SECRET)
    if database_url is not None:
        try:
            updates["database_url"] = Settings.check_database_url(database_url.strip())
        except ValueError:
            # The validator's message quotes the scheme, which is the whole value when the
            # value has no colon, so it is not repeated here.
            raise SecretUnavailable(
                f"the secret {DATABASE_URL_SECRET!r} from {source.name} is not a database "
                "URL: store sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
            ) from None

    database_password = await source.get(DATABASE_PASSWORD_SECRET)
    if database_password is not None:
        updates["database_password"] = SecretStr(database_password)

    cursor_key = await source.get(CURSOR_KEY_SECRET)
    if cursor_key is not None:
        if len(cursor_key) < MIN_CURSOR_KEY_LENGTH:
            raise SecretUnavailable(
                f"the secret {CURSOR_KEY_SECRET!r} from {source.name} is shorter than "
                f"{MIN_CURSOR_KEY_LENGTH} characters: store a random value such as the "
                "output of `openssl rand -hex 32`"
            )
        updates["cursor_key"] = SecretStr(cursor_key)

    secret_keys = {
        "database_url": DATABASE_URL_SECRET,
        "database_password": DATABASE_PASSWORD_SECRET,
        "cursor_key": CURSOR_KEY_SECRET,
    }
    found = sorted(secret_keys[setting] for setting in updates)
    logger.info(
        "Read %s from %s. The other secrets keep their TASKORA_* settings.",
        ", ".join(found) if found else "no secrets",
        source.name,
    )
    resolved = settings.model_copy(update=updates)
    if os.environ.get("KUBERNETES_SERVICE_HOST") and resolved.resolved_database_url.startswith(
        "sqlite"
    ):
        # A pod's SQLite file is its own and goes away with it: almost surely a missing secret.
        logger.warning(
            "Running on Kubernetes with the embedded SQLite database, so every replica has its "
            "own tasks: store %r in %s or set TASKORA_DATABASE_URL",
            DATABASE_URL_SECRET,
            source.name,
        )
    return resolved
