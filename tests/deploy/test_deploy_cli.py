"""``taskora deploy`` through the real CLI entry point, with the real helm for --dry-run."""

from __future__ import annotations

import gc
import json
import shlex
import subprocess
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from deploy_helpers import (
    JSON_OUTPUT_NOTE,
    KEPT_COMMAND_HEADING,
    TEMPORARY_COMMAND_HEADING,
    CliResult,
    parse_dry_run,
    write_fake_helm,
    write_filled_values,
)
from fake_cluster import FakeCluster
from rich.text import Text

from taskora.cli import deploy as deploy_cli
from taskora.deploy import assets
from taskora.deploy.errors import DeployError
from taskora.deploy.plan import DeployRequest, build_plan, render
from taskora.errors import ExitCode

Run = Callable[[Sequence[str]], CliResult]

EXPLAIN_HEADING = "# Each value as JSON, then the layer that set it (later layers win)"
VERSION_NOTE = "# helm's version could not be read, so this is Helm 3's form."


@dataclass(frozen=True)
class CloudExpectation:
    """What the rendered manifests must contain for one cloud profile."""

    cloud: str
    ingress_class: str
    ingress_annotations: dict[str, str]
    image: str
    database_host: str
    database_port: int
    # The Cloud SQL Auth Proxy encrypts the connection, so GKE connects to it without TLS.
    ssl_mode: str = "require"


EXPECTATIONS = [
    CloudExpectation(
        cloud="doks",
        ingress_class="nginx",
        ingress_annotations={
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",
        },
        image="registry.digitalocean.com/replace-me-registry/taskora:0.1.0",
        database_host="replace-me-db-do-user-0000000-0.b.db.ondigitalocean.com",
        database_port=25060,
    ),
    CloudExpectation(
        cloud="gke",
        ingress_class="gce",
        ingress_annotations={"kubernetes.io/ingress.global-static-ip-name": "replace-me-static-ip"},
        image="replace-me-region-docker.pkg.dev/replace-me-project/replace-me-repository/taskora:0.1.0",
        database_host="127.0.0.1",
        database_port=5432,
        ssl_mode="disable",
    ),
    CloudExpectation(
        cloud="aks",
        ingress_class="webapprouting.kubernetes.azure.com",
        ingress_annotations={
            "nginx.ingress.kubernetes.io/proxy-read-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-send-timeout": "3600",
            "nginx.ingress.kubernetes.io/proxy-buffering": "off",
        },
        image="replace-me.azurecr.io/taskora:0.1.0",
        database_host="replace-me-server.postgres.database.azure.com",
        database_port=5432,
    ),
]


@pytest.mark.parametrize("expected", EXPECTATIONS, ids=lambda expected: expected.cloud)
def test_dry_run_renders_cloud(
    run_taskora: Run, real_helm: Path, expected: CloudExpectation
) -> None:
    result = run_taskora(["deploy", "--cloud", expected.cloud, "--dry-run"])

    assert result.exit_code == 0, result.stderr
    output = parse_dry_run(result.stdout)
    ingress = output.manifest("Ingress")
    if expected.ingress_class == "gce":
        # GKE reads the class from the annotation only.
        assert "ingressClassName" not in ingress["spec"]
        assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    else:
        assert ingress["spec"]["ingressClassName"] == expected.ingress_class
    annotations = ingress["metadata"]["annotations"]
    for name, value in expected.ingress_annotations.items():
        assert annotations.get(name) == value, name
    assert ingress["spec"]["rules"][0]["host"] == "taskora.example.com"

    container = output.manifest("Deployment")["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == expected.image

    url = urlsplit(output.manifest("ConfigMap")["data"]["TASKORA_DATABASE_URL"])
    assert url.hostname == expected.database_host
    assert url.port == expected.database_port
    assert url.password is None
    assert url.query == f"sslmode={expected.ssl_mode}"


@pytest.mark.parametrize("cloud", ["doks", "gke", "aks"])
def test_dry_run_dapr_annotations(run_taskora: Run, real_helm: Path, cloud: str) -> None:
    result = run_taskora(["deploy", "--cloud", cloud, "--dry-run", "--set", "dapr.config=tracing"])

    assert result.exit_code == 0, result.stderr
    annotations = parse_dry_run(result.stdout).manifest("Deployment")["spec"]["template"][
        "metadata"
    ]["annotations"]
    assert annotations["dapr.io/enabled"] == "true"
    assert annotations["dapr.io/app-id"] == "taskora"
    assert annotations["dapr.io/app-port"] == "8000"
    assert annotations["dapr.io/log-level"] == "info"
    assert annotations["dapr.io/config"] == "tracing"


def test_dry_run_password_only_from_secret(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        ["deploy", "--cloud", "aks", "--dry-run", "--set", "database.existingSecret=db-credentials"]
    )

    assert result.exit_code == 0, result.stderr
    output = parse_dry_run(result.stdout)
    assert all(document["kind"] != "Secret" for document in output.manifests)
    container = output.manifest("Deployment")["spec"]["template"]["spec"]["containers"][0]
    password_env = [env for env in container["env"] if env["name"] == "TASKORA_DATABASE_PASSWORD"]
    assert password_env == [
        {
            "name": "TASKORA_DATABASE_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db-credentials", "key": "password"}},
        }
    ]
    assert container["envFrom"] == [{"configMapRef": {"name": "taskora"}}]
    assert "TASKORA_DATABASE_PASSWORD" not in output.manifest("ConfigMap")["data"]


