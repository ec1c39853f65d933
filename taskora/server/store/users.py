"""Users and their API tokens. Tokens are random, so a SHA-256 digest is a safe stored form."""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
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


class UserNotFound(UserError):
    pass


@dataclass(frozen=True)
class UserSummary:
    """A user as ``taskora users list`` shows it: no token, only how many it has."""

    id: int
    name: str
    timezone: str
    created_at: datetime
    tokens: int


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


def find_user(session: Session, name: str) -> User:
    """Return the user ``name``, raising :class:`UserNotFound` when there is none."""
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        raise UserNotFound(f"user {name!r} not found: list the users with `taskora users list`")
    return user


def replace_tokens(session: Session, name: str, *, keep_others: bool = False) -> tuple[str, int]:
    """Issue a new token for the user ``name``; return it and how many old ones were revoked.

    Unless ``keep_others``, every earlier token of the user is deleted, so a lost or leaked
    token stops working.
    """
    user = find_user(session, name)
    revoked = 0
    if not keep_others:
        result = session.execute(delete(ApiToken).where(ApiToken.user_id == user.id))
        revoked = result.rowcount or 0
    token = issue_token(session, user, label="reissued")
    logger.info("Issued a new API token for user %s (id %d), revoked %d", name, user.id, revoked)
    return token, revoked


def set_timezone(session: Session, name: str, timezone: str) -> User:
    """Set the time zone of the user ``name``, the default of their new tasks."""
    user = find_user(session, name)
    user.timezone = timezone
    session.flush()
    logger.info("Set the time zone of user %s (id %d) to %s", name, user.id, timezone)
    return user


def summarize_users(session: Session) -> list[UserSummary]:
    """Return every user with the number of their tokens, by id."""
    counts = (
        select(ApiToken.user_id, func.count().label("tokens")).group_by(ApiToken.user_id).subquery()
    )
    rows = session.execute(
        select(User, func.coalesce(counts.c.tokens, 0))
        .outerjoin(counts, counts.c.user_id == User.id)
        .order_by(User.id)
    )
    return [
        UserSummary(user.id, user.name, user.timezone, user.created_at, int(tokens))
        for user, tokens in rows
    ]


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
