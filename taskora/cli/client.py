"""The HTTP client that the ``taskora tasks`` and ``taskora events`` commands use.

It resolves the server URL and API token, sends requests with httpx, and turns every
failure into a :class:`TaskoraError` whose message names the value at fault and the fix.
It imports nothing from the server, so client commands start without loading FastAPI.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Annotated, Any
from urllib.parse import urlsplit

import httpx
import typer
from httpx_sse import SSEError, connect_sse

from taskora.cli.config_file import (
    DEFAULT_URL,
    ClientConfig,
    ConfigFileError,
    config_path,
    load_config,
)
from taskora.errors import ExitCode, TaskoraError

logger = logging.getLogger(__name__)

URL_ENV = "TASKORA_URL"
TOKEN_ENV = "TASKORA_TOKEN"

REQUEST_TIMEOUT_SECONDS = 10.0
# The server sends a comment every 15 s on an idle stream by default
# (TASKORA_SSE_PING_SECONDS), so a read that waits 60 s without a byte means the connection
# is dead, not merely idle.
STREAM_READ_TIMEOUT_SECONDS = 60.0
RECONNECT_INITIAL_DELAY_SECONDS = 0.5
RECONNECT_MAX_DELAY_SECONDS = 30.0
# A stream that stayed open this long counts as healthy, so the next reconnect starts
# again from the initial delay instead of continuing the backoff.
STABLE_STREAM_SECONDS = 10.0

# Each request that may be retried gets this many attempts in all. The waits between them
# grow from the initial delay by doubling (0.25 s, then 0.5 s), which rides out a server
# restart behind a proxy without making an unreachable server slow to report.
MAX_ATTEMPTS = 3
RETRY_INITIAL_DELAY_SECONDS = 0.25
# The statuses a proxy or load balancer sends while the server behind it restarts.
RETRY_STATUSES = frozenset({502, 503, 504})
# Errors raised before any byte of the request reached the server, so the server cannot
# have acted on it.
NOT_SENT_ERRORS: tuple[type[httpx.TransportError], ...] = (
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
)

# The fields every output path reads from a task, checked so that a response from some
# other JSON service is reported as such rather than failing later in rendering.
TASK_KEYS = ("id", "title", "status")
USER_KEYS = ("id", "timezone")

UNREACHABLE_HINT = "Start it with `taskora serve` or pass --url / set TASKORA_URL."

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        help=(
            "Base URL of the Taskora server, without /api. Default: $TASKORA_URL, then `url` "
            f"in the config file, then {DEFAULT_URL}. A URL that does not lead to the "
            "Taskora API is an error (exit code 1)."
        ),
        show_default=False,
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help=(
            "API token: visible ASCII characters, without spaces. Default: $TASKORA_TOKEN, "
            "then `token` in the config file. An empty value is an error."
        ),
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the server's JSON response instead of text."),
]


@dataclass(frozen=True)
class Connection:
    """The server URL and API token to use, each with the place it was read from."""

    url: str
    url_source: str
    token: str | None
    token_source: str | None

    def __repr__(self) -> str:
        token = "None" if self.token is None else "'***'"
        return (
            f"Connection(url={self.url!r}, url_source={self.url_source!r}, "
            f"token={token}, token_source={self.token_source!r})"
        )


class Retry(Enum):
    """When a request may be sent again after a failure."""

    UNSENT = "unsent"
    """After a connection failure that happened before the request was sent. Safe for
    any request, since the server never saw the first attempt."""
    ALWAYS = "always"
    """After any connection failure or a 502, 503 or 504. Only for requests whose repeat
    has the same effect as one request: reads, and creates with an ``Idempotency-Key``."""


class VersionConflict(TaskoraError):
    """A 412: the task no longer has the version that ``If-Match`` named."""

    def __init__(self, task_id: int, sent_version: int, current_version: int | None) -> None:
        if current_version is None:
            changed = f"since version {sent_version}, which you edited"
        else:
            changed = f"(it is at version {current_version}, you edited version {sent_version})"
        super().__init__(
            f"task {task_id} was changed by someone else {changed}. "
            f'Run "taskora tasks show {task_id}" and edit again.',
            exit_code=ExitCode.CONFLICT,
        )
        self.task_id = task_id
        self.sent_version = sent_version
        self.current_version = current_version


@dataclass(frozen=True)
class StreamEvent:
    """One event from ``GET /api/events/stream``."""

    sequence: int | None
    """The SSE ``id``: the event's position in the server's event log."""
    type: str
    cloudevent: dict[str, Any] = field(repr=False)


class _LazyConfig:
    """The config file, read on first use so that explicit options never depend on it."""

    def __init__(self) -> None:
        self._config: ClientConfig | None = None

    def get(self) -> ClientConfig:
        if self._config is None:
            try:
                self._config = load_config()
            except ConfigFileError as error:
                raise TaskoraError(str(error), exit_code=ExitCode.ERROR) from error
        return self._config


def resolve_connection(url: str | None = None, token: str | None = None) -> Connection:
    """Resolve the URL and token from the options, the environment and the config file.

    Each setting takes the first of: the command-line option, the environment variable,
    the config file. The URL falls back to :data:`DEFAULT_URL`, but the token has no
    default, so a missing token is reported when a request needs one. An option given
    as an empty string counts as given, and so does an empty ``TASKORA_TOKEN``, so both
    are reported as invalid rather than skipped. Raise :class:`TaskoraError` for an
    invalid URL or token, before any request is sent.
    """
    config = _LazyConfig()

    if url is not None:
        resolved_url, url_source = url, "--url"
    elif os.environ.get(URL_ENV):
        resolved_url, url_source = os.environ[URL_ENV], URL_ENV
    elif config.get().url:
        resolved_url, url_source = str(config.get().url), f"the config file {config_path()}"
    else:
        resolved_url, url_source = DEFAULT_URL, "the default"

    resolved_token: str | None
    token_source: str | None
    if token is not None:
        resolved_token, token_source = token, "--token"
    elif TOKEN_ENV in os.environ:
        resolved_token, token_source = os.environ[TOKEN_ENV], TOKEN_ENV
    elif config.get().token is not None:
        resolved_token, token_source = config.get().token, f"the config file {config_path()}"
    else:
        resolved_token, token_source = None, None

    if resolved_token is not None and token_source is not None:
        validate_token(resolved_token, token_source)

    return Connection(
        url=validate_url(resolved_url, url_source),
        url_source=url_source,
        token=resolved_token,
        token_source=token_source,
    )


def validate_url(url: str, source: str) -> str:
    """Return ``url`` without a trailing slash, or raise if it is not an http(s) URL."""
    try:
        parts = urlsplit(url.strip())
        # The port is parsed lazily, so an invalid one only raises when read.
        _ = parts.port
    except ValueError as error:
        raise TaskoraError(
            f"invalid server URL {url!r} from {source}: {error}. Give a URL such as "
            "http://127.0.0.1:8000.",
            exit_code=ExitCode.USAGE,
        ) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TaskoraError(
            f"invalid server URL {url!r} from {source}: it must start with http:// or "
            "https:// and name a host, for example http://127.0.0.1:8000.",
            exit_code=ExitCode.USAGE,
        )
    if parts.query or parts.fragment:
        raise TaskoraError(
            f"invalid server URL {url!r} from {source}: remove the query or fragment.",
            exit_code=ExitCode.USAGE,
        )
    return url.strip().rstrip("/")


def validate_token(token: str, source: str) -> None:
    """Raise unless ``token`` can be sent in an ``Authorization: Bearer`` header.

    A token may contain only visible ASCII characters (``!`` to ``~``): a space would split
    the header value, and a line break or a non-ASCII character cannot be sent in a header
    at all. The message names ``source`` and the position of the first invalid character,
    never the token itself.
    """
    if not token:
        raise TaskoraError(
            f"the API token from {source} is empty. {_empty_token_fix(source)}",
            exit_code=ExitCode.UNAUTHORIZED,
        )
    for position, character in enumerate(token, start=1):
        if not "!" <= character <= "~":
            raise TaskoraError(
                f"invalid API token from {source}: it contains {_describe_character(character)} "
                f"at position {position}, but a token may contain only visible ASCII "
                "characters (letters, digits and punctuation, without spaces). Copy the token "
                "again without that character.",
                exit_code=ExitCode.UNAUTHORIZED,
            )


def _empty_token_fix(source: str) -> str:
    if source == "--token":
        return "Pass the token after --token, or leave --token out to use TASKORA_TOKEN."
    if source == TOKEN_ENV:
        return f"Set {TOKEN_ENV} to a token, or unset it to use the config file."
    return "Set `token` there to a token, or remove the key."


def _describe_character(character: str) -> str:
    """Name an invalid token character without revealing a character of the token."""
    names = {" ": "a space", "\t": "a tab", "\n": "a line break", "\r": "a carriage return"}
    if character in names:
        return names[character]
    if character.isascii():
        return f"the control character U+{ord(character):04X}"
    # A non-ASCII character may be part of the secret, so its code point is not shown.
    return "a non-ASCII character"


def missing_token_error() -> TaskoraError:
    """Build the error for a request that needs a token when none was given."""
    return TaskoraError(
        "no API token. Pass --token, set TASKORA_TOKEN, or put `token` in the config file "
        f"{config_path()}. `taskora serve` on the default database saves a token there, and "
        "`taskora users create NAME` prints one for a new user.",
        exit_code=ExitCode.UNAUTHORIZED,
    )


def describe_transport_error(error: httpx.TransportError) -> str:
    """Return the reason for a failed connection in plain words ("connection refused")."""
    if isinstance(error, httpx.TimeoutException):
        return "timed out"

    # httpx keeps the OS error inside the args of the httpcore exception it wraps, so
    # the chain is walked through __cause__, __context__ and args alike.
    pending: list[BaseException] = [error]
    seen: set[int] = set()
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, socket.gaierror):
            return "the host name cannot be resolved"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the server"
        for linked in (current.__cause__, current.__context__, *current.args):
            if isinstance(linked, BaseException):
                pending.append(linked)

    if isinstance(error, httpx.RemoteProtocolError):
        return "the server closed the connection"
    return str(error) or type(error).__name__


def unreachable_error(url: str, error: httpx.TransportError) -> TaskoraError:
    """Build the error for a server that refused, dropped or timed out a request."""
    return TaskoraError(
        f"cannot reach the Taskora server at {url}: {describe_transport_error(error)}. "
        f"{UNREACHABLE_HINT}",
        exit_code=ExitCode.UNREACHABLE,
    )


def _problem_document(response: httpx.Response) -> dict[str, Any] | None:
    """Return the JSON object in an error response, or ``None`` if the body is not one."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return body if isinstance(body, dict) else None


