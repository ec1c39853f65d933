"""``taskora deploy``, ``status`` and ``rollback`` against fake helm, kubectl and docker.

No cluster runs on the test machine, so the cluster side is the fake executables of
``fake_cluster.py`` on PATH: the tests assert the exact commands and what happens when one
fails. ``helm template`` is handed to the real helm.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import yaml
from deploy_helpers import CliResult
from fake_cluster import (
    UNREACHABLE,
    UNREACHABLE_FIX,
    VALUES_FILE,
    FakeCluster,
    preflight_calls,
    profile_secrets,
    write_filled_placeholders,
)

from taskora.deploy import assets

Run = Callable[[Sequence[str]], CliResult]

CHART = str(assets.CHART_DIR)
RELEASE_JSON = json.dumps(
    {
        "name": "taskora",
        "namespace": "prod",
        "version": 4,
        "info": {"status": "deployed", "notes": "Reach Taskora at https://tasks.example.org."},
    }
)
STATUS_JSON = json.dumps(
    {
        "name": "taskora",
        "namespace": "prod",
        "version": 4,
        "info": {
            "status": "deployed",
            "last_deployed": "2026-12-04T10:00:00Z",
            "description": "Upgrade complete",
        },
        "chart": {"metadata": {"name": "taskora", "version": "0.1.0", "appVersion": "0.1.0"}},
        # The release's manifest, cut to what status reads: the proxy is an init container.
        "manifest": (
            "---\napiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: taskora\n"
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: taskora\n"
            "spec:\n  template:\n    spec:\n      initContainers:\n"
            "        - name: cloud-sql-proxy\n"
            "          image: gcr.io/cloud-sql-connectors/cloud-sql-proxy:2.14.1\n"
            "      containers:\n        - name: taskora\n"
            "          image: registry.digitalocean.com/acme/taskora:0.1.0-g1a2b3c4\n"
        ),
    }
)
HISTORY_JSON = json.dumps(
    [
        {
            "revision": 3,
            "updated": "2026-12-03T09:00:00Z",
            "status": "superseded",
            "chart": "taskora-0.1.0",
            "app_version": "0.1.0",
            "description": "Upgrade complete",
        },
        {
            "revision": 4,
            "updated": "2026-12-04T10:00:00Z",
            "status": "deployed",
            "chart": "taskora-0.1.0",
            "app_version": "0.1.0",
            "description": "Upgrade complete",
        },
    ]
)
NOT_FOUND = "Error: release: not found\n"


NEXT_STEPS = (
    "Next: read the migration Job's log with `kubectl --context do-fra1-prod --namespace prod "
    "logs job/taskora-migration --all-containers`, see why pods did not become ready with "
    "`kubectl --context do-fra1-prod --namespace prod describe pods "
    "-l app.kubernetes.io/instance=taskora`, and check the release with `taskora deploy status "
    "--release taskora --namespace prod --context do-fra1-prod`"
)

# Printed after helm's error when another helm operation holds the release.
LOCKED_STEPS = (
    "Next: wait for the other operation to end and check the release with `taskora deploy "
    "status --release taskora --namespace prod --context do-fra1-prod`. If a deploy was "
    "interrupted and the release stays pending-upgrade or pending-rollback, return it to its "
    "last revision with `taskora deploy rollback --release taskora --namespace prod --context "
    "do-fra1-prod`. If it stays pending-install, remove it with `helm uninstall taskora "
    "--namespace prod --kube-context do-fra1-prod`. Then deploy again."
)


def upgrade_call(
    namespace: str, context: str, timeout: str = "10m", rollback_flag: str = "--atomic"
) -> list[str]:
    return [
        "helm",
        "upgrade",
        "--install",
        "taskora",
        CHART,
        "--namespace",
        namespace,
        "--create-namespace",
        "-f",
        VALUES_FILE,
        rollback_flag,
        "--wait",
        "--timeout",
        timeout,
        "--output",
        "json",
        "--kube-context",
        context,
    ]


@pytest.fixture
def doks_values(tmp_path: Path, fake_cluster: FakeCluster) -> Path:
    """A filled DOKS values file, with the cluster scripted healthy for it."""
    filled = write_filled_placeholders(tmp_path, "doks")
    fake_cluster.healthy(
        context="do-fra1-prod", namespace="prod", secrets=profile_secrets("doks", filled)
    )
    return filled


def test_deploy_commands_in_order(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on(
        "helm", "upgrade", stdout='Release "taskora" has been upgraded.\n' + RELEASE_JSON
    )

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "-f",
            str(doks_values),
            "-n",
            "prod",
            "--image-tag",
            "0.3.1",
            "--timeout",
            "5m",
            "--skip-image-check",
        ]
    )

    assert result.exit_code == 0, result.stderr
    secrets = tuple(profile_secrets("doks", doks_values))
    assert fake_cluster.calls() == [
        *preflight_calls(namespace="prod", secrets=secrets, addons_of="doks", values_checked=True),
        upgrade_call("prod", "do-fra1-prod", "5m"),
    ]
    [sent] = fake_cluster.values_passed("helm", "upgrade")
    assert yaml.safe_load(sent)["image"]["tag"] == "0.3.1"
    assert result.stdout.splitlines() == [
        "Release taskora in namespace prod: revision 4, status deployed.",
        "  context: do-fra1-prod",
        "  cloud: doks",
        "  image: registry.digitalocean.com/acme-registry/taskora:0.3.1",
        "  replicas: 2",
        "  host: tasks.acme.example",
        "",
        "Reach Taskora at https://tasks.example.org.",
    ]
    assert (
        "Deploying release taskora to namespace prod (context do-fra1-prod) with profile doks, "
        "image registry.digitalocean.com/acme-registry/taskora:0.3.1."
    ) in result.stderr.splitlines()
    assert "Warning" not in result.stderr


def test_deploy_without_tag_warns(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    """A deploy does not keep the running release's tag, so an empty tag means appVersion."""
    fake_cluster.on("helm", "upgrade", stdout=RELEASE_JSON)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--skip-image-check"]
    )

    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    # The warning comes before preflight, so that it also explains a failed image check.
    assert lines[0] == (
        "Warning: no image tag is set, so this deploys the chart's appVersion, 0.1.0. A deploy "
        "does not keep the tag of the running release: pass --image-tag TAG to deploy another "
        "build."
    )
    assert lines[1] == "Preflight:"
    assert lines[-1] == (
        "Deploying release taskora to namespace prod (context do-fra1-prod) with profile doks, "
        "image registry.digitalocean.com/acme-registry/taskora:0.1.0."
    )


