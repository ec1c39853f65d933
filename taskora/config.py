"""The service's settings, read from the environment (``TASKORA_*``) and validated at start."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import platformdirs
from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "taskora"
MIN_CURSOR_KEY_LENGTH = 32


def default_data_dir() -> Path:
    """Return the per-user data directory (``$XDG_DATA_HOME/taskora`` on Linux)."""
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_database_url(data_dir: Path) -> str:
    """Return the URL of the embedded SQLite database inside ``data_dir``."""
    return f"sqlite:///{data_dir / 'taskora.db'}"


DURATION_FORMS = "whole seconds such as 3600 or an ISO 8601 duration such as PT1H"
# The service subtracts these durations from the current time, so they must stay far
# from the year 1, where datetime arithmetic raises OverflowError.
MAX_DURATION = timedelta(days=36500)
MAX_DURATION_SECONDS = int(MAX_DURATION.total_seconds())
_TIMEDELTA = TypeAdapter(timedelta)


def parse_duration(value: object) -> timedelta:
    """Convert whole seconds (``3600``) or an ISO 8601 duration (``PT1H``) to a timedelta.

    Raises ValueError, naming the value and the accepted forms, unless the result is
    longer than zero and at most 100 years. Besides those two forms, the other spellings
    that pydantic accepts for a timedelta (``01:00:00``, a timedelta, a number) also pass.
    """
    text = value.strip() if isinstance(value, str) else value
    if isinstance(text, str) and re.fullmatch(r"[+-]?[0-9]+", text):
        # Whole seconds. Clamping to one second past either limit keeps timedelta from
        # overflowing on a huge number, and the checks below still reject it.
        seconds = max(-1, min(int(text), MAX_DURATION_SECONDS + 1))
        duration = timedelta(seconds=seconds)
    else:
        try:
            duration = _TIMEDELTA.validate_python(text)
        except ValidationError:
            raise ValueError(f"invalid duration {value!r}: use {DURATION_FORMS}") from None

    if duration <= timedelta(0):
        raise ValueError(
            f"invalid duration {value!r}: use a duration longer than zero, as {DURATION_FORMS}"
        )
    if duration > MAX_DURATION:
        raise ValueError(
            f"invalid duration {value!r}: use at most 100 years (P36500D or 3153600000 seconds)"
        )
    return duration


TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off"})


class Settings(BaseSettings):
    """Everything the service reads at start. Each field maps to ``TASKORA_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="TASKORA_", extra="ignore")

    host: str = Field("127.0.0.1", description="Address the HTTP server binds to.")
    port: int = Field(8000, ge=0, le=65535, description="TCP port of the HTTP server.")
    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Directory of the embedded SQLite database.",
    )
    database_url: str | None = Field(
        None,
        description="SQLAlchemy URL (sqlite:///FILE or postgresql://...). "
        "Unset means the embedded SQLite database in data_dir.",
    )
    database_password: SecretStr | None = Field(
        None,
        description="Password added to database_url, so the URL itself can live in a "
        "ConfigMap while the password comes from a Secret.",
    )
    migrate_on_start: bool = Field(
        True, description="Apply pending Alembic migrations when the service starts."
    )
    sse_ping_seconds: float = Field(
        15.0, gt=0, description="Seconds between comment pings on idle event streams."
    )
    sse_queue_size: int = Field(
        1000, ge=1, description="Events buffered per stream before a slow client is cut off."
    )
    relay_poll_seconds: float = Field(
        1.0, gt=0, description="Seconds between outbox scans when no commit woke the relay."
    )
    check_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="Seconds between the service's own recurrence and reminder checks for "
        "every user; 0 turns them off, as when a scheduler such as a Dapr cron binding calls "
        "the check routes instead.",
    )
    event_retention: timedelta = Field(
        timedelta(days=7),
        description="How long published events stay in the log for clients that resume; "
        "whole seconds or an ISO 8601 duration such as P7D, at most 100 years.",
    )
    sse_retry_milliseconds: int = Field(
        2000, ge=0, description="Reconnection delay that streams suggest to clients."
    )
    max_body_bytes: int = Field(
        1024 * 1024, ge=1024, description="Largest request body accepted, in bytes."
    )
    log_level: str = Field("INFO", description="Level of the root logger (DEBUG, INFO, ...).")
    idempotency_ttl: timedelta = Field(
        timedelta(hours=24),
        description="How long an Idempotency-Key of POST /api/tasks replays its first "
        "response; whole seconds or an ISO 8601 duration such as PT24H, at most 100 years.",
    )
    cursor_key: SecretStr | None = Field(
        None,
        description="Key that signs page cursors, at least 32 characters. Unset means the "
        "random key that the migrations stored in the database.",
    )
    dapr: bool | None = Field(
        None,
        description="Use the Dapr sidecar for pub/sub, secrets and state. Unset means on "
        "when DAPR_HTTP_PORT or DAPR_GRPC_PORT is set; false keeps Dapr off even then.",
    )
    dapr_http_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        validation_alias="DAPR_HTTP_PORT",
        description="HTTP port of the sidecar on 127.0.0.1 (set by Dapr); 3500 when unset.",
    )
    dapr_grpc_port: int | None = Field(
        None,
        ge=1,
        le=65535,
        validation_alias="DAPR_GRPC_PORT",
        description="gRPC port of the sidecar on 127.0.0.1 (set by Dapr); 50001 when unset.",
    )
    dapr_pubsub: str = Field("pubsub", min_length=1, description="Pub/sub component name.")
    dapr_topic: str = Field("task-events", min_length=1, description="Topic of task events.")
    dapr_state_store: str = Field(
        "statestore", min_length=1, description="State store component of idempotency keys."
    )
    dapr_secret_store: str = Field(
        "secretstore", min_length=1, description="Secret store component of the secrets."
    )
    dapr_sidecar_wait_seconds: float = Field(
        60.0, gt=0, description="Seconds to wait at start for the sidecar to become ready."
    )
    app_api_token: SecretStr | None = Field(
        None,
        validation_alias="APP_API_TOKEN",
        description="Token that Dapr sends in the dapr-api-token header on its calls to the "
        "service (set by Dapr); when set, the Dapr routes reject calls without it.",
    )

    @field_validator("dapr", mode="before")
    @classmethod
    def check_dapr(cls, value: object) -> object:
        """Accept the usual spellings of on and off, and name the value otherwise."""
        if value is None or isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
        raise ValueError(
            f"{value!r} is not on or off: use 1, true, yes or on to use the Dapr "
            "sidecar, or 0, false, no or off to keep it off"
        )

    @field_validator("event_retention", "idempotency_ttl", mode="before")
    @classmethod
    def _check_duration(cls, value: object) -> timedelta:
        # Environment values arrive as strings, and pydantic reads a string of digits as
        # a malformed ISO 8601 duration, not as seconds.
        return parse_duration(value)

    @field_validator("log_level")
    @classmethod
    def _check_log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(
                f"invalid log level {value!r}: use DEBUG, INFO, WARNING, ERROR or CRITICAL"
            )
        return level

    @field_validator("cursor_key")
    @classmethod
    def _check_cursor_key(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_CURSOR_KEY_LENGTH:
            raise ValueError(
                f"the cursor key is shorter than {MIN_CURSOR_KEY_LENGTH} characters: "
                "use a random value such as the output of `openssl rand -hex 32`"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        return cls.check_database_url(value)

    @staticmethod
    def check_database_url(value: str) -> str:
        """Return ``value`` if it is a SQLite or PostgreSQL URL, raising ValueError if not."""
        scheme = value.split(":", 1)[0].split("+", 1)[0]
        if scheme not in {"sqlite", "postgresql", "postgres"}:
            raise ValueError(
                f"unsupported database URL scheme {scheme!r}: "
                "use sqlite:///PATH or postgresql://USER@HOST/DB"
            )
        return value

    @property
    def dapr_enabled(self) -> bool:
        """True when the service uses a Dapr sidecar: asked for, or Dapr set its ports."""
        if self.dapr is not None:
            return self.dapr
        return self.dapr_http_port is not None or self.dapr_grpc_port is not None

    @property
    def uses_default_database(self) -> bool:
        """True when no database URL was given, so the embedded SQLite file is used."""
        return self.database_url is None

    @property
    def resolved_database_url(self) -> str:
        """The database URL in use: the given one or the embedded SQLite file."""
        if self.database_url is None:
            return default_database_url(self.data_dir)
        if self.database_password is None:
            return self.database_url

        # Imported here so that reading settings does not load SQLAlchemy.
        from sqlalchemy.engine import make_url

        url = make_url(self.database_url).set(password=self.database_password.get_secret_value())
        return url.render_as_string(hide_password=False)