def _problem_detail(response: httpx.Response, problem: dict[str, Any] | None) -> str:
    """Return the most specific description of an error response that the body gives."""
    if problem is not None:
        for key in ("detail", "title"):
            value = problem.get(key)
            if isinstance(value, str) and value:
                return value
        return json.dumps(problem)
    text = response.text.strip()
    if not text:
        return "empty response body"
    # An HTML error page from a proxy can be long, and its first line is enough to
    # identify what sent it.
    first_line = text.splitlines()[0]
    return f"non-JSON response: {first_line[:200]}"


def _field_errors(problem: dict[str, Any] | None) -> list[str]:
    """Return ``field: reason`` for each entry of a problem document's ``errors``."""
    if problem is None or not isinstance(problem.get("errors"), list):
        return []
    lines = []
    for entry in problem["errors"]:
        if not isinstance(entry, dict):
            continue
        name = str(entry.get("field", "?"))
        # The server prefixes each field with where it was sent (body.title, query.sort).
        # The CLI user set it through an option of the same name, so the prefix is dropped.
        location, _, rest = name.partition(".")
        if location in ("body", "query", "path") and rest:
            name = rest
        lines.append(f"{name}: {entry.get('message', 'invalid')}")
    return lines


def _names_task(problem: dict[str, Any] | None, task_id: int) -> bool:
    """Return whether a 404 problem document is about the task, as the server's are.

    The Taskora server's detail for a missing task is "task 42 not found", while an unknown
    path, such as the one a --url with an extra /api produces, gets the generic "Not Found".
    """
    detail = problem.get("detail") if problem is not None else None
    if not isinstance(detail, str):
        return False
    return re.search(rf"\btask {task_id}\b", detail, re.IGNORECASE) is not None