def test_deploy_given_context_passed_to_helm(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    filled = write_filled_placeholders(tmp_path, "gke")
    context = "gke_acme_europe-west1_prod"
    fake_cluster.healthy(context=context, secrets=profile_secrets("gke", filled))
    fake_cluster.on("helm", "upgrade", stdout=RELEASE_JSON)
    image = "acme-region-docker.pkg.dev/acme-project/acme-repository/taskora:0.1.0"

    result = run_taskora(["deploy", "--cloud", "gke", "-f", str(filled), "--context", context])

    assert result.exit_code == 0, result.stderr
    assert fake_cluster.calls() == [
        *preflight_calls(
            context=context,
            secrets=tuple(profile_secrets("gke", filled)),
            image=image,
            given_context=True,
            addons_of="gke",
            values_checked=True,
        ),
        upgrade_call("taskora", context),
    ]


def test_deploy_json_summary(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on("helm", "upgrade", stdout=RELEASE_JSON)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--json"]
    )

    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout) == {
        "release": "taskora",
        "namespace": "prod",
        "context": "do-fra1-prod",
        "revision": 4,
        "status": "deployed",
        "cloud": "doks",
        "image": "registry.digitalocean.com/acme-registry/taskora:0.1.0",
        "replicas": 2,
        "host": "tasks.acme.example",
        "notes": "Reach Taskora at https://tasks.example.org.",
    }


