"""The local Dapr components: rendered from the templates, checked against the Component schema."""

from __future__ import annotations

import copy
import json
import stat
from pathlib import Path
from typing import Any

import pytest
import yaml
from component_schema import InvalidComponent, component_problems, validate_component

from taskora.deploy.components import (
    ComponentError,
    ComponentNames,
    ComponentOptions,
    check_app_id,
    check_redis_host,
    check_schedule,
    default_secrets_path,
    render_components,
    write_components,
    write_secrets_file,
)
from taskora.errors import ExitCode, TaskoraError

SECRETS_PATH = "/run/taskora/secrets.json"


def rendered(**overrides: Any) -> dict[str, dict[str, Any]]:
    """Render the components and return them parsed, by component name."""
    options = ComponentOptions(**{"secrets_file": SECRETS_PATH, **overrides})
    return {item.name: yaml.safe_load(item.text) for item in render_components(options)}


def metadata_of(component: dict[str, Any]) -> dict[str, Any]:
    return {item["name"]: item["value"] for item in component["spec"]["metadata"]}


VALID_COMPONENT: dict[str, Any] = {
    "apiVersion": "dapr.io/v1alpha1",
    "kind": "Component",
    "metadata": {"name": "pubsub"},
    "spec": {
        "type": "pubsub.redis",
        "version": "v1",
        "metadata": [
            {"name": "redisHost", "value": "127.0.0.1:6379"},
            {"name": "redisPassword", "secretKeyRef": {"name": "redis", "key": "password"}},
        ],
    },
    "scopes": ["taskora"],
}


@pytest.mark.parametrize(
    "name", ["pubsub", "statestore", "secretstore", "recurrence-cron", "reminder-cron"]
)
def test_component_matches_schema(name: str) -> None:
    component = rendered()[name]

    assert component_problems(component) == []


def test_components_names_and_files() -> None:
    options = ComponentOptions(secrets_file=SECRETS_PATH)

    components = render_components(options)

    assert [(item.name, item.file_name) for item in components] == [
        ("pubsub", "pubsub.yaml"),
        ("statestore", "statestore.yaml"),
        ("secretstore", "secretstore.yaml"),
        ("recurrence-cron", "recurrence-cron.yaml"),
        ("reminder-cron", "reminder-cron.yaml"),
    ]


def test_components_types_and_scopes() -> None:
    components = rendered()

    assert {name: item["spec"]["type"] for name, item in components.items()} == {
        "pubsub": "pubsub.redis",
        "statestore": "state.redis",
        "secretstore": "secretstores.local.file",
        "recurrence-cron": "bindings.cron",
        "reminder-cron": "bindings.cron",
    }
    assert {name: item["scopes"] for name, item in components.items()} == {
        name: ["taskora"] for name in components
    }


def test_pubsub_metadata_defaults() -> None:
    pubsub = rendered()["pubsub"]

    assert metadata_of(pubsub) == {
        "redisHost": "127.0.0.1:6379",
        "consumerID": "{uuid}",
        "maxLenApprox": "10000",
        "enableTLS": "false",
    }


def test_pubsub_consumer_id_template() -> None:
    pubsub = rendered(consumer_id="{podName}")["pubsub"]

    assert metadata_of(pubsub)["consumerID"] == "{podName}"


def test_state_store_metadata() -> None:
    state = rendered(redis_host="[::1]:6380")["statestore"]

    assert metadata_of(state) == {"redisHost": "[::1]:6380", "enableTLS": "false"}


def test_secret_store_metadata() -> None:
    secrets = rendered()["secretstore"]

    assert metadata_of(secrets) == {"secretsFile": SECRETS_PATH, "nestedSeparator": ":"}


def test_cron_bindings_schedules() -> None:
    components = rendered(recurrence_schedule="@every 30s", reminder_schedule="0 */5 * * * *")

    assert metadata_of(components["recurrence-cron"]) == {
        "schedule": "@every 30s",
        "direction": "input",
    }
    assert metadata_of(components["reminder-cron"]) == {
        "schedule": "0 */5 * * * *",
        "direction": "input",
    }


