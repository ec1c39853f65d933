"""Rendering the Dapr components of a local sidecar from the Jinja2 templates in ``components/``.

The components are the ones the service uses when Dapr is on: Redis pub/sub and state
store, a ``local.file`` secret store, and the ``recurrence-cron`` and ``reminder-cron``
input bindings. Each one is scoped to one app ID (``taskora`` unless the user chooses
another), so another app beside the same sidecar set-up does not load them.

The field names follow the Dapr component reference pages (docs.dapr.io, "Redis Streams",
"Redis", "Local file (for Development)" and "Cron binding spec").
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

from taskora.errors import ExitCode, TaskoraError

logger = logging.getLogger(__name__)

TEMPLATES_DIR = Path(__file__).resolve().parent / "components"

APP_ID = "taskora"
RECURRENCE_BINDING = "recurrence-cron"
REMINDER_BINDING = "reminder-cron"
DEFAULT_REDIS_HOST = "127.0.0.1:6379"
DEFAULT_SCHEDULE = "@every 1m"
# Dapr replaces {uuid} with a new UUIDv4 at each sidecar start, so every sidecar gets its
# own consumer group even outside Kubernetes, where {podName} has no pod to name.
DEFAULT_CONSUMER_ID = "{uuid}"
# Redis trims the task-events stream to about this many entries at each publish (XADD
# MAXLEN ~), so it cannot grow without bound. A new consumer group starts at the stream's
# first entry, so it replays at most this many events.
DEFAULT_MAX_LEN_APPROX = 10000
# Name of the secrets file in the run directory of `taskora serve --dapr`, beside (never
# inside) its components directory. Older versions of `taskora dapr components` also wrote
# a file of this name inside the output directory.
SECRETS_FILE_NAME = "secrets.json"
# Suffix of the default secrets file of `taskora dapr components`: `components` gets
# `components.secrets.json` beside it. daprd logs a warning at each start for every file in
# a resources directory that is not YAML (LocalResourcesLoader in dapr/dapr), and component
# directories often go into version control, so the credentials stay outside.
SECRETS_FILE_SUFFIX = ".secrets.json"

# Keys of the entries in the secrets file. They must match the keys the service reads
# through the secret store when Dapr is on (taskora.server.secrets, which this package
# cannot import).
DATABASE_URL_SECRET = "database-url"
DATABASE_PASSWORD_SECRET = "database-password"
CURSOR_KEY_SECRET = "cursor-key"

# Kubernetes object names are DNS labels, and the chart applies the same components there.
_COMPONENT_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# On Kubernetes, Dapr names the app's Service `<app ID>-dapr` and rejects an app ID for which
# that is not a DNS label (ValidateKubernetesAppID in dapr/dapr pkg/validation), so an app ID
# is a DNS label of at most 63 - len("-dapr") = 58 characters.
_APP_ID = re.compile(r"^[a-z0-9]([-a-z0-9]{0,56}[a-z0-9])?$")
APP_ID_MAX_LENGTH = 58
_GO_DURATION = re.compile(r"^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$")
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,\-]+$")
# The descriptors of robfig/cron, the library behind Dapr's cron binding.
_CRON_DESCRIPTORS = frozenset(
    {"@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly"}
)
_NAME_VARIABLES = {
    "pubsub": "TASKORA_DAPR_PUBSUB",
    "state_store": "TASKORA_DAPR_STATE_STORE",
    "secret_store": "TASKORA_DAPR_SECRET_STORE",
}


class ComponentError(TaskoraError):
    """An invalid option of the rendered components, such as a malformed cron schedule."""

    exit_code = ExitCode.USAGE


@dataclass(frozen=True)
class ComponentNames:
    """Names of the components the service addresses by name (``TASKORA_DAPR_*``)."""

    pubsub: str = "pubsub"
    state_store: str = "statestore"
    secret_store: str = "secretstore"

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ComponentNames:
        """Read the names from the service's ``TASKORA_DAPR_*`` variables, else the defaults."""
        environ = os.environ if environ is None else environ
        given = {
            attribute: environ[variable]
            for attribute, variable in _NAME_VARIABLES.items()
            if environ.get(variable)
        }
        return cls(**given)