def test_dry_run_configmap_settings(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "--dry-run",
            "--set",
            "config.logLevel=DEBUG",
            "--set",
            "config.ssePingSeconds=20",
        ]
    )

    assert result.exit_code == 0, result.stderr
    data = parse_dry_run(result.stdout).manifest("ConfigMap")["data"]
    assert data["TASKORA_LOG_LEVEL"] == "DEBUG"
    assert data["TASKORA_SSE_PING_SECONDS"] == "20"
    assert data["TASKORA_DATABASE_URL"] == (
        "postgresql://taskora@replace-me-db-do-user-0000000-0.b.db.ondigitalocean.com:25060/taskora?sslmode=require"
    )


def test_dry_run_prints_helm_command(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "gke",
            "--dry-run",
            "--release",
            "tasks",
            "--namespace",
            "prod",
            "--context",
            "gke_demo",
        ]
    )

    assert result.exit_code == 0, result.stderr
    command = shlex.split(parse_dry_run(result.stdout).command)
    values_file = command[9]
    assert values_file.endswith("/values.yaml")
    assert command == [
        str(real_helm),
        "upgrade",
        "--install",
        "tasks",
        str(assets.CHART_DIR),
        "--namespace",
        "prod",
        "--create-namespace",
        "-f",
        values_file,
        "--atomic",
        "--wait",
        "--timeout",
        "10m",
        "--output",
        "json",
        "--kube-context",
        "gke_demo",
    ]
    assert VERSION_NOTE not in result.stdout


def test_dry_run_helm4_command(
    run_taskora: Run, helm4_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Helm 4, which deprecates --atomic, the printed command has --rollback-on-failure."""
    monkeypatch.setenv("TASKORA_HELM", str(helm4_path))

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    command = shlex.split(parse_dry_run(result.stdout).command)
    assert command[10:12] == ["--rollback-on-failure", "--wait"]
    assert "--atomic" not in command
    assert VERSION_NOTE not in result.stdout


def test_dry_run_unreadable_helm_version(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """When helm version fails, the dry run still renders and notes the form it prints."""
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    assert VERSION_NOTE in result.stdout
    assert shlex.split(parse_dry_run(result.stdout).command)[10] == "--atomic"
    assert ["helm", "version", "--short"] in fake_cluster.calls()


def test_dry_run_prints_merged_values(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    extra = tmp_path / "extra.yaml"
    extra.write_text("replicaCount: 2\n", encoding="utf-8")

    result = run_taskora(
        ["deploy", "--cloud", "doks", "--dry-run", "-f", str(extra), "--image-tag", "0.2.0"]
    )

    assert result.exit_code == 0, result.stderr
    output = parse_dry_run(result.stdout)
    assert output.values["replicaCount"] == 2
    assert output.values["image"] == {
        "repository": "registry.digitalocean.com/replace-me-registry/taskora",
        "tag": "0.2.0",
        "digest": "",
        "pullPolicy": "IfNotPresent",
    }
    assert output.manifest("Deployment")["spec"]["replicas"] == 2
    assert "appVersion" not in result.stdout


def test_dry_run_empty_tag_note(run_taskora: Run, real_helm: Path) -> None:
    """An empty image.tag deploys the chart's appVersion, which the merged values do not show."""
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    app_version = yaml.safe_load((assets.CHART_DIR / "Chart.yaml").read_text())["appVersion"]
    assert result.stdout.startswith(
        "# Merged values\n"
        f"# image.tag is empty, so the pods run the chart's appVersion, {app_version}.\n"
        "# Pass --image-tag TAG to deploy another build.\n"
        "replicaCount: 2\n"
    )
    image = parse_dry_run(result.stdout).manifest("Deployment")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]
    assert image == f"registry.digitalocean.com/replace-me-registry/taskora:{app_version}"