def test_deploy_preflight_failure_runs_no_upgrade(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on(
        "kubectl",
        "--context",
        "do-fra1-prod",
        "--request-timeout",
        "15s",
        "get",
        "namespace",
        "dapr-system",
    )

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod"])

    assert result.exit_code == 1
    assert not any(call[:2] == ["helm", "upgrade"] for call in fake_cluster.calls())
    assert "  FAILED dapr: namespace dapr-system does not exist" in result.stderr.splitlines()
    assert "Error: nothing deployed: 1 preflight check failed" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize(
    ("stderr", "exit_code", "message"),
    [
        (
            'Error: Kubernetes cluster unreachable: Get "https://10.0.0.1/version": dial tcp '
            "10.0.0.1:443: connect: connection refused\n",
            3,
            "Error: helm upgrade failed with exit code 1: Kubernetes cluster unreachable: Get "
            '"https://10.0.0.1/version": dial tcp 10.0.0.1:443: connect: connection refused',
        ),
        (
            "Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress\n",
            6,
            LOCKED_STEPS,
        ),
        (
            "Error: UPGRADE FAILED: release taskora failed, and has been rolled back due to "
            "atomic being set: context deadline exceeded\n",
            1,
            NEXT_STEPS,
        ),
        (
            "Error: UPGRADE FAILED: release taskora failed, and has been rolled back due to "
            "atomic being set: resource Deployment/prod/taskora not ready\n",
            1,
            NEXT_STEPS,
        ),
        (
            "The connection to the server 10.0.0.1:443 was refused - did you specify the right "
            "host or port?\n",
            3,
            "Error: helm upgrade failed with exit code 1: The connection to the server "
            "10.0.0.1:443 was refused - did you specify the right host or port?",
        ),
        (
            "Error: UPGRADE FAILED: values don't meet the specifications of the schema(s) in the "
            "following chart(s):\ntaskora:\n- at '/replicaCount': got string, want integer\n",
            2,
            "- at '/replicaCount': got string, want integer",
        ),
    ],
    ids=["unreachable", "conflict", "timeout", "not-ready", "refused", "schema"],
)
def test_deploy_upgrade_failure(
    run_taskora: Run,
    fake_cluster: FakeCluster,
    doks_values: Path,
    stderr: str,
    exit_code: int,
    message: str,
) -> None:
    fake_cluster.on("helm", "upgrade", stderr=stderr, exit_code=1)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--skip-image-check"]
    )

    assert result.exit_code == exit_code
    assert result.stderr.strip().splitlines()[-1] == message
    assert result.stdout == ""
    assert fake_cluster.calls()[-1] == upgrade_call("prod", "do-fra1-prod")


def test_deploy_locked_release_message(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on(
        "helm",
        "upgrade",
        stderr="Error: UPGRADE FAILED: another operation (install/upgrade/rollback) is in "
        "progress\n",
        exit_code=1,
    )

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--skip-image-check"]
    )

    assert result.exit_code == 6
    lines = result.stderr.strip().splitlines()
    assert lines[-2] == (
        "Error: helm upgrade failed with exit code 1: UPGRADE FAILED: another operation "
        "(install/upgrade/rollback) is in progress"
    )
    assert lines[-1] == LOCKED_STEPS


def test_deploy_timeout_keeps_helm_message(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    fake_cluster.on(
        "helm",
        "upgrade",
        stderr="Error: UPGRADE FAILED: release taskora failed, and has been rolled back due to "
        "atomic being set: context deadline exceeded\n",
        exit_code=1,
    )

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--skip-image-check"]
    )

    assert result.stderr.strip().splitlines()[-2] == (
        "Error: helm upgrade failed with exit code 1: UPGRADE FAILED: release taskora failed, "
        "and has been rolled back due to atomic being set: context deadline exceeded"
    )


def test_deploy_helm4_rollback_flag(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path
) -> None:
    """Helm 4 deprecates --atomic, so a deploy with Helm 4 passes --rollback-on-failure."""
    fake_cluster.on("helm", "version", "--short", stdout="v4.2.3+g43e8b7f\n")
    fake_cluster.on("helm", "upgrade", stdout=RELEASE_JSON)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(doks_values), "-n", "prod", "--skip-image-check"]
    )

    assert result.exit_code == 0, result.stderr
    assert fake_cluster.calls()[-1] == upgrade_call(
        "prod", "do-fra1-prod", rollback_flag="--rollback-on-failure"
    )


def test_deploy_values_out_kept(
    run_taskora: Run, fake_cluster: FakeCluster, doks_values: Path, tmp_path: Path
) -> None:
    fake_cluster.on("helm", "upgrade", stdout=RELEASE_JSON)
    kept = tmp_path / "kept.yaml"

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "doks",
            "-f",
            str(doks_values),
            "-n",
            "prod",
            "--values-out",
            str(kept),
        ]
    )

    assert result.exit_code == 0, result.stderr
    upgrade = fake_cluster.calls()[-1]
    assert upgrade[8:10] == ["-f", str(kept)]
    assert fake_cluster.values_passed("helm", "upgrade") == [kept.read_text(encoding="utf-8")]


