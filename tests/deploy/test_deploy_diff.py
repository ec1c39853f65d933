"""``taskora deploy --diff``: the helm-diff plugin, or ``helm get manifest`` against a render.

The cluster side is the fake helm of ``fake_cluster.py`` (no cluster runs on the test
machine); ``helm template`` is handed to the real helm.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from deploy_helpers import CliResult
from fake_cluster import (
    UNREACHABLE,
    UNREACHABLE_FIX,
    VALUES_FILE,
    FakeCluster,
    write_filled_placeholders,
)

from taskora.deploy import assets
from taskora.deploy.diff import ChangeKind, compare_manifests

Run = Callable[[Sequence[str]], CliResult]

PLUGINS_WITHOUT_DIFF = "NAME\tVERSION\tDESCRIPTION\nsecrets\t4.6.0\tSecrets\n"
PLUGINS_WITH_DIFF = PLUGINS_WITHOUT_DIFF + "diff\t3.9.11\tPreview helm upgrade changes as a diff\n"

SERVICE = """\
---
# Source: taskora/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: taskora
spec:
  ports:
    - port: 80
      targetPort: http
"""
CONFIGMAP = """\
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: taskora
data:
  TASKORA_LOG_LEVEL: INFO
"""
HOOK_JOB = """\
---
apiVersion: batch/v1
kind: Job
metadata:
  name: taskora-migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
spec: {}
"""


def test_compare_no_changes_ignores_formatting() -> None:
    reordered = """\
kind: Service
apiVersion: v1
spec:
  ports: [{targetPort: http, port: 80}]