def not_taskora_error(connection: Connection, response: httpx.Response) -> TaskoraError:
    """Build the error for a 404 on a route that every Taskora server has.

    It exits with code 1 rather than 3 (unreachable), because a server sent a response.
    """
    parts = urlsplit(connection.url)
    base_url = f"{parts.scheme}://{parts.netloc}"
    if parts.path:
        hint = (
            f"If the server runs at {base_url}, set that base URL without the path "
            f"{parts.path} in {connection.url_source}."
        )
    else:
        hint = f"Check the host and port in {connection.url_source}."
    request = response.request
    return TaskoraError(
        f"the server at {connection.url} returned 404 Not Found for {request.method} "
        f"{request.url.path}, so {connection.url} does not look like a Taskora server. {hint}",
        exit_code=ExitCode.ERROR,
    )


def error_for_response(
    connection: Connection, response: httpx.Response, *, task_id: int | None = None
) -> TaskoraError:
    """Turn an HTTP error response into a :class:`TaskoraError` with its exit code.

    ``task_id`` is the task that the request names. A 404 whose problem document names
    that task is "task 42 not found" (exit code 5). Any other 404 means that the URL
    does not lead to the Taskora API (exit code 1).
    """
    status = response.status_code
    problem = _problem_document(response)
    detail = _problem_detail(response, problem)

    if status == 401:
        return TaskoraError(
            f"the server at {connection.url} rejected the API token from "
            f"{connection.token_source} (401 Unauthorized: {detail}). Pass a valid token "
            "with --token or TASKORA_TOKEN; `taskora users token NAME` prints a new one for a "
            "user, and `taskora users create NAME` one for a new user.",
            exit_code=ExitCode.UNAUTHORIZED,
        )
    if status == 404:
        if task_id is not None and _names_task(problem, task_id):
            return TaskoraError(f"task {task_id} not found", exit_code=ExitCode.NOT_FOUND)
        return not_taskora_error(connection, response)
    if status in (409, 412):
        return TaskoraError(
            f"conflict ({status} {response.reason_phrase}): {detail}",
            exit_code=ExitCode.CONFLICT,
        )
    if status in (400, 422):
        # The server checks the values that the options carry, such as a title of spaces,
        # an invalid tag (422) or a --cursor it did not issue (400), so both are invalid
        # usage of the command.
        reasons = _field_errors(problem)
        if reasons:
            return TaskoraError(
                "the server rejected the request as invalid: " + "; ".join(reasons),
                exit_code=ExitCode.USAGE,
            )
        return TaskoraError(
            f"the server rejected the request as invalid: {detail}", exit_code=ExitCode.USAGE
        )
    return TaskoraError(
        f"the server at {connection.url} returned {status} {response.reason_phrase} for "
        f"{response.request.method} {response.request.url.path}: {detail}",
        exit_code=ExitCode.ERROR,
    )