def test_deploy_placeholders_stop_before_preflight(
    run_taskora: Run, fake_cluster: FakeCluster
) -> None:
    fake_cluster.healthy()

    result = run_taskora(["deploy", "--cloud", "doks"])

    assert result.exit_code == 2
    assert fake_cluster.calls() == []
    assert result.stderr.startswith("Error: nothing deployed: ")


def test_status_commands_and_output(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "status", stdout=STATUS_JSON)
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)

    result = run_taskora(["deploy", "status", "-n", "prod", "--context", "do-fra1-prod"])

    assert result.exit_code == 0, result.stderr
    assert fake_cluster.calls() == [
        [
            "helm",
            "status",
            "taskora",
            "--namespace",
            "prod",
            "--output",
            "json",
            "--kube-context",
            "do-fra1-prod",
        ],
        [
            "helm",
            "history",
            "taskora",
            "--namespace",
            "prod",
            "--max",
            "10",
            "--output",
            "json",
            "--kube-context",
            "do-fra1-prod",
        ],
    ]
    lines = result.stdout.splitlines()
    assert lines[0] == (
        "Release taskora in namespace prod: revision 4, status deployed, chart taskora-0.1.0, "
        "app version 0.1.0."
    )
    assert lines[1] == "Image: registry.digitalocean.com/acme/taskora:0.1.0-g1a2b3c4"
    assert lines[2] == "Last deployed 2026-12-04T10:00:00Z: Upgrade complete"
    assert any("superseded" in line for line in lines[3:])


def test_status_json(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "status", stdout=STATUS_JSON)
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)

    result = run_taskora(["deploy", "status", "--namespace", "prod", "--json"])

    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert document["revision"] == 4
    assert document["status"] == "deployed"
    assert document["image"] == "registry.digitalocean.com/acme/taskora:0.1.0-g1a2b3c4"
    assert [entry["revision"] for entry in document["history"]] == [3, 4]
    assert document["history"][0]["status"] == "superseded"


def test_status_release_not_found(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "status", stderr=NOT_FOUND, exit_code=1)

    result = run_taskora(["deploy", "status", "--release", "tasks", "-n", "prod"])

    assert result.exit_code == 5
    assert result.stderr.strip() == (
        "Error: release tasks not found in namespace prod: check --release and --namespace, "
        "or list releases with `helm list --all-namespaces`"
    )


@pytest.mark.parametrize(
    ("arguments", "subcommand", "context"),
    [
        (["status"], "status", "context do-fra1-prod (the current context)"),
        (["rollback", "--context", "gke_acme_prod"], "history", "context gke_acme_prod"),
    ],
    ids=["status", "rollback"],
)
def test_release_unreachable(
    run_taskora: Run,
    fake_cluster: FakeCluster,
    arguments: list[str],
    subcommand: str,
    context: str,
) -> None:
    """status and rollback name the context and the fixes when the cluster does not respond."""
    fake_cluster.on("kubectl", "config", "current-context", stdout="do-fra1-prod\n")
    fake_cluster.on(
        "helm",
        subcommand,
        stderr="Error: Kubernetes cluster unreachable: " + UNREACHABLE,
        exit_code=1,
    )

    result = run_taskora(["deploy", *arguments])

    assert result.exit_code == 3
    assert result.stderr == (
        f"Error: cannot read release taskora, because the cluster of {context} did not "
        f"respond: helm {subcommand} failed with exit code 1: Kubernetes cluster unreachable: "
        f"{UNREACHABLE.strip()}. {UNREACHABLE_FIX}\n"
    )