@dataclass(frozen=True)
class ComponentOptions:
    """Everything the templates need; :func:`render_components` validates it."""

    secrets_file: str
    """Path of the secrets file where the sidecar reads it (inside its container, if any)."""
    redis_host: str = DEFAULT_REDIS_HOST
    recurrence_schedule: str = DEFAULT_SCHEDULE
    reminder_schedule: str = DEFAULT_SCHEDULE
    consumer_id: str = DEFAULT_CONSUMER_ID
    max_len_approx: int = DEFAULT_MAX_LEN_APPROX
    names: ComponentNames = field(default_factory=ComponentNames)
    app_id: str = APP_ID


@dataclass(frozen=True)
class RenderedComponent:
    """One component manifest: its Dapr name, its file name and its YAML text."""

    name: str
    kind: str
    file_name: str
    text: str


def check_redis_host(value: str) -> str:
    """Return ``value`` if it is HOST:PORT (``[::1]:6379`` for IPv6), else raise."""
    host, _, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    valid_port = port.isdigit() and 0 < int(port) < 65536
    if not host or not valid_port or any(character.isspace() for character in value):
        raise ComponentError(
            f"invalid Redis address {value!r}: use HOST:PORT, such as {DEFAULT_REDIS_HOST}"
        )
    # Go's net.SplitHostPort, which daprd uses, needs an IPv6 address in brackets.
    if ":" in host and not bracketed:
        raise ComponentError(
            f"invalid Redis address {value!r}: put an IPv6 address in brackets, such as "
            f"[{host}]:{port}"
        )
    if bracketed and ":" not in host:
        raise ComponentError(
            f"invalid Redis address {value!r}: brackets are for IPv6 addresses only, so "
            f"use {host}:{port}"
        )
    return value


def check_schedule(value: str) -> str:
    """Return ``value`` if Dapr's cron binding accepts its form, else raise.

    Accepted: ``@every`` with a Go duration (``@every 1m30s``), a descriptor such as
    ``@hourly``, or six fields starting with seconds, optionally after ``CRON_TZ=ZONE``.
    """
    text = value.strip()
    if text.startswith("@every "):
        duration = text.removeprefix("@every ").strip()
        if _GO_DURATION.match(duration) and re.search(r"[1-9]", duration):
            return text
    elif text in _CRON_DESCRIPTORS:
        return text
    else:
        fields = text.split()
        if fields and fields[0].startswith(("CRON_TZ=", "TZ=")):
            _check_time_zone(value, fields[0].partition("=")[2])
            fields = fields[1:]
        if len(fields) == 6 and all(_CRON_FIELD.match(item) for item in fields):
            for item, (name, low, high) in zip(fields, _CRON_FIELD_RANGES, strict=True):
                _check_cron_field(value, item, name, low, high)
            return text
    raise ComponentError(
        f"invalid cron schedule {value!r}: use '@every' with a duration (such as "
        "'@every 1m'), a descriptor such as '@hourly', or six fields starting with "
        "seconds (such as '0 */5 * * * *')"
    )


# The six fields of a robfig/cron schedule with seconds, and the numbers each accepts.
_CRON_FIELD_RANGES = (
    ("seconds", 0, 59),
    ("minutes", 0, 59),
    ("hours", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 6),
)
# Names that robfig/cron accepts in the month and day-of-week fields.
_CRON_NAMES = frozenset(
    [
        "jan",
        "feb",
        "mar",
        "apr",
        "may",
        "jun",
        "jul",
        "aug",
        "sep",
        "oct",
        "nov",
        "dec",
        "sun",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
    ]
)