def test_dry_run_json_image(run_taskora: Run, real_helm: Path) -> None:
    """--json names the image, with the chart's appVersion standing in for an empty tag."""
    app_version = yaml.safe_load((assets.CHART_DIR / "Chart.yaml").read_text())["appVersion"]

    untagged = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--json"])
    tagged = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--json", "--image-tag", "2.0"])

    repository = "registry.digitalocean.com/replace-me-registry/taskora"
    assert json.loads(untagged.stdout)["image"] == f"{repository}:{app_version}"
    assert json.loads(tagged.stdout)["image"] == f"{repository}:2.0"


def test_explain_prints_sources(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKORA_HELM", str(write_fake_helm(tmp_path)))

    result = run_taskora(["deploy", "--cloud", "doks", "--explain", "--set", "replicaCount=3"])

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == EXPLAIN_HEADING
    assert lines[1] == "replicaCount: 3  # --set"
    assert (
        f'ingress.className: "nginx"  # profile doks ({assets.PROFILES_DIR / "doks.yaml"})' in lines
    )
    assert 'image.pullPolicy: "IfNotPresent"  # chart defaults' in lines
    assert not (tmp_path / "argv.json").exists()


def test_explain_value_types_differ(run_taskora: Run) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "--explain",
            "--set",
            "ingress.annotations.a=7200",
            "--set-string",
            "ingress.annotations.b=7200",
            "--set",
            "imagePullSecrets={regcred}",
        ]
    )

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "ingress.annotations.a: 7200  # --set" in lines
    assert 'ingress.annotations.b: "7200"  # --set-string' in lines
    assert 'imagePullSecrets: ["regcred"]  # --set' in lines


def test_explain_masks_secret_values(run_taskora: Run) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "--explain",
            "--set",
            "database.password=hunter2,redis.token=abc123,dapr.appTokenSecret=taskora-token",
        ]
    )

    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "database.password: <hidden: the key looks like a secret>  # --set" in lines
    assert "redis.token: <hidden: the key looks like a secret>  # --set" in lines
    # Keys that only name a Secret, or a key inside one, keep their value.
    assert 'dapr.appTokenSecret: "taskora-token"  # --set' in lines
    assert (
        f'database.existingSecret: "taskora-database"  '
        f"# profile doks ({assets.PROFILES_DIR / 'doks.yaml'})"
    ) in lines
    assert 'database.passwordKey: "password"  # chart defaults' in lines
    assert "serviceAccount.automountToken: false  # chart defaults" in lines
    assert "hunter2" not in result.stdout
    assert "abc123" not in result.stdout


def test_explain_json_values(run_taskora: Run) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "--explain",
            "--json",
            "--set",
            "replicaCount=3,database.password=hunter2",
        ]
    )

    assert result.exit_code == 0, result.stderr
    rows = {row["key"]: row for row in json.loads(result.stdout)}
    assert rows["replicaCount"] == {
        "key": "replicaCount",
        "value": 3,
        "source": "--set",
        "masked": False,
    }
    assert rows["database.password"] == {
        "key": "database.password",
        "value": "<hidden: the key looks like a secret>",
        "source": "--set",
        "masked": True,
    }
    assert "hunter2" not in result.stdout