def test_status_unreachable_unknown_context(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """With neither --context nor a readable current context, no context is named."""
    fake_cluster.on(
        "helm",
        "status",
        stderr="Error: Kubernetes cluster unreachable: " + UNREACHABLE,
        exit_code=1,
    )

    result = run_taskora(["deploy", "status"])

    assert result.exit_code == 3
    assert result.stderr.startswith(
        "Error: cannot read release taskora, because the cluster of the current context did "
        "not respond: "
    )


def test_rollback_to_revision(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)
    fake_cluster.on("helm", "rollback", stdout="Rollback was a success! Happy Helming!\n")
    fake_cluster.on("helm", "status", stdout=STATUS_JSON)

    result = run_taskora(["deploy", "rollback", "3", "-n", "prod", "--timeout", "3m"])

    assert result.exit_code == 0, result.stderr
    history = [
        "helm",
        "history",
        "taskora",
        "--namespace",
        "prod",
        "--max",
        "10",
        "--output",
        "json",
    ]
    assert fake_cluster.calls() == [
        history,
        ["helm", "rollback", "taskora", "3", "--namespace", "prod", "--wait", "--timeout", "3m"],
        ["helm", "status", "taskora", "--namespace", "prod", "--output", "json"],
        history,
    ]
    assert result.stdout.splitlines()[0].startswith("Release taskora in namespace prod: revision 4")


def test_rollback_previous_revision(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)
    fake_cluster.on("helm", "rollback")
    fake_cluster.on("helm", "status", stdout=STATUS_JSON)

    result = run_taskora(["deploy", "rollback", "--context", "aks-prod"])

    assert result.exit_code == 0, result.stderr
    assert fake_cluster.calls()[1] == [
        "helm",
        "rollback",
        "taskora",
        "--namespace",
        "taskora",
        "--wait",
        "--timeout",
        "10m",
        "--kube-context",
        "aks-prod",
    ]


def test_rollback_unknown_revision(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)

    result = run_taskora(["deploy", "rollback", "9", "-n", "prod"])

    assert result.exit_code == 5
    assert result.stderr.strip() == (
        "Error: revision 9 of release taskora not found in namespace prod: the recent "
        "revisions are 3, 4"
    )
    assert [call[1] for call in fake_cluster.calls()] == ["history"]


def test_rollback_without_previous_revision(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "history", stdout=json.dumps(json.loads(HISTORY_JSON)[1:]))

    result = run_taskora(["deploy", "rollback"])

    assert result.exit_code == 6
    assert result.stderr.strip() == (
        "Error: release taskora has no previous revision to roll back to: pass a REVISION "
        "from `taskora deploy status`"
    )


def test_rollback_invalid_revision(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "rollback", "0"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: invalid revision 0: revisions start at 1. List them with `taskora deploy status`"
    )
    assert fake_cluster.calls() == []


def test_rollback_helm_failure(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "history", stdout=HISTORY_JSON)
    fake_cluster.on(
        "helm",
        "rollback",
        stderr="Error: timed out waiting for the condition\n",
        exit_code=1,
    )

    result = run_taskora(["deploy", "rollback", "3"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: helm rollback failed with exit code 1: timed out waiting for the condition"
    )
    assert [call[1] for call in fake_cluster.calls()] == ["history", "rollback"]


def test_status_invalid_namespace(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "status", "-n", "Prod_1"])

    assert result.exit_code == 2
    assert result.stderr.startswith("Error: invalid namespace 'Prod_1'")
    assert fake_cluster.calls() == []


def test_options_before_status_rejected(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """-n before status belongs to the deploy itself, so status would use the default namespace."""
    result = run_taskora(["deploy", "-n", "prod", "--cloud", "doks", "status"])

    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: --cloud and --namespace before the subcommand status would be ignored. Put "
        "options after it: taskora deploy status --namespace NAMESPACE. The status command "
        "does not take --cloud."
    )
    assert fake_cluster.calls() == []


def test_options_before_rollback_json(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "--release", "api", "--json", "rollback", "3"])

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "--release and --json before the subcommand rollback would be ignored. Put "
        "options after it: taskora deploy rollback --release RELEASE --json.",
        "exit_code": 2,
    }
    assert fake_cluster.calls() == []


def test_modes_cannot_combine(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run", "--diff"])

    assert result.exit_code == 2
    assert (
        result.stderr.strip() == "Error: --dry-run and --diff cannot be combined: pass one of them"
    )


def test_options_before_status_own_json(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "-n", "prod", "status", "--json"])

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "--namespace before the subcommand status would be ignored. Put options "
        "after it: taskora deploy status --namespace NAMESPACE.",
        "exit_code": 2,
    }
    assert fake_cluster.calls() == []


def test_options_before_status_help(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """--help after the subcommand shows its help, which shows where the options go."""
    result = run_taskora(["deploy", "-n", "prod", "status", "--help"])

    assert result.exit_code == 0
    assert "taskora deploy status [OPTIONS]" in result.stdout, repr(result.stdout[:600])
    assert result.stderr == ""
    assert fake_cluster.calls() == []
