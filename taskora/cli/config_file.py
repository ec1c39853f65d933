"""The CLI's config file: the server URL and API token that client commands use by default.

The file is TOML at ``$TASKORA_CONFIG`` or ``$XDG_CONFIG_HOME/taskora/config.toml``. It contains
a secret, so it is written with mode 0600 and replaced atomically.
"""

from __future__ import annotations

import logging
import os
import tempfile
import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs
import tomli_w

logger = logging.getLogger(__name__)

DEFAULT_URL = "http://127.0.0.1:8000"


class ConfigFileError(Exception):
    """The config file exists but cannot be read or parsed."""


@dataclass(frozen=True)
class ClientConfig:
    """The values of the config file; ``None`` for a key that is absent."""

    url: str | None = None
    token: str | None = None
    # The embedded database file the token belongs to, written by `taskora serve`.
    database: str | None = None

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'***'"
        return f"ClientConfig(url={self.url!r}, token={token}, database={self.database!r})"


def config_path() -> Path:
    """Return the config file's path: ``$TASKORA_CONFIG`` or the platform's config directory."""
    override = os.environ.get("TASKORA_CONFIG")
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir("taskora", appauthor=False)) / "config.toml"


def load_config(path: Path | None = None) -> ClientConfig:
    """Read the config file; a missing file is an empty config."""
    path = path or config_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return ClientConfig()
    except OSError as error:
        raise ConfigFileError(f"cannot read config file {path}: {error.strerror}") from error

    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigFileError(
            f"invalid config file {path}: {error}. Fix or delete the file."
        ) from error

    url = data.get("url")
    token = data.get("token")
    database = data.get("database")
    for key, value in (("url", url), ("token", token), ("database", database)):
        if value is not None and not isinstance(value, str):
            raise ConfigFileError(
                f"invalid config file {path}: {key!r} must be a string, got {type(value).__name__}"
            )
    return ClientConfig(url=url, token=token, database=database)


def save_config(config: ClientConfig, path: Path | None = None) -> Path:
    """Write ``config`` with mode 0600, replacing the file atomically; return its path."""
    path = path or config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = (("url", config.url), ("token", config.token), ("database", config.database))
    data = {key: value for key, value in fields if value}

    # mkstemp creates the file with mode 0600, so the token is never readable by others,
    # not even between the write and the rename.
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            tomli_w.dump(data, handle)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    logger.debug("Saved the CLI config to %s", path)
    return path