NEXT_TASK_PATH = re.compile(r"/api/tasks/(?P<id>\d+)")


def next_task_id(link: Mapping[str, str] | None) -> int | None:
    """Return the task id that a ``rel="next"`` link names, or None without a link."""
    if link is None:
        return None
    target = link.get("url", "")
    match = NEXT_TASK_PATH.fullmatch(urlsplit(target).path)
    if match is None:
        raise TaskoraError(
            f'the server sent a rel="next" link to {target!r}, which is not a task. Check '
            "that --url points at a Taskora server.",
            exit_code=ExitCode.ERROR,
        )
    return int(match["id"])


class TaskoraClient:
    """A synchronous client for the Taskora HTTP API, used as a context manager.

    ``max_attempts`` bounds the attempts of each retried request (see :class:`Retry`), and
    ``sleep`` waits between them.
    """

    def __init__(
        self,
        connection: Connection,
        *,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
        max_attempts: int = MAX_ATTEMPTS,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if connection.token is None:
            raise missing_token_error()
        self.connection = connection
        self.max_attempts = max(1, max_attempts)
        self._sleep = sleep
        self._http = httpx.Client(
            base_url=connection.url,
            headers={
                "Authorization": f"Bearer {connection.token}",
                "User-Agent": "taskora-cli",
            },
            timeout=timeout,
        )

    def __repr__(self) -> str:
        return f"TaskoraClient({self.connection!r})"

    def __enter__(self) -> TaskoraClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection pool."""
        self._http.close()

    def _send(
        self,
        method: str,
        path: str,
        *,
        retry: Retry,
        json_body: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        task_id: int | None = None,
        map_error: Callable[[httpx.Response], TaskoraError | None] | None = None,
    ) -> httpx.Response:
        """Send a request, retrying as ``retry`` allows, and return a successful response.

        ``map_error`` may turn an error response into a more specific error; when it
        returns ``None``, :func:`error_for_response` reports the response. ``task_id``
        names the task in the path, for the message of a 404.
        """
        delay = RETRY_INITIAL_DELAY_SECONDS
        attempt = 1
        while True:
            try:
                response = self._http.request(
                    method,
                    path,
                    json=json_body,
                    params=list(params) if params else None,
                    headers=dict(headers) if headers else None,
                )
            except httpx.TransportError as error:
                reason = describe_transport_error(error)
                logger.debug("%s %s failed: %s", method, path, reason)
                if attempt >= self.max_attempts or not _may_retry_error(error, retry):
                    raise unreachable_error(self.connection.url, error) from error
            else:
                logger.debug("%s %s -> %d", method, path, response.status_code)
                retryable = retry is Retry.ALWAYS and response.status_code in RETRY_STATUSES
                if not retryable or attempt >= self.max_attempts:
                    break
                reason = f"{response.status_code} {response.reason_phrase}"

            logger.warning(
                "%s %s failed (%s); retrying in %g s (attempt %d of %d)",
                method,
                path,
                reason,
                delay,
                attempt + 1,
                self.max_attempts,
            )
            self._sleep(delay)
            delay *= 2
            attempt += 1

        if response.is_error:
            specific = map_error(response) if map_error is not None else None
            raise specific or error_for_response(self.connection, response, task_id=task_id)
        return response

    def _decode(self, method: str, path: str, response: httpx.Response) -> Any:
        """Return the JSON body of a response, or ``None`` for a 204 or an empty body."""
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            content_type = response.headers.get("content-type", "no content type")
            raise TaskoraError(
                f"the server at {self.connection.url} returned a response to {method} {path} "
                f"that is not JSON ({content_type}). Check that --url points at a Taskora "
                "server.",
                exit_code=ExitCode.ERROR,
            ) from error

    def _check_object(
        self, method: str, path: str, body: Any, expected_keys: Sequence[str]
    ) -> dict[str, Any]:
        """Return ``body`` if it is a JSON object with ``expected_keys``, else raise."""
        if not isinstance(body, dict) or any(key not in body for key in expected_keys):
            raise TaskoraError(
                f"the server at {self.connection.url} returned an unexpected response to "
                f"{method} {path}: expected a JSON object with {', '.join(expected_keys)}. "
                "Check that --url points at a Taskora server.",
                exit_code=ExitCode.ERROR,
            )
        return body

    def _request_object(
        self,
        method: str,
        path: str,
        expected_keys: Sequence[str],
        *,
        retry: Retry,
        json_body: Mapping[str, Any] | None = None,
        params: Sequence[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        task_id: int | None = None,
        map_error: Callable[[httpx.Response], TaskoraError | None] | None = None,
    ) -> dict[str, Any]:
        """Send one request and return its JSON object, which must contain ``expected_keys``."""
        response = self._send(
            method,
            path,
            retry=retry,
            json_body=json_body,
            params=params,
            headers=headers,
            task_id=task_id,
            map_error=map_error,
        )
        return self._check_object(method, path, self._decode(method, path, response), expected_keys)

    def create_task(
        self, fields: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Create a task from the API fields given (``title`` is required).

        With an ``idempotency_key`` the server creates at most one task for all attempts,
        so the request is retried after any connection failure or 502, 503 or 504.
        Without one, only a request that never reached the server is sent again.
        """
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        retry = Retry.ALWAYS if idempotency_key else Retry.UNSENT
        return self._request_object(
            "POST", "/api/tasks", TASK_KEYS, retry=retry, json_body=fields, headers=headers
        )

    def list_tasks(self, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Return one page: ``{"items": [...], "next_cursor": ...}``.

        ``params`` is a list of pairs because ``priority`` and ``tag`` repeat.
        """
        page = self._request_object(
            "GET", "/api/tasks", ("items",), retry=Retry.ALWAYS, params=params
        )
        if not isinstance(page["items"], list):
            raise TaskoraError(
                f"the server at {self.connection.url} returned an unexpected response to "
                "GET /api/tasks: items is not a list. Check that --url points at a Taskora "
                "server.",
                exit_code=ExitCode.ERROR,
            )
        return page

    def iter_pages(
        self, params: Sequence[tuple[str, str]], *, cursor: str | None = None
    ) -> Iterator[dict[str, Any]]:
        """Yield every page of a listing, from ``cursor`` (or the first page) to the last.

        ``params`` must not contain ``cursor``: each request gets the previous page's
        ``next_cursor``.
        """
        seen: set[str] = set()
        while True:
            page_params = list(params)
            if cursor is not None:
                page_params.append(("cursor", cursor))
            page = self.list_tasks(page_params)
            yield page

            next_cursor = page.get("next_cursor")
            if not next_cursor:
                return
            cursor = str(next_cursor)
            # A server that hands out a cursor twice would otherwise keep this loop going
            # forever.
            if cursor in seen:
                raise TaskoraError(
                    f"the server at {self.connection.url} returned the same next_cursor "
                    "twice while listing tasks, so the listing cannot finish. Check that "
                    "--url points at a Taskora server.",
                    exit_code=ExitCode.ERROR,
                )
            seen.add(cursor)

    def get_current_user(self) -> dict[str, Any]:
        """Return the account of the token's user from ``GET /api/users/me``.

        Its ``timezone`` is the IANA zone that new tasks get unless they name another.
        """
        return self._request_object("GET", "/api/users/me", USER_KEYS, retry=Retry.ALWAYS)

    def get_task(self, task_id: int) -> dict[str, Any]:
        """Return one task."""
        task, _ = self.read_task(task_id)
        return task

    def read_task(self, task_id: int) -> tuple[dict[str, Any], int | None]:
        """Return one task and its version, taken from the ``ETag`` or else the body."""
        path = f"/api/tasks/{task_id}"
        response = self._send("GET", path, retry=Retry.ALWAYS, task_id=task_id)
        task = self._check_object("GET", path, self._decode("GET", path, response), TASK_KEYS)
        version = parse_etag(response.headers.get("etag"))
        if version is None and isinstance(task.get("version"), int):
            version = task["version"]
        return task, version

    def update_task(
        self, task_id: int, fields: Mapping[str, Any], *, if_version: int | None = None
    ) -> dict[str, Any]:
        """Change the given fields of a task and return it.

        With ``if_version`` the server applies the change only while the task has that
        version, and :class:`VersionConflict` reports that it no longer has.
        """
        headers = {"If-Match": f'"{if_version}"'} if if_version is not None else None

        def conflict(response: httpx.Response) -> TaskoraError | None:
            if response.status_code != 412 or if_version is None:
                return None
            problem = _problem_document(response)
            current = problem.get("current_version") if problem else None
            return VersionConflict(
                task_id, if_version, current if isinstance(current, int) else None
            )

        # A change that reached the server may have been applied even when its response
        # was lost, and with If-Match its repeat would then fail with a 412 that names
        # the change itself as the conflict. So only an unsent PATCH is sent again.
        return self._request_object(
            "PATCH",
            f"/api/tasks/{task_id}",
            TASK_KEYS,
            retry=Retry.UNSENT,
            json_body=fields,
            headers=headers,
            task_id=task_id,
            map_error=conflict,
        )

    def complete_task(self, task_id: int) -> tuple[dict[str, Any], int | None]:
        """Mark a task completed; return it and the id of its series' next occurrence.

        The server names that occurrence in a ``Link: </api/tasks/107>; rel="next"`` header
        (RFC 8288). Completing a completed task changes nothing.
        """
        path = f"/api/tasks/{task_id}/complete"
        # Completing twice has the effect of completing once, so any failure is retried.
        response = self._send("POST", path, retry=Retry.ALWAYS, task_id=task_id)
        task = self._check_object("POST", path, self._decode("POST", path, response), TASK_KEYS)
        return task, next_task_id(response.links.get("next"))

    def reopen_task(self, task_id: int) -> dict[str, Any]:
        """Mark a task pending again. Reopening a pending task changes nothing."""
        return self._request_object(
            "POST",
            f"/api/tasks/{task_id}/reopen",
            TASK_KEYS,
            retry=Retry.ALWAYS,
            task_id=task_id,
        )

    def upcoming_dates(self, task_id: int, count: int = 5) -> list[str]:
        """Return the next due dates of a recurring task's series, oldest first."""
        answer = self._request_object(
            "GET",
            f"/api/tasks/{task_id}/occurrences",
            ("dates",),
            retry=Retry.ALWAYS,
            params=[("count", str(count))],
            task_id=task_id,
        )
        return [str(date) for date in answer["dates"]]

    def run_check(self, path: str, expected_keys: Sequence[str]) -> dict[str, Any]:
        """Run a recurrence or reminder check. Checks are idempotent, so failures are retried."""
        return self._request_object("POST", path, expected_keys, retry=Retry.ALWAYS)

    def delete_task(self, task_id: int, *, series: bool = False) -> int | None:
        """Delete a task; with ``series`` also end its series.

        Deleting one pending occurrence of a series skips it, and the id of the occurrence
        created after it is returned.
        """
        # A repeated DELETE after a lost response would answer 404 for the task that the
        # first attempt deleted, so only an unsent request is sent again.
        response = self._send(
            "DELETE",
            f"/api/tasks/{task_id}",
            retry=Retry.UNSENT,
            params=[("series", "true")] if series else None,
            task_id=task_id,
        )
        return next_task_id(response.links.get("next"))

    def follow_events(
        self,
        *,
        since: int | None = None,
        types: Sequence[str] = (),
        notify: Callable[[str], None] = lambda message: None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[StreamEvent]:
        """Yield the caller's events from the SSE stream, reconnecting until closed.

        After a dropped connection or a server restart, the next connection sends
        ``Last-Event-ID`` with the id of the last event yielded, so the server replays the
        gap from its event log. Events at or below that id are skipped if sent again.
        The first connection must succeed, and a 4xx response ends the stream with an error
        at any time. ``notify`` receives one short line per lost connection and retry.
        """
        return _EventFollower(self, since=since, types=types, notify=notify, sleep=sleep).run()


class _EventFollower:
    """The reconnect loop behind :meth:`TaskoraClient.follow_events`."""

    def __init__(
        self,
        client: TaskoraClient,
        *,
        since: int | None,
        types: Sequence[str],
        notify: Callable[[str], None],
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.since = since
        self.types = list(types)
        self.notify = notify
        self.sleep = sleep
        self.last_id: int | None = None
        self.connected_once = False

    def _request_options(self) -> tuple[list[tuple[str, str]], dict[str, str]]:
        params: list[tuple[str, str]] = []
        headers: dict[str, str] = {}
        if self.types:
            params.append(("types", ",".join(self.types)))
        if self.last_id is not None:
            headers["Last-Event-ID"] = str(self.last_id)
        elif self.since is not None:
            params.append(("since", str(self.since)))
        # NOTE: before the first event arrives there is no id to resume from, so without
        # --since a reconnect misses the events committed while the stream was down.
        return params, headers

    def run(self) -> Iterator[StreamEvent]:
        delay = RECONNECT_INITIAL_DELAY_SECONDS
        url = self.client.connection.url
        while True:
            opened_at = time.monotonic()
            try:
                yield from self._stream_once()
                reason = "the server closed the stream"
            except httpx.TransportError as error:
                if not self.connected_once:
                    raise unreachable_error(url, error) from error
                reason = describe_transport_error(error)
            except _RetryableStatus as error:
                if not self.connected_once:
                    raise error.taskora_error from None
                reason = error.taskora_error.message

            if time.monotonic() - opened_at >= STABLE_STREAM_SECONDS:
                delay = RECONNECT_INITIAL_DELAY_SECONDS
            logger.info("Event stream from %s lost (%s); reconnecting", url, reason)
            resume = "" if self.last_id is None else f" to resume after event {self.last_id}"
            self.notify(
                f"Connection to {url} lost ({reason}); reconnecting in {delay:g} s{resume}."
            )
            self.sleep(delay)
            delay = min(delay * 2, RECONNECT_MAX_DELAY_SECONDS)

    def _stream_once(self) -> Iterator[StreamEvent]:
        params, headers = self._request_options()
        timeout = httpx.Timeout(REQUEST_TIMEOUT_SECONDS, read=STREAM_READ_TIMEOUT_SECONDS)
        with connect_sse(
            self.client._http,
            "GET",
            "/api/events/stream",
            params=params,
            headers=headers,
            timeout=timeout,
        ) as source:
            response = source.response
            logger.debug("GET /api/events/stream -> %d", response.status_code)
            if response.is_error:
                response.read()
                failure = error_for_response(self.client.connection, response)
                # A 5xx often comes from a proxy in front of a restarting server, so it is
                # retried. A 4xx such as 401 would only repeat.
                if response.status_code >= 500:
                    raise _RetryableStatus(failure)
                raise failure
            if self.connected_once:
                self.notify(f"Reconnected to {self.client.connection.url}.")
            self.connected_once = True

            try:
                for message in source.iter_sse():
                    event = self._decode(message.id, message.event, message.data)
                    if event is None:
                        continue
                    if event.sequence is not None:
                        self.last_id = event.sequence
                    yield event
            except SSEError as error:
                raise TaskoraError(
                    f"the server at {self.client.connection.url} did not send an event "
                    f"stream: {error}. Check that --url points at a Taskora server.",
                    exit_code=ExitCode.ERROR,
                ) from error

    def _decode(self, raw_id: str, event_type: str, data: str) -> StreamEvent | None:
        """Parse one SSE message, or return ``None`` for a message to skip."""
        sequence: int | None
        try:
            sequence = int(raw_id) if raw_id else None
        except ValueError:
            sequence = None
        if sequence is not None and self.last_id is not None and sequence <= self.last_id:
            logger.debug("Skipping event %d, already yielded", sequence)
            return None

        try:
            cloudevent = json.loads(data)
        except json.JSONDecodeError:
            logger.info("Skipping event %s: its data is not JSON", raw_id or "without id")
            self.notify(f"Skipped event {raw_id or 'without id'}: its data is not JSON.")
            if sequence is not None:
                self.last_id = sequence
            return None
        if not isinstance(cloudevent, dict):
            cloudevent = {"data": cloudevent}
        return StreamEvent(
            sequence=sequence,
            type=event_type if event_type != "message" else str(cloudevent.get("type", "")),
            cloudevent=cloudevent,
        )


def parse_etag(value: str | None) -> int | None:
    """Return the task version in an ``ETag`` header (``"3"`` or ``W/"3"``), or ``None``."""
    if not value:
        return None
    text = value.strip().removeprefix("W/").strip('"')
    return int(text) if text.isdigit() else None


def _may_retry_error(error: httpx.TransportError, retry: Retry) -> bool:
    if retry is Retry.ALWAYS:
        return True
    return retry is Retry.UNSENT and isinstance(error, NOT_SENT_ERRORS)


class _RetryableStatus(Exception):
    """An error status that may go away, such as a 503 while the server restarts."""

    def __init__(self, taskora_error: TaskoraError) -> None:
        super().__init__(taskora_error.message)
        self.taskora_error = taskora_error


def open_client(url: str | None, token: str | None) -> TaskoraClient:
    """Resolve the connection settings and return a client, raising if no token is set."""
    connection = resolve_connection(url, token)
    logger.debug("Using %s", connection)
    return TaskoraClient(connection)