@pytest.mark.parametrize("extra", [[], ["--dry-run"]], ids=["alone", "with-dry-run"])
def test_explain_runs_no_helm(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, extra: list[str]
) -> None:
    """The fake helm records every run, so a missing argv.json proves helm never ran."""
    monkeypatch.setenv("TASKORA_HELM", str(write_fake_helm(tmp_path)))
    filled = write_filled_values(tmp_path, "doks")

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(filled), "--explain", *extra])

    assert result.exit_code == 0, result.stderr
    assert not (tmp_path / "argv.json").exists()
    assert result.stdout.startswith(EXPLAIN_HEADING + "\n")
    assert "# Merged values" not in result.stdout
    assert "# Manifests rendered by helm template" not in result.stdout
    assert "Release" not in result.stdout
    assert result.stderr == ""


def test_explain_without_helm_installed(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TASKORA_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    result = run_taskora(["deploy", "--cloud", "aks", "--explain"])

    assert result.exit_code == 0, result.stderr
    assert (
        f'image.repository: "replace-me.azurecr.io/taskora"  '
        f"# profile aks ({assets.PROFILES_DIR / 'aks.yaml'})"
    ) in result.stdout.splitlines()


def test_schema_rejects_unknown_key(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--set", "unknownKey=1"])

    assert result.exit_code == 2
    assert "helm template failed with exit code 1" in result.stderr
    assert "additional properties 'unknownKey' not allowed" in result.stderr
    assert result.stdout == ""


def test_schema_rejects_password_value(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        ["deploy", "--cloud", "doks", "--dry-run", "--set", "database.password=hunter2"]
    )

    assert result.exit_code == 2
    assert "at '/database': additional properties 'password' not allowed" in result.stderr


def test_schema_rejects_wrong_type(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "gke", "--dry-run", "--set", "replicaCount=many"])

    assert result.exit_code == 2
    assert "at '/replicaCount': got string, want integer" in result.stderr


def test_unknown_cloud_message(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "gcp", "--dry-run"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown cloud 'gcp': use one of aks, doks, gke"
    for cloud in ("doks", "gke", "aks"):
        assert cloud in result.stderr


def test_missing_cloud_message(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--dry-run"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: missing option --cloud: use one of aks, doks, gke"


def test_malformed_values_file_message(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: 1\n  b: 2\n", encoding="utf-8")

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "-f", str(broken)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: invalid YAML in values file {broken} at line 2, column 4: mapping values are not allowed here"
    )


def test_values_file_not_mapping_message(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- replicaCount: 2\n", encoding="utf-8")

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(listing)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: values file {listing} must contain a mapping of keys to values at the top level, not a list"
    )


def test_missing_values_file_message(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    missing = tmp_path / "absent.yaml"

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(missing)])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: values file not found: {missing}"


def test_set_without_equals_message(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "doks", "--set", "replicaCount"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: invalid --set 'replicaCount': expected KEY=VALUE, for example --set replicaCount=2"
    )


def test_missing_helm_message(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("TASKORA_HELM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: helm not found on PATH: install Helm 3 or 4 (https://helm.sh/docs/intro/install/) "
        "or set TASKORA_HELM to the path of the helm executable"
    )


def test_helm_env_not_executable_message(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    not_helm = tmp_path / "helm.txt"
    not_helm.write_text("not a program\n", encoding="utf-8")
    monkeypatch.setenv("TASKORA_HELM", str(not_helm))

    result = run_taskora(["deploy", "--cloud", "aks", "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.strip().startswith(
        f"Error: TASKORA_HELM is set to {not_helm}, which is not an executable file: install Helm 3 or 4"
    )


def test_help_lists_options_and_examples(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--help"])

    assert result.exit_code == 0
    for option in (
        "--cloud",
        "--release",
        "--namespace",
        "--image-tag",
        "--values",
        "--set",
        "--dry-run",
        "--explain",
        "--values-out",
        "--context",
        "--timeout",
        "--diff",
        "--check",
        "--json",
    ):
        assert option in result.stdout
    assert "taskora deploy --cloud doks --dry-run" in result.stdout


def test_help_usage_lists_commands(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--help"])

    assert result.exit_code == 0
    usage = [line.strip() for line in result.stdout.splitlines() if "Usage:" in line]
    # Click takes the program name from how Python started, which differs under pytest.
    assert len(usage) == 1
    assert usage[0].endswith(" deploy [OPTIONS] COMMAND [ARGS]..."), usage[0]
    assert "status" in result.stdout
    assert "rollback" in result.stdout


def test_help_keeps_bracketed_text(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--help"])

    assert result.exit_code == 0
    assert "list index as name[0]" in result.stdout
    assert "[default: taskora]" in result.stdout
    assert "[default: 10m]" in result.stdout
    assert "[default: (the chart's appVersion, which is the taskora version)]" in result.stdout
    assert "[default: (the current context)]" in result.stdout


def test_help_strings_have_no_markup() -> None:
    """Rich markup mode drops unescaped [...] text, so each help must render to itself."""
    command = typer.main.get_command(deploy_cli.app)
    helps = [param.help for param in command.params if getattr(param, "help", None)]
    helps.append(command.help or "")
    helps.append(deploy_cli.EPILOG)

    assert len(helps) > 10
    for help_text in helps:
        assert Text.from_markup(help_text).plain == help_text.replace("\\[", "["), help_text


GKE_PLACEHOLDER_KEYS = (
    "image.repository, serviceAccount.annotations.iam\\.gke\\.io/gcp-service-account, "
    "redis.host, cloudSqlProxy.instanceConnectionName, "
    "ingress.annotations.kubernetes\\.io/ingress\\.global-static-ip-name, ingress.host"
)


def test_deploy_rejects_placeholders(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKORA_HELM", str(write_fake_helm(tmp_path)))

    result = run_taskora(["deploy", "--cloud", "gke"])

    assert result.exit_code == 2
    assert not (tmp_path / "argv.json").exists()
    assert result.stdout == ""
    assert result.stderr.strip() == (
        "Error: nothing deployed: 6 keys still contain a profile placeholder ('replace-me' or "
        "taskora.example.com): "
        f"{GKE_PLACEHOLDER_KEYS}. Set each with -f FILE or --set KEY=VALUE"
    )


def test_deploy_lists_remaining_placeholder(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKORA_HELM", str(write_fake_helm(tmp_path)))
    partial = tmp_path / "partial.yaml"
    partial.write_text(
        "image:\n  repository: registry.digitalocean.com/acme/taskora\n", encoding="utf-8"
    )

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(partial), "--set", "config.logLevel=Replace-Me"]
    )

    assert result.exit_code == 2
    assert not (tmp_path / "argv.json").exists()
    assert result.stderr.strip() == (
        "Error: nothing deployed: 4 keys still contain a profile placeholder ('replace-me' or "
        "taskora.example.com): config.logLevel, database.host, redis.host, ingress.host. Set "
        "each with -f FILE or --set KEY=VALUE"
    )


def test_dry_run_warns_placeholders(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "gke", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    ingress = parse_dry_run(result.stdout).manifest("Ingress")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"
    assert result.stderr.strip() == (
        "Warning: 6 keys still contain a profile placeholder ('replace-me' or "
        "taskora.example.com): "
        f"{GKE_PLACEHOLDER_KEYS}. A deploy without --dry-run fails until each is set with "
        "-f FILE or --set KEY=VALUE."
    )


def test_dry_run_filled_values_no_warning(
    run_taskora: Run, real_helm: Path, tmp_path: Path
) -> None:
    filled = write_filled_values(tmp_path, "gke")

    result = run_taskora(["deploy", "--cloud", "gke", "-f", str(filled), "--dry-run"])

    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""


@pytest.mark.parametrize("spelling", ["GKE", "Gke"])
def test_cloud_name_any_case(run_taskora: Run, real_helm: Path, spelling: str) -> None:
    result = run_taskora(["deploy", "--cloud", spelling, "--dry-run"])

    assert result.exit_code == 0, result.stderr
    output = parse_dry_run(result.stdout)
    ingress = output.manifest("Ingress")
    assert ingress["metadata"]["annotations"]["kubernetes.io/ingress.class"] == "gce"


def test_cloud_name_any_case_explain(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--cloud", "DOKS", "--explain"])

    assert result.exit_code == 0, result.stderr
    assert (
        f'ingress.className: "nginx"  # profile doks ({assets.PROFILES_DIR / "doks.yaml"})'
    ) in result.stdout.splitlines()


def test_unknown_cloud_keeps_spelling(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--cloud", "GCP", "--explain"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown cloud 'GCP': use one of aks, doks, gke"


def test_dry_run_temporary_values_note(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 0, result.stderr
    assert TEMPORARY_COMMAND_HEADING + JSON_OUTPUT_NOTE in result.stdout
    values_file = shlex.split(parse_dry_run(result.stdout).command)[9]
    assert not Path(values_file).exists()


def test_dry_run_values_out_command(
    run_taskora: Run, real_helm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A relative path with ".." is printed as the absolute path it names.
    (tmp_path / "work").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    stale = tmp_path / "merged.yaml"
    stale.write_text("old: content\n", encoding="utf-8")

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "--dry-run",
            "--set",
            "replicaCount=2",
            "--values-out",
            "../merged.yaml",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert KEPT_COMMAND_HEADING + JSON_OUTPUT_NOTE in result.stdout
    assert TEMPORARY_COMMAND_HEADING not in result.stdout
    output = parse_dry_run(result.stdout)
    command = shlex.split(output.command)
    assert command[8:10] == ["-f", str(stale)]
    kept_values = yaml.safe_load(stale.read_text(encoding="utf-8"))
    assert kept_values == output.values
    assert kept_values["replicaCount"] == 2

    # The kept file renders the same manifests, so the printed command reads valid values.
    rendered = subprocess.run(
        [
            str(real_helm),
            "template",
            command[3],
            command[4],
            "--namespace",
            "taskora",
            "-f",
            command[9],
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert [document for document in yaml.safe_load_all(rendered.stdout) if document] == (
        output.manifests
    )


def test_deploy_placeholders_write_nothing(
    run_taskora: Run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TASKORA_HELM", str(write_fake_helm(tmp_path)))
    values_out = tmp_path / "kept.yaml"

    result = run_taskora(["deploy", "--cloud", "doks", "--values-out", str(values_out)])

    assert result.exit_code == 2
    assert not values_out.exists()


def test_explain_values_out_written(run_taskora: Run, tmp_path: Path) -> None:
    values_out = tmp_path / "kept.yaml"

    result = run_taskora(["deploy", "--cloud", "aks", "--explain", "--values-out", str(values_out)])

    assert result.exit_code == 0, result.stderr
    values = yaml.safe_load(values_out.read_text(encoding="utf-8"))
    assert values["ingress"]["className"] == "webapprouting.kubernetes.azure.com"


def test_values_out_same_as_input_rejected(
    run_taskora: Run, real_helm: Path, tmp_path: Path
) -> None:
    own = tmp_path / "own.yaml"
    own.write_text("replicaCount: 2\n", encoding="utf-8")

    result = run_taskora(
        ["deploy", "--cloud", "doks", "--dry-run", "-f", str(own), "--values-out", str(own)]
    )

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: invalid --values-out {own}: it is also passed with -f, and writing the merged "
        "values would overwrite it. Choose another file"
    )
    assert own.read_text(encoding="utf-8") == "replicaCount: 2\n"


def test_values_out_missing_directory(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    target = tmp_path / "absent" / "merged.yaml"

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--values-out", str(target)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: invalid --values-out {target}: directory {target.parent} does not exist. "
        "Create it, or pass a file in an existing directory"
    )
    assert result.stdout == ""


def test_values_out_directory_rejected(run_taskora: Run, real_helm: Path, tmp_path: Path) -> None:
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--values-out", str(tmp_path)])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: invalid --values-out {tmp_path}: it is a directory. Pass a file path"
    )


def test_deploy_imports_only_its_command() -> None:
    """``taskora deploy`` loads neither the HTTP client nor the settings of ``taskora tasks``."""
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print(sorted(name for name in sys.modules if name in "
        "('taskora.cli.client', 'taskora.cli.tasks', 'taskora.config', 'httpx', 'rich.console'))))\n"
        "sys.argv = ['taskora', 'deploy', '--cloud', 'doks', '--explain']\n"
        "from taskora.cli.app import main\n"
        "main()\n"
    )

    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )

    assert completed.returncode == 0, completed.stderr
    assert completed.stdout.splitlines()[-1] == "[]"


def test_render_failure_closes_helm_version(real_helm: Path) -> None:
    """A render that fails stops the helm version run beside it and closes its pipe."""
    plan = build_plan(DeployRequest(cloud="doks", set_arguments=("replicaCount=x",)))

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        exit_code = None
        try:
            render(plan, read_helm_version=True)
        except DeployError as error:
            # Only the code is kept: the traceback would keep the process object alive.
            exit_code = error.exit_code
        gc.collect()

    assert exit_code == ExitCode.USAGE
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