def test_names_from_environment() -> None:
    names = ComponentNames.from_environment(
        {"TASKORA_DAPR_PUBSUB": "events", "TASKORA_DAPR_STATE_STORE": "keys"}
    )

    components = rendered(names=names)

    assert sorted(components) == [
        "events",
        "keys",
        "recurrence-cron",
        "reminder-cron",
        "secretstore",
    ]
    assert components["events"]["spec"]["type"] == "pubsub.redis"


def test_values_with_yaml_syntax_stay_strings() -> None:
    """A value with YAML syntax in it is quoted, so it parses back to the same string."""
    tricky = 'x:{podName}#"1"'

    pubsub = rendered(consumer_id=tricky, secrets_file="C:\\run\\secrets: 1.json")

    assert metadata_of(pubsub["pubsub"])["consumerID"] == tricky
    assert metadata_of(pubsub["secretstore"])["secretsFile"] == "C:\\run\\secrets: 1.json"


def test_validator_accepts_secret_key_ref() -> None:
    assert component_problems(VALID_COMPONENT) == []


def _broken(change: str) -> dict[str, Any]:
    component = copy.deepcopy(VALID_COMPONENT)
    items = component["spec"]["metadata"]
    if change == "value and secretKeyRef":
        items[0]["secretKeyRef"] = {"name": "redis", "key": "host"}
    elif change == "neither value nor secretKeyRef":
        del items[0]["value"]
    elif change == "secretKeyRef without key":
        del items[1]["secretKeyRef"]["key"]
    elif change == "item without name":
        del items[0]["name"]
    elif change == "no spec.version":
        del component["spec"]["version"]
    elif change == "no spec.type":
        del component["spec"]["type"]
    elif change == "no metadata.name":
        component["metadata"] = {}
    elif change == "kind":
        component["kind"] = "Configuration"
    elif change == "apiVersion":
        component["apiVersion"] = "dapr.io/v1"
    elif change == "unknown field":
        component["spec"]["metdata"] = []
    elif change == "uppercase name":
        component["metadata"]["name"] = "PubSub"
    elif change == "scope not a list":
        component["scopes"] = "taskora"
    elif change == "duplicate item":
        items.append({"name": "redisHost", "value": "127.0.0.1:6380"})
    elif change == "required item missing":
        del items[0]
    return component


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ("value and secretKeyRef", "spec/metadata/0: "),
        ("neither value nor secretKeyRef", "spec/metadata/0: "),
        ("secretKeyRef without key", "spec/metadata/1/secretKeyRef: 'key' is a required"),
        ("item without name", "spec/metadata/0: 'name' is a required property"),
        ("no spec.version", "spec: 'version' is a required property"),
        ("no spec.type", "spec: 'type' is a required property"),
        ("no metadata.name", "metadata: 'name' is a required property"),
        ("kind", "kind: 'Component' was expected"),
        ("apiVersion", "apiVersion: 'dapr.io/v1alpha1' was expected"),
        ("unknown field", "spec: Additional properties are not allowed ('metdata'"),
        ("uppercase name", "metadata/name: 'PubSub' does not match"),
        ("scope not a list", "scopes: 'taskora' is not of type 'array'"),
        ("duplicate item", "spec/metadata: duplicate names ['redisHost']"),
        ("required item missing", "spec/metadata: missing ['redisHost']"),
    ],
)
def test_validator_rejects_bad_component(change: str, problem: str) -> None:
    problems = component_problems(_broken(change))

    assert len(problems) == 1, problems
    assert problems[0].startswith(problem), problems


def test_validate_component_raises_with_problems() -> None:
    with pytest.raises(InvalidComponent) as caught:
        validate_component(_broken("kind"))

    assert caught.value.problems == ["kind: 'Component' was expected"]


