"""URL and token resolution, and how the client reports each kind of failure."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import typer
from cli_helpers import ScriptedResponse, ScriptedServer, make_task
from typer.testing import CliRunner

from taskora.cli.client import (
    Connection,
    TaskoraClient,
    describe_transport_error,
    resolve_connection,
)
from taskora.cli.config_file import ClientConfig, save_config
from taskora.errors import ExitCode, TaskoraError


def free_loopback_port() -> int:
    """Return a loopback port that nothing listens on (bound once, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def write_config(path: Path, url: str | None, token: str | None) -> None:
    save_config(ClientConfig(url=url, token=token), path)


# --- resolution order -------------------------------------------------------------------


def test_resolve_defaults_without_config() -> None:
    connection = resolve_connection()

    assert connection.url == "http://127.0.0.1:8000"
    assert connection.url_source == "the default"
    assert connection.token is None
    assert connection.token_source is None


def test_resolve_reads_config_file(isolated_client_env: Path) -> None:
    write_config(isolated_client_env, "http://127.0.0.1:9100", "file-token")

    connection = resolve_connection()

    assert connection.url == "http://127.0.0.1:9100"
    assert connection.url_source == f"the config file {isolated_client_env}"
    assert connection.token == "file-token"
    assert connection.token_source == f"the config file {isolated_client_env}"


def test_resolve_env_beats_config_file(
    isolated_client_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_client_env, "http://127.0.0.1:9100", "file-token")
    monkeypatch.setenv("TASKORA_URL", "http://127.0.0.1:9200/")
    monkeypatch.setenv("TASKORA_TOKEN", "env-token")

    connection = resolve_connection()

    assert connection.url == "http://127.0.0.1:9200"
    assert connection.url_source == "TASKORA_URL"
    assert connection.token == "env-token"
    assert connection.token_source == "TASKORA_TOKEN"


def test_resolve_options_beat_env_and_file(
    isolated_client_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_client_env, "http://127.0.0.1:9100", "file-token")
    monkeypatch.setenv("TASKORA_URL", "http://127.0.0.1:9200")
    monkeypatch.setenv("TASKORA_TOKEN", "env-token")

    connection = resolve_connection("https://tasks.example.test/prefix", "option-token")

    assert connection.url == "https://tasks.example.test/prefix"
    assert connection.url_source == "--url"
    assert connection.token == "option-token"
    assert connection.token_source == "--token"


def test_resolve_mixes_sources_per_setting(
    isolated_client_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_config(isolated_client_env, None, "file-token")
    monkeypatch.setenv("TASKORA_URL", "http://127.0.0.1:9200")

    connection = resolve_connection()

    assert connection.url_source == "TASKORA_URL"
    assert connection.token_source == f"the config file {isolated_client_env}"


def test_resolve_skips_broken_config_when_options_given(isolated_client_env: Path) -> None:
    isolated_client_env.parent.mkdir(parents=True)
    isolated_client_env.write_text("url = [not toml")

    connection = resolve_connection("http://127.0.0.1:9300", "option-token")

    assert connection.url == "http://127.0.0.1:9300"


def test_resolve_reports_broken_config(isolated_client_env: Path) -> None:
    isolated_client_env.parent.mkdir(parents=True)
    isolated_client_env.write_text("url = [not toml")

    with pytest.raises(TaskoraError) as caught:
        resolve_connection()

    assert caught.value.exit_code == ExitCode.ERROR
    assert caught.value.message.startswith(f"invalid config file {isolated_client_env}:")


@pytest.mark.parametrize("bad_url", ["localhost:8000", "127.0.0.1:8000", "ftp://host", "http://"])
def test_resolve_rejects_url_without_scheme(bad_url: str) -> None:
    with pytest.raises(TaskoraError) as caught:
        resolve_connection(bad_url, "token")

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message == (
        f"invalid server URL {bad_url!r} from --url: it must start with http:// or https:// "
        "and name a host, for example http://127.0.0.1:8000."
    )


def test_connection_repr_masks_token() -> None:
    connection = Connection("http://127.0.0.1:1", "--url", "s3cret-token", "--token")

    assert "s3cret-token" not in repr(connection)
    assert "s3cret-token" not in repr(TaskoraClient(connection))


# --- failures through the commands ------------------------------------------------------


def invoke_error(runner: CliRunner, cli: typer.Typer, args: list[str]) -> TaskoraError:
    """Run a command that must fail and return the TaskoraError that ``main()`` would print."""
    result = runner.invoke(cli, args)
    assert isinstance(result.exception, TaskoraError), result.output
    return result.exception


def test_server_down_is_unreachable(runner: CliRunner, cli: typer.Typer) -> None:
    url = f"http://127.0.0.1:{free_loopback_port()}"

    error = invoke_error(runner, cli, ["tasks", "list", "--url", url, "--token", "t"])

    assert error.exit_code == ExitCode.UNREACHABLE
    assert error.message == (
        f"cannot reach the Taskora server at {url}: connection refused. "
        "Start it with `taskora serve` or pass --url / set TASKORA_URL."
    )


def test_missing_token_names_every_source(
    runner: CliRunner, cli: typer.Typer, isolated_client_env: Path
) -> None:
    error = invoke_error(runner, cli, ["tasks", "list", "--url", "http://127.0.0.1:1"])

    assert error.exit_code == ExitCode.UNAUTHORIZED
    assert error.message == (
        "no API token. Pass --token, set TASKORA_TOKEN, or put `token` in the config file "
        f"{isolated_client_env}. `taskora serve` on the default database saves a token there, "
        "and `taskora users create NAME` prints one for a new user."
    )


def test_invalid_url_option_is_usage_error(runner: CliRunner, cli: typer.Typer) -> None:
    error = invoke_error(runner, cli, ["tasks", "list", "--url", "localhost:8000"])

    assert error.exit_code == ExitCode.USAGE
    assert "'localhost:8000' from --url" in error.message


def test_http_error_statuses(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Check the message and exit code of each error status.

    The scripted server stands in for the real service only to produce these statuses on
    demand, with problem documents shaped as the API documents them.
    """
    url = scripted_server.url
    monkeypatch.setenv("TASKORA_TOKEN", "env-token")
    scripted_server.add(
        "GET",
        "/api/tasks/7",
        ScriptedResponse(
            401,
            {"type": "about:blank", "title": "Unauthorized", "status": 401,
             "detail": "Invalid or missing API token"},
            content_type="application/problem+json",
            headers={"WWW-Authenticate": "Bearer"},
        ),
    )
    scripted_server.add(
        "GET",
        "/api/tasks/42",
        ScriptedResponse(
            404,
            {"type": "about:blank", "title": "Not Found", "status": 404,
             "detail": "Task 42 not found"},
            content_type="application/problem+json",
        ),
    )
    scripted_server.add(
        "POST",
        "/api/tasks",
        ScriptedResponse(
            422,
            {
                "type": "about:blank",
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "Invalid fields",
                "errors": [
                    {"field": "body.title", "message": "String should have at least 1 character"},
                    {"field": "body.tags", "message": "Input should be a valid list"},
                ],
            },
            content_type="application/problem+json",
        ),
    )
    scripted_server.add(
        "POST",
        "/api/tasks/9/complete",
        ScriptedResponse(
            409,
            {"title": "Conflict", "status": 409, "detail": "The task changed meanwhile"},
            content_type="application/problem+json",
        ),
    )
    # rm reads the task before deleting it.
    scripted_server.add("GET", "/api/tasks/3", ScriptedResponse(200, make_task(3, "Once")))
    scripted_server.add(
        "DELETE",
        "/api/tasks/3",
        ScriptedResponse(503, b"<html>\n<body>Service Unavailable</body>\n</html>",
                         content_type="text/html"),
    )
    scripted_server.add(
        "GET",
        "/api/tasks",
        ScriptedResponse(
            400,
            {"title": "Bad Request", "status": 400, "detail": "Invalid cursor"},
            content_type="application/problem+json",
        ),
    )

    unauthorized = invoke_error(runner, cli, ["tasks", "show", "7", "--url", url])
    assert unauthorized.exit_code == ExitCode.UNAUTHORIZED
    assert unauthorized.message == (
        f"the server at {url} rejected the API token from TASKORA_TOKEN (401 Unauthorized: "
        "Invalid or missing API token). Pass a valid token with --token or TASKORA_TOKEN; "
        "`taskora users token NAME` prints a new one for a user, and `taskora users create "
        "NAME` one for a new user."
    )

    not_found = invoke_error(runner, cli, ["tasks", "show", "42", "--url", url])
    assert not_found.exit_code == ExitCode.NOT_FOUND
    assert not_found.message == "task 42 not found"

    invalid = invoke_error(runner, cli, ["tasks", "add", " ", "--url", url])
    assert invalid.exit_code == ExitCode.USAGE
    assert invalid.message == (
        "the server rejected the request as invalid: title: String should have at least "
        "1 character; tags: Input should be a valid list"
    )

    conflict = invoke_error(runner, cli, ["tasks", "done", "9", "--url", url])
    assert conflict.exit_code == ExitCode.CONFLICT
    assert conflict.message == "conflict (409 Conflict): The task changed meanwhile"

    unavailable = invoke_error(runner, cli, ["tasks", "rm", "3", "--url", url])
    assert unavailable.exit_code == ExitCode.ERROR
    assert unavailable.message == (
        f"the server at {url} returned 503 Service Unavailable for DELETE /api/tasks/3: "
        "non-JSON response: <html>"
    )

    bad_request = invoke_error(
        runner, cli, ["tasks", "list", "--cursor", "tampered", "--url", url]
    )
    assert bad_request.exit_code == ExitCode.USAGE
    assert bad_request.message == "the server rejected the request as invalid: Invalid cursor"


def test_token_from_config_named_in_401(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    isolated_client_env: Path,
) -> None:
    write_config(isolated_client_env, scripted_server.url, "stale-token")
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(401, None))

    error = invoke_error(runner, cli, ["tasks", "list"])

    assert error.exit_code == ExitCode.UNAUTHORIZED
    assert f"the API token from the config file {isolated_client_env}" in error.message
    assert "empty response body" in error.message


def test_success_that_is_not_json(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "GET", "/api/tasks/1", ScriptedResponse(200, b"<html>hello</html>", "text/html")
    )

    error = invoke_error(
        runner, cli, ["tasks", "show", "1", "--url", scripted_server.url, "--token", "t"]
    )

    assert error.exit_code == ExitCode.ERROR
    assert error.message == (
        f"the server at {scripted_server.url} returned a response to GET /api/tasks/1 that "
        "is not JSON (text/html). Check that --url points at a Taskora server."
    )


def test_requests_carry_token_and_filters(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    empty_page = {"items": [], "next_cursor": None}
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, empty_page))

    result = runner.invoke(
        cli,
        [
            "tasks", "list", "--status", "pending", "-p", "high", "-p", "urgent",
            "-t", "work", "-t", "home", "--sort", "-due_at", "--limit", "5",
            "--url", scripted_server.url, "--token", "secret-token",
        ],
    )

    assert result.exit_code == 0, result.output
    request = scripted_server.requests[-1]
    assert request.headers["authorization"] == "Bearer secret-token"
    assert request.query == [
        ("status", "pending"),
        ("priority", "high"),
        ("priority", "urgent"),
        ("tag", "work"),
        ("tag", "home"),
        ("sort", "-due_at"),
        ("limit", "5"),
    ]


def test_add_sends_only_given_fields(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("POST", "/api/tasks", ScriptedResponse(201, make_task(5, "Pay rent")))

    result = runner.invoke(
        cli,
        ["tasks", "add", "Pay rent", "-t", "home", "--url", scripted_server.url, "--token", "t"],
    )

    assert result.exit_code == 0, result.output
    assert result.output == 'Added task 5 "Pay rent".\n'
    assert scripted_server.requests[-1].body == {"title": "Pay rent", "tags": ["home"]}


def test_request_logs_omit_token(
    scripted_server: ScriptedServer, caplog: pytest.LogCaptureFixture
) -> None:
    scripted_server.add("GET", "/api/tasks/1", ScriptedResponse(200, make_task(1, "x")))
    connection = Connection(scripted_server.url, "--url", "log-secret", "--token")

    with caplog.at_level("DEBUG"), TaskoraClient(connection) as client:
        client.get_task(1)

    assert "GET /api/tasks/1 -> 200" in caplog.messages
    assert all("log-secret" not in record.getMessage() for record in caplog.records)


def test_timeout_is_described_plainly() -> None:
    assert describe_transport_error(httpx.ReadTimeout("read")) == "timed out"


def test_wrong_priority_lists_choices(runner: CliRunner, cli: typer.Typer) -> None:
    result = runner.invoke(cli, ["tasks", "list", "--priority", "huge"])

    # Rich draws usage errors in a box and wraps them, so the check ignores the layout.
    message = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2
    assert "'huge' is not one of 'low', 'medium', 'high', 'urgent'" in message


def test_unexpected_json_shape(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add("GET", "/api/tasks", ScriptedResponse(200, [1, 2]))
    scripted_server.add("GET", "/api/tasks/1", ScriptedResponse(200, {"name": "other"}))
    options = ["--url", scripted_server.url, "--token", "t"]

    listing = invoke_error(runner, cli, ["tasks", "list", *options])
    single = invoke_error(runner, cli, ["tasks", "show", "1", *options])

    assert listing.exit_code == ExitCode.ERROR
    assert listing.message == (
        f"the server at {scripted_server.url} returned an unexpected response to GET "
        "/api/tasks: expected a JSON object with items. Check that --url points at a "
        "Taskora server."
    )
    assert single.message == (
        f"the server at {scripted_server.url} returned an unexpected response to GET "
        "/api/tasks/1: expected a JSON object with id, title, status. Check that --url "
        "points at a Taskora server."
    )


# --- token and URL checks before any request ---------------------------------------------


@pytest.mark.parametrize(
    ("bad_token", "described"),
    [
        ("a\nb", "a line break at position 2"),
        ("abc\r", "a carriage return at position 4"),
        ("ab cd", "a space at position 3"),
        ("\tabc", "a tab at position 1"),
        ("ab\x7fc", "the control character U+007F at position 3"),
        ("tökén", "a non-ASCII character at position 2"),
    ],
)
def test_invalid_token_option_rejected(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    bad_token: str,
    described: str,
) -> None:
    error = invoke_error(
        runner, cli, ["tasks", "list", "--url", scripted_server.url, "--token", bad_token]
    )

    assert error.exit_code == ExitCode.UNAUTHORIZED
    assert error.message == (
        f"invalid API token from --token: it contains {described}, but a token may contain "
        "only visible ASCII characters (letters, digits and punctuation, without spaces). "
        "Copy the token again without that character."
    )
    assert scripted_server.requests == []


def test_invalid_token_names_env_and_config(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    isolated_client_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(isolated_client_env, scripted_server.url, "file\nsecret")

    from_file = invoke_error(runner, cli, ["tasks", "list"])
    monkeypatch.setenv("TASKORA_TOKEN", "env\nsecret")
    from_env = invoke_error(runner, cli, ["events", "tail"])

    assert from_file.exit_code == ExitCode.UNAUTHORIZED
    assert from_file.message.startswith(
        f"invalid API token from the config file {isolated_client_env}: "
    )
    assert "secret" not in from_file.message
    assert from_env.exit_code == ExitCode.UNAUTHORIZED
    assert from_env.message.startswith("invalid API token from TASKORA_TOKEN: ")
    assert "secret" not in from_env.message
    assert scripted_server.requests == []


def test_invalid_token_printed_without_token(scripted_server: ScriptedServer) -> None:
    """The real entry point prints one line on stderr, exits 4, and never shows the token."""
    result = subprocess.run(
        [
            sys.executable, "-m", "taskora", "tasks", "list",
            "--url", scripted_server.url, "--token", "Bearer-ish\nsecret",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert result.returncode == 4
    assert result.stderr.startswith("Error: invalid API token from --token: ")
    assert "secret" not in result.stderr
    assert "cannot reach" not in result.stderr
    assert result.stdout == ""


def test_empty_token_option_not_skipped(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    isolated_client_env: Path,
) -> None:
    write_config(isolated_client_env, scripted_server.url, "file-token")

    error = invoke_error(runner, cli, ["tasks", "list", "--token", ""])

    assert error.exit_code == ExitCode.UNAUTHORIZED
    assert error.message == (
        "the API token from --token is empty. Pass the token after --token, or leave "
        "--token out to use TASKORA_TOKEN."
    )
    assert scripted_server.requests == []


def test_empty_token_env_not_skipped(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    isolated_client_env: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    write_config(isolated_client_env, scripted_server.url, "file-token")
    monkeypatch.setenv("TASKORA_TOKEN", "")

    error = invoke_error(runner, cli, ["events", "tail"])

    assert error.exit_code == ExitCode.UNAUTHORIZED
    assert error.message == (
        "the API token from TASKORA_TOKEN is empty. Set TASKORA_TOKEN to a token, or unset "
        "it to use the config file."
    )
    assert scripted_server.requests == []


def test_empty_token_in_config_file(isolated_client_env: Path) -> None:
    isolated_client_env.parent.mkdir(parents=True)
    isolated_client_env.write_text('url = "http://127.0.0.1:9100"\ntoken = ""\n')

    with pytest.raises(TaskoraError) as caught:
        resolve_connection()

    assert caught.value.exit_code == ExitCode.UNAUTHORIZED
    assert caught.value.message == (
        f"the API token from the config file {isolated_client_env} is empty. Set `token` "
        "there to a token, or remove the key."
    )


def test_empty_url_option_not_skipped(isolated_client_env: Path) -> None:
    write_config(isolated_client_env, "http://127.0.0.1:9100", "file-token")

    with pytest.raises(TaskoraError) as caught:
        resolve_connection("", None)

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message.startswith("invalid server URL '' from --url: ")


@pytest.mark.parametrize("bad_url", ["http://[default: x]", "http://127.0.0.1:99999"])
def test_unparsable_url_is_usage_error(bad_url: str) -> None:
    with pytest.raises(TaskoraError) as caught:
        resolve_connection(bad_url, "token")

    assert caught.value.exit_code == ExitCode.USAGE
    assert caught.value.message.startswith(f"invalid server URL {bad_url!r} from --url: ")


# --- 404 from something that is not the Taskora API ---------------------------------------


def test_url_with_api_path_not_task_not_found(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    """--url .../api makes every path /api/api/..., for which a Taskora server returns 404."""
    url = f"{scripted_server.url}/api"
    generic_404 = ScriptedResponse(
        404,
        {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "Not Found"},
        content_type="application/problem+json",
    )
    for method, path in [("GET", "/api/api/tasks"), ("GET", "/api/api/tasks/42")]:
        scripted_server.add(method, path, generic_404)
    options = ["--url", url, "--token", "t"]

    listing = invoke_error(runner, cli, ["tasks", "list", *options])
    showing = invoke_error(runner, cli, ["tasks", "show", "42", *options])
    tailing = invoke_error(runner, cli, ["events", "tail", *options])

    assert listing.exit_code == ExitCode.ERROR
    assert listing.message == (
        f"the server at {url} returned 404 Not Found for GET /api/api/tasks, so {url} does "
        f"not look like a Taskora server. If the server runs at {scripted_server.url}, set "
        "that base URL without the path /api in --url."
    )
    assert showing.exit_code == ExitCode.ERROR
    assert "task 42 not found" not in showing.message
    assert showing.message.startswith(
        f"the server at {url} returned 404 Not Found for GET /api/api/tasks/42, so "
    )
    assert tailing.exit_code == ExitCode.ERROR
    assert "GET /api/api/events/stream" in tailing.message


def test_404_without_url_path_suggests_host_check(
    runner: CliRunner,
    cli: typer.Typer,
    scripted_server: ScriptedServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TASKORA_URL", scripted_server.url)
    scripted_server.add("GET", "/api/tasks/5", ScriptedResponse(200, make_task(5, "Once")))
    scripted_server.add("DELETE", "/api/tasks/5", ScriptedResponse(404, b"<html>nope</html>"))

    error = invoke_error(runner, cli, ["tasks", "rm", "5", "--token", "t"])

    assert error.exit_code == ExitCode.ERROR
    assert error.message == (
        f"the server at {scripted_server.url} returned 404 Not Found for DELETE /api/tasks/5, "
        f"so {scripted_server.url} does not look like a Taskora server. Check the host and "
        "port in TASKORA_URL."
    )


def test_422_is_usage_error(
    runner: CliRunner, cli: typer.Typer, scripted_server: ScriptedServer
) -> None:
    scripted_server.add(
        "POST",
        "/api/tasks",
        ScriptedResponse(
            422,
            {
                "title": "Unprocessable Content",
                "status": 422,
                "detail": "Invalid field 'tags'",
                "errors": [{"field": "body.tags.0", "message": "Invalid tag 'a b'"}],
            },
            content_type="application/problem+json",
        ),
    )

    error = invoke_error(
        runner,
        cli,
        ["tasks", "add", "Milk", "-t", "a b", "--url", scripted_server.url, "--token", "t"],
    )

    assert error.exit_code == ExitCode.USAGE
    assert error.message == "the server rejected the request as invalid: tags.0: Invalid tag 'a b'"
