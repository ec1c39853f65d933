"""Users and their API tokens. Tokens are random, so a SHA-256 digest is a safe stored form."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from taskora.server.domain.tasks import utc_now
from taskora.server.store.models import ApiToken, User

logger = logging.getLogger(__name__)

LOCAL_USER_NAME = "local"
TOKEN_PREFIX = "tko_"
USER_NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class UserError(Exception):
    """A user cannot be created; the message names the user and the fix."""


class InvalidUserName(UserError):
    pass


class UserExists(UserError):
    pass


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token() -> str:
    """Return a new random API token (256 bits)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def issue_token(session: Session, user: User, label: str) -> str:
    """Store a new token for ``user`` and return it; only its digest is kept."""
    token = new_token()
    session.add(
        ApiToken(user_id=user.id, token_hash=hash_token(token), label=label, created_at=utc_now())
    )
    session.flush()
    return token


def create_user(session: Session, name: str, timezone: str = "UTC") -> tuple[User, str]:
    """Create the user ``name`` and its first API token; ``timezone`` must be a valid name."""
    if not USER_NAME_PATTERN.fullmatch(name):
        raise InvalidUserName(
            f"invalid user name {name!r}: use 1 to 64 letters, digits, '.', '_' or '-'"
        )
    if session.scalar(select(User).where(User.name == name)) is not None:
        raise UserExists(f"user {name!r} already exists: choose another name")

    user = User(name=name, timezone=timezone, created_at=utc_now())
    session.add(user)
    session.flush()
    token = issue_token(session, user, label="created")
    logger.info("Created user %s (id %d)", name, user.id)
    return user, token


def authenticate(session: Session, token: str) -> User | None:
    """Return the owner of ``token``, or None when no user has it."""
    row = session.scalar(select(ApiToken).where(ApiToken.token_hash == hash_token(token)))
    return None if row is None else row.user


def bootstrap_local_user(
    session: Session, saved_token: str | None, timezone: str = "UTC"
) -> str | None:
    """Make sure the local user exists and that the CLI has a working token.

    Returns a new token for the local user when ``saved_token`` is missing or unknown to
    this database (a first start, or a database that was deleted), else None.
    """
    if saved_token and authenticate(session, saved_token) is not None:
        return None

    user = session.scalar(select(User).where(User.name == LOCAL_USER_NAME))
    if user is None:
        _, token = create_user(session, LOCAL_USER_NAME, timezone)
        return token
    logger.info("Issued a new API token for the existing user %s", LOCAL_USER_NAME)
    return issue_token(session, user, label="cli-config")


def list_user_ids(session: Session) -> list[int]:
    """Return the id of every user, in ascending order."""
    return list(session.scalars(select(User.id).order_by(User.id)))