def _check_time_zone(schedule: str, zone: str) -> None:
    """Raise unless ``zone`` is an IANA time zone name, as Go's time.LoadLocation needs."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ComponentError(
            f"invalid cron schedule {schedule!r}: unknown time zone {zone!r}; use an IANA "
            "name such as Europe/Berlin or UTC"
        ) from None


def _check_cron_field(schedule: str, item: str, name: str, low: int, high: int) -> None:
    """Raise unless each part of the cron field ``item`` is within ``low``..``high``.

    A part is ``*``, ``?``, a value or a range ``A-B``, each optionally followed by a
    positive step ``/N``. Month and weekday names are accepted as robfig/cron does.
    """

    def fail(reason: str) -> ComponentError:
        return ComponentError(
            f"invalid cron schedule {schedule!r}: {reason} in the {name} field ({item!r})"
        )

    for part in item.split(","):
        span, slash, step = part.partition("/")
        if slash and not (step.isdigit() and int(step) > 0):
            raise fail(f"the step {step!r} is not a positive number")
        if span in {"*", "?"}:
            continue
        for value in span.split("-", 1):
            if value.isdigit():
                if not low <= int(value) <= high:
                    raise fail(f"{value} is outside {low}-{high}")
            elif value.lower() not in _CRON_NAMES:
                raise fail(f"{value!r} is not a number")


def check_component_name(value: str, *, what: str) -> str:
    """Return ``value`` if it is a valid component name (a DNS label), else raise."""
    if not _COMPONENT_NAME.match(value):
        raise ComponentError(
            f"invalid {what} name {value!r}: use at most 63 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit"
        )
    return value


def check_app_id(value: str) -> str:
    """Return ``value`` if Dapr accepts it as an app ID on Kubernetes too, else raise."""
    if not _APP_ID.match(value):
        raise ComponentError(
            f"invalid app ID {value!r}: use at most {APP_ID_MAX_LENGTH} lowercase letters, "
            "digits and '-', starting and ending with a letter or digit, such as "
            f"{APP_ID!r}"
        )
    return value


def default_secrets_path(components_dir: Path) -> Path:
    """Return the secrets file beside ``components_dir``: ``<dir>.secrets.json``.

    ``components_dir`` should be absolute and normalized, so its name is a real directory
    name and not ``.`` or ``..``.
    """
    if not components_dir.name:
        raise ComponentError(
            f"cannot put the secrets file beside the directory {str(components_dir)!r}, "
            "because it has no parent: choose another --output, or pass --secrets-file "
            "with a file that you provide"
        )
    return components_dir.with_name(components_dir.name + SECRETS_FILE_SUFFIX)


def check_distinct_names(names: ComponentNames) -> None:
    """Raise when two components would share a name, and so a file and a Dapr name."""
    given = [
        ("pub/sub", names.pubsub, "--pubsub-name or TASKORA_DAPR_PUBSUB"),
        ("state store", names.state_store, "--state-store-name or TASKORA_DAPR_STATE_STORE"),
        ("secret store", names.secret_store, "--secret-store-name or TASKORA_DAPR_SECRET_STORE"),
    ]
    fixed = {RECURRENCE_BINDING, REMINDER_BINDING}
    seen: dict[str, str] = {}
    for kind, name, option in given:
        if name in fixed:
            raise ComponentError(
                f"the {kind} component name {name!r} is the name of a cron binding: choose "
                f"another one with {option}"
            )
        if name in seen:
            raise ComponentError(
                f"the {kind} component name {name!r} is also the {seen[name]} component's "
                f"name: give each component its own name with {option}"
            )
        seen[name] = kind


def check_consumer_id(value: str) -> str:
    """Return ``value`` if it is a usable Redis consumer group name, else raise."""
    if not value.strip() or any(c.isspace() for c in value):
        raise ComponentError(
            f"invalid consumer ID {value!r}: use a non-empty name without spaces, or a "
            "Dapr template tag such as {uuid} or {podName}"
        )
    return value


def _yaml_string(value: object) -> str:
    """Quote ``value`` as a YAML scalar; a JSON string is valid YAML and escapes everything."""
    return json.dumps(str(value), ensure_ascii=False)


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
    )
    environment.filters["yaml_string"] = _yaml_string
    return environment


def validate_options(options: ComponentOptions) -> None:
    """Raise :class:`ComponentError` naming the first invalid option."""
    check_redis_host(options.redis_host)
    check_schedule(options.recurrence_schedule)
    check_schedule(options.reminder_schedule)
    check_consumer_id(options.consumer_id)
    check_component_name(options.names.pubsub, what="pub/sub component")
    check_component_name(options.names.state_store, what="state store component")
    check_component_name(options.names.secret_store, what="secret store component")
    check_app_id(options.app_id)
    check_distinct_names(options.names)
    if options.max_len_approx < 1:
        raise ComponentError(
            f"invalid stream length {options.max_len_approx}: use a positive number of "
            f"entries, such as {DEFAULT_MAX_LEN_APPROX}"
        )
    if not options.secrets_file.strip():
        raise ComponentError("the secrets file path is empty: pass the path of a JSON file")


def render_components(options: ComponentOptions) -> list[RenderedComponent]:
    """Render the five components, in the order pub/sub, state, secrets, then the bindings."""
    validate_options(options)
    environment = _environment()
    common = {
        "names": options.names,
        "app_id": options.app_id,
        "redis_host": options.redis_host,
    }

    def render(template: str, **values: object) -> str:
        return environment.get_template(template).render(**common, **values)

    return [
        RenderedComponent(
            name=options.names.pubsub,
            kind="pub/sub",
            file_name=f"{options.names.pubsub}.yaml",
            text=render(
                "pubsub.yaml.j2",
                consumer_id=options.consumer_id,
                max_len_approx=options.max_len_approx,
            ),
        ),
        RenderedComponent(
            name=options.names.state_store,
            kind="state store",
            file_name=f"{options.names.state_store}.yaml",
            text=render("statestore.yaml.j2"),
        ),
        RenderedComponent(
            name=options.names.secret_store,
            kind="secret store",
            file_name=f"{options.names.secret_store}.yaml",
            text=render("secretstore.yaml.j2", secrets_file=options.secrets_file),
        ),
        RenderedComponent(
            name=RECURRENCE_BINDING,
            kind="input binding",
            file_name=f"{RECURRENCE_BINDING}.yaml",
            text=render(
                "cron.yaml.j2",
                binding_name=RECURRENCE_BINDING,
                schedule=options.recurrence_schedule,
            ),
        ),
        RenderedComponent(
            name=REMINDER_BINDING,
            kind="input binding",
            file_name=f"{REMINDER_BINDING}.yaml",
            text=render(
                "cron.yaml.j2", binding_name=REMINDER_BINDING, schedule=options.reminder_schedule
            ),
        ),
    ]


def write_components(components: list[RenderedComponent], directory: Path) -> list[Path]:
    """Write each component to ``directory`` (created if missing) and return the paths.

    Files of the same names are replaced. Other files are left alone, so a directory that a
    user shares with their own components keeps them.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        for component in components:
            path = directory / component.file_name
            path.write_text(component.text, encoding="utf-8")
            # Components hold no secrets, and daprd may run as another user in a container.
            path.chmod(0o644)
            paths.append(path)
    except OSError as error:
        raise TaskoraError(
            f"cannot write the Dapr components to {directory}: {error.strerror or error}. "
            "Check that the directory is writable or choose another one."
        ) from None
    logger.info("Wrote %d Dapr components to %s", len(paths), directory)
    return paths


def local_secrets(
    database_url: str, database_password: str | None = None, cursor_key: str | None = None
) -> dict[str, str]:
    """Return the entries of a secrets file; a value that is None is left out."""
    secrets = {DATABASE_URL_SECRET: database_url}
    if database_password is not None:
        secrets[DATABASE_PASSWORD_SECRET] = database_password
    if cursor_key is not None:
        secrets[CURSOR_KEY_SECRET] = cursor_key
    return secrets


def write_secrets_file(path: Path, secrets: Mapping[str, str]) -> Path:
    """Write ``secrets`` as JSON to ``path`` with mode 0600, replacing the file.

    The mode is set on the open file descriptor before anything is written, so the
    secrets are never readable by other users, even for a moment.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as file:
            os.fchmod(file.fileno(), 0o600)
            json.dump(dict(secrets), file, indent=2, sort_keys=True)
            file.write("\n")
    except OSError as error:
        raise TaskoraError(
            f"cannot write the secrets file {path}: {error.strerror or error}. "
            "Check that its directory is writable."
        ) from None
    logger.info("Wrote the secrets file %s (keys: %s)", path, ", ".join(sorted(secrets)))
    return path