metadata: {name: taskora}
"""

    assert compare_manifests(SERVICE, reordered) == []


def test_compare_added_changed_removed() -> None:
    changed = CONFIGMAP.replace("INFO", "DEBUG")
    deployment = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: taskora\n"

    changes = compare_manifests(SERVICE + CONFIGMAP, changed + deployment)

    assert [(change.resource, change.change) for change in changes] == [
        ("ConfigMap taskora", ChangeKind.CHANGED),
        ("Deployment taskora", ChangeKind.ADDED),
        ("Service taskora", ChangeKind.REMOVED),
    ]
    assert changes[0].diff == (
        "--- deployed ConfigMap taskora\n"
        "+++ new ConfigMap taskora\n"
        "@@ -1,6 +1,6 @@\n"
        " apiVersion: v1\n"
        " data:\n"
        "-  TASKORA_LOG_LEVEL: INFO\n"
        "+  TASKORA_LOG_LEVEL: DEBUG\n"
        " kind: ConfigMap\n"
        " metadata:\n"
        "   name: taskora\n"
    )


def test_compare_leaves_out_hooks() -> None:
    assert compare_manifests(SERVICE, SERVICE + HOOK_JOB) == []


def test_compare_redacts_secret_values() -> None:
    secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: dev\ndata:\n  password: {value}\n"

    [change] = compare_manifests(secret.format(value="b2xk"), secret.format(value="bmV3"))

    assert "b2xk" not in change.diff
    assert "bmV3" not in change.diff
    assert "-  password: (redacted, sha256 " in change.diff


def test_compare_invalid_yaml() -> None:
    from taskora.deploy.errors import DeployError

    with pytest.raises(DeployError) as error:
        compare_manifests("kind: [", SERVICE)

    assert error.value.message.startswith(
        "cannot read the manifests of the deployed release as YAML"
    )


@pytest.fixture
def doks_values(tmp_path: Path, fake_cluster: FakeCluster) -> Path:
    return write_filled_placeholders(tmp_path, "doks")


def rendered_manifest(fake_cluster: FakeCluster, run_taskora: Run, values: Path) -> str:
    """Return the manifests that helm template renders for ``values``, as a release holds them."""
    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(values), "--dry-run", "--json"])
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)["manifests"]


def test_diff_fallback_commands(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    deployed = rendered_manifest(fake_cluster, run_taskora, doks_values)
    fake_cluster.on("helm", "plugin", "list", stdout=PLUGINS_WITHOUT_DIFF)
    fake_cluster.on("helm", "get", "manifest", stdout=deployed)
    before = len(fake_cluster.calls())

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "-f",
            str(doks_values),
            "--set",
            "replicaCount=5",
            "--diff",
            "--context",
            "do-fra1-prod",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert fake_cluster.calls()[before:] == [
        ["helm", "plugin", "list"],
        [
            "helm",
            "get",
            "manifest",
            "taskora",
            "--namespace",
            "taskora",
            "--kube-context",
            "do-fra1-prod",
        ],
        [
            "helm",
            "template",
            "taskora",
            str(assets.CHART_DIR),
            "--namespace",
            "taskora",
            "-f",
            VALUES_FILE,
        ],
    ]
    lines = result.stdout.splitlines()
    assert lines[0].startswith("# Deployment taskora/taskora: changed")
    assert "-  replicas: 2" in lines
    assert "+  replicas: 5" in lines
    assert lines[-1] == (
        "# 0 added, 1 changed, 0 removed (compared with helm get manifest of release taskora)"
    )


def test_diff_fallback_no_changes(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on("helm", "plugin", "list", stdout=PLUGINS_WITHOUT_DIFF)
    fake_cluster.on(
        "helm", "get", "manifest", stdout=rendered_manifest(fake_cluster, run_taskora, doks_values)
    )

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(doks_values), "--diff"])

    assert result.exit_code == 0, result.stderr
    assert result.stdout == "No changes: release taskora matches the new render.\n"


def test_diff_first_install_all_added(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on("helm", "plugin", "list", stdout=PLUGINS_WITHOUT_DIFF)
    fake_cluster.on("helm", "get", "manifest", stderr="Error: release: not found\n", exit_code=1)

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(doks_values), "--diff", "--json"])

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["method"] == "helm get manifest"
    assert {change["change"] for change in document["changes"]} == {"added"}
    assert "Deployment taskora/taskora" in [change["resource"] for change in document["changes"]]


def test_diff_uses_plugin(run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path) -> None:
    plugin_output = (
        "default, taskora, Deployment (apps) has changed:\n-  replicas: 2\n+  replicas: 5\n"
    )
    fake_cluster.on("helm", "plugin", "list", stdout=PLUGINS_WITH_DIFF)
    fake_cluster.on("helm", "diff", "upgrade", stdout=plugin_output)

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "-f",
            str(doks_values),
            "--diff",
            "-n",
            "prod",
            "--context",
            "ctx",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert result.stdout == plugin_output
    assert fake_cluster.calls() == [
        ["helm", "plugin", "list"],
        [
            "helm",
            "diff",
            "upgrade",
            "taskora",
            str(assets.CHART_DIR),
            "--namespace",
            "prod",
            "-f",
            VALUES_FILE,
            "--allow-unreleased",
            "--kube-context",
            "ctx",
        ],
    ]


def test_diff_unreachable_cluster(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on("helm", "plugin", "list", stdout=PLUGINS_WITHOUT_DIFF)
    fake_cluster.on(
        "helm",
        "get",
        "manifest",
        stderr="Error: Kubernetes cluster unreachable: " + UNREACHABLE,
        exit_code=1,
    )

    fake_cluster.on("kubectl", "config", "current-context", stdout="do-fra1-prod\n")

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(doks_values), "--diff"])

    assert result.exit_code == 3
    assert result.stderr == (
        "Error: cannot compare with release taskora, because the cluster of context "
        "do-fra1-prod (the current context) did not respond: helm get manifest failed with "
        f"exit code 1: Kubernetes cluster unreachable: {UNREACHABLE.strip()}. "
        f"{UNREACHABLE_FIX}\n"
    )
    assert result.stdout == ""