@pytest.mark.parametrize(
    "schedule",
    [
        "@every 1m",
        "@every 1m30s",
        "@every 500ms",
        "@hourly",
        "0 */5 * * * *",
        "CRON_TZ=Europe/Paris 0 30 4 * * *",
    ],
)
def test_schedule_accepted(schedule: str) -> None:
    assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(
    "schedule",
    [
        "",
        "@every",
        "@every 0s",
        "@every 5",
        "@sometimes",
        "*/5 * * * *",
        "0 0 0 * * * *",
        "0 0 0 * * ;",
    ],
)
def test_schedule_rejected(schedule: str) -> None:
    with pytest.raises(ComponentError) as caught:
        check_schedule(schedule)

    assert caught.value.message.startswith(f"invalid cron schedule {schedule!r}: use '@every'")
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize("host", ["127.0.0.1:6379", "redis.internal:6380", "[::1]:6379"])
def test_redis_host_accepted(host: str) -> None:
    assert check_redis_host(host) == host


@pytest.mark.parametrize("host", ["redis", ":6379", "redis:0", "redis:65536", "redis:x", "a b:1"])
def test_redis_host_rejected(host: str) -> None:
    with pytest.raises(ComponentError) as caught:
        check_redis_host(host)

    assert caught.value.message == (
        f"invalid Redis address {host!r}: use HOST:PORT, such as 127.0.0.1:6379"
    )


@pytest.mark.parametrize("name", ["PubSub", "-pubsub", "pub_sub", "a" * 64, ""])
def test_component_name_rejected(name: str) -> None:
    with pytest.raises(ComponentError) as caught:
        render_components(
            ComponentOptions(secrets_file=SECRETS_PATH, names=ComponentNames(pubsub=name))
        )

    assert caught.value.message.startswith(f"invalid pub/sub component name {name!r}: use")


def test_consumer_id_with_space_rejected() -> None:
    with pytest.raises(ComponentError) as caught:
        render_components(ComponentOptions(secrets_file=SECRETS_PATH, consumer_id="a b"))

    assert caught.value.message.startswith("invalid consumer ID 'a b': use a non-empty name")


def test_write_components_modes(tmp_path: Path) -> None:
    components = render_components(ComponentOptions(secrets_file=SECRETS_PATH))

    paths = write_components(components, tmp_path / "out")

    assert [path.name for path in paths] == [item.file_name for item in components]
    assert {stat.S_IMODE(path.stat().st_mode) for path in paths} == {0o644}
    assert [path.read_text() for path in paths] == [item.text for item in components]


def test_write_components_unwritable_target(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    components = render_components(ComponentOptions(secrets_file=SECRETS_PATH))

    with pytest.raises(TaskoraError) as caught:
        write_components(components, blocker)

    assert caught.value.message.startswith(f"cannot write the Dapr components to {blocker}: ")


def test_secrets_file_mode_replaces_loose_file(tmp_path: Path) -> None:
    path = tmp_path / "secrets.json"
    path.write_text("{}")
    path.chmod(0o644)

    write_secrets_file(path, {"database-url": "sqlite:////tmp/t.db"})

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text()) == {"database-url": "sqlite:////tmp/t.db"}


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (
            ComponentNames(state_store="pubsub"),
            "the state store component name 'pubsub' is also the pub/sub component's name",
        ),
        (
            ComponentNames(secret_store="reminder-cron"),
            "the secret store component name 'reminder-cron' is the name of a cron binding",
        ),
    ],
)
def test_clashing_names_rejected(names: ComponentNames, expected: str) -> None:
    with pytest.raises(ComponentError) as failure:
        render_components(ComponentOptions(secrets_file="/s.json", names=names))
    assert expected in str(failure.value)


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("0 0 61 * * *", "61 is outside 0-23 in the hours field"),
        ("61 * * * * *", "61 is outside 0-59 in the seconds field"),
        ("0 0 9 0 * *", "0 is outside 1-31 in the day of month field"),
        ("0 */0 * * * *", "the step '0' is not a positive number in the minutes field"),
        ("CRON_TZ=Nowhere/Land 0 0 9 * * *", "unknown time zone 'Nowhere/Land'"),
    ],
)
def test_out_of_range_schedule_rejected(schedule: str, expected: str) -> None:
    with pytest.raises(ComponentError) as failure:
        check_schedule(schedule)
    assert expected in str(failure.value)


def test_valid_schedules_accepted() -> None:
    for schedule in (
        "CRON_TZ=Europe/Berlin 0 0 9 * * mon-fri",
        "0 */5 * * * *",
        "0 0 1-6/2 * jan *",
    ):
        assert check_schedule(schedule) == schedule


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("::1:6379", "put an IPv6 address in brackets, such as [::1]:6379"),
        ("[127.0.0.1]:6379", "brackets are for IPv6 addresses only, so use 127.0.0.1:6379"),
    ],
)
def test_redis_host_brackets_checked(host: str, expected: str) -> None:
    with pytest.raises(ComponentError) as failure:
        check_redis_host(host)
    assert expected in str(failure.value)
    assert check_redis_host("[::1]:6379") == "[::1]:6379"


def test_pubsub_stream_is_trimmed() -> None:
    default = render_components(ComponentOptions(secrets_file="/s.json"))[0]
    custom = render_components(ComponentOptions(secrets_file="/s.json", max_len_approx=500))[0]

    def metadata(text: str) -> dict[str, str]:
        items = yaml.safe_load(text)["spec"]["metadata"]
        return {item["name"]: item["value"] for item in items}

    assert metadata(default.text)["maxLenApprox"] == "10000"
    assert metadata(custom.text)["maxLenApprox"] == "500"


def test_app_id_sets_every_scope() -> None:
    components = rendered(app_id="billing-tasks")

    assert {name: item["scopes"] for name, item in components.items()} == {
        "pubsub": ["billing-tasks"],
        "statestore": ["billing-tasks"],
        "secretstore": ["billing-tasks"],
        "recurrence-cron": ["billing-tasks"],
        "reminder-cron": ["billing-tasks"],
    }


@pytest.mark.parametrize("app_id", ["taskora", "a", "tasks-2", "9lives", "a" * 58])
def test_app_id_accepted(app_id: str) -> None:
    assert check_app_id(app_id) == app_id


@pytest.mark.parametrize(
    "app_id", ["Taskora", "task_ora", "task.ora", "-taskora", "taskora-", "", "a" * 59]
)
def test_app_id_rejected(app_id: str) -> None:
    """Dapr on Kubernetes needs `<app ID>-dapr` to be a DNS label, so 58 characters at most."""
    with pytest.raises(ComponentError) as caught:
        render_components(ComponentOptions(secrets_file=SECRETS_PATH, app_id=app_id))

    assert caught.value.message == (
        f"invalid app ID {app_id!r}: use at most 58 lowercase letters, digits and '-', "
        "starting and ending with a letter or digit, such as 'taskora'"
    )
    assert caught.value.exit_code == ExitCode.USAGE


@pytest.mark.parametrize(
    ("directory", "expected"),
    [
        ("/srv/app/components", "/srv/app/components.secrets.json"),
        ("/srv/app/dapr.d", "/srv/app/dapr.d.secrets.json"),
        ("/components", "/components.secrets.json"),
    ],
)
def test_default_secrets_path_beside_directory(directory: str, expected: str) -> None:
    assert default_secrets_path(Path(directory)) == Path(expected)


def test_default_secrets_path_of_root_rejected() -> None:
    with pytest.raises(ComponentError) as caught:
        default_secrets_path(Path("/"))

    assert caught.value.message == (
        "cannot put the secrets file beside the directory '/', because it has no parent: "
        "choose another --output, or pass --secrets-file with a file that you provide"
    )
