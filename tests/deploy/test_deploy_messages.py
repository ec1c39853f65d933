"""Error messages and output forms of ``taskora deploy``, ``status`` and ``rollback``.

Most tests run the real CLI against the fake helm, kubectl and docker of
``fake_cluster.py``, because no cluster runs on the test machine. The tests marked with
``real_helm`` run the real helm, which fails before it would contact a cluster.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from deploy_helpers import CliResult, parse_dry_run
from fake_cluster import FakeCluster, profile_secrets, write_filled_placeholders
from rich.console import Console

from taskora.cli import deploy as deploy_cli
from taskora.deploy.helm import ReleaseDetails, Revision, explain_schema_errors
from taskora.deploy.preflight import CheckStatus, PreflightError, PreflightReport
from taskora.deploy.release import ReleaseReport

Run = Callable[[Sequence[str]], CliResult]

CONNECTION_NAME_HINT = (
    "is not a Cloud SQL instance connection name. Write it as PROJECT:REGION:INSTANCE with "
    "your own lowercase names, such as acme-prod:europe-west1:taskora, and print the "
    "instance's name with `gcloud sql instances describe INSTANCE "
    "--format='value(connectionName)'`"
)
UNKNOWN_CONTEXT = (
    "context 'nope' not found in the kubeconfig: list the contexts with "
    "`kubectl config get-contexts` and pass one of them with --context"
)
# A revision whose description and date are longer than an 80-column table allows.
LONG_HISTORY = [
    Revision(
        revision=7,
        updated="2026-12-04 10:00:00.123456789 +0000 UTC",
        status="superseded",
        chart="taskora-0.1.0",
        app_version="0.1.0-g1a2b3c4",
        description="Upgrade complete after the migration Job taskora-migration succeeded",
    ),
    Revision(
        revision=8,
        updated="2026-12-05 11:30:00.987654321 +0000 UTC",
        status="deployed",
        chart="taskora-0.1.0",
        app_version="0.2.0-g5d6e7f8",
        description="Rollback to 7",
    ),
]
LONG_REPORT = ReleaseReport(
    details=ReleaseDetails(
        name="taskora",
        namespace="prod",
        revision=8,
        status="deployed",
        chart="taskora-0.1.0",
        app_version="0.2.0-g5d6e7f8",
        last_deployed="2026-12-05T11:30:00Z",
        description="Rollback to 7",
    ),
    history=LONG_HISTORY,
)


@pytest.fixture
def kubeconfig(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A kubeconfig with one context, "real", whose server is a closed loopback port."""
    path = tmp_path / "kubeconfig"
    path.write_text(
        "apiVersion: v1\n"
        "kind: Config\n"
        "clusters:\n"
        "- name: local\n"
        "  cluster: {server: 'https://127.0.0.1:1'}\n"
        "users:\n"
        "- name: local\n"
        "  user: {token: not-a-real-token}\n"
        "contexts:\n"
        "- name: real\n"
        "  context: {cluster: local, user: local}\n"
        "current-context: real\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KUBECONFIG", str(path))
    return path


def test_connection_name_error_says_format(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "gke",
            "--dry-run",
            "--set",
            "cloudSqlProxy.instanceConnectionName=PROJECT:REGION:INSTANCE",
        ]
    )

    assert result.exit_code == 2
    assert (
        f"- at '/cloudSqlProxy/instanceConnectionName': 'PROJECT:REGION:INSTANCE' "
        f"{CONNECTION_NAME_HINT}"
    ) in result.stderr.splitlines()
    assert "does not match pattern" not in result.stderr
    assert result.stdout == ""


def test_connection_name_accepted_lowercase(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "gke",
            "--dry-run",
            "--set",
            "cloudSqlProxy.instanceConnectionName=acme-prod:europe-west1:taskora",
        ]
    )

    assert result.exit_code == 0, result.stderr
    assert "acme-prod:europe-west1:taskora" in parse_dry_run(result.stdout).command or (
        "acme-prod:europe-west1:taskora" in str(parse_dry_run(result.stdout).manifest("Deployment"))
    )


def test_connection_name_error_in_check_report(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    filled = write_filled_placeholders(tmp_path, "gke")
    fake_cluster.healthy(context="gke_acme_prod")

    result = run_taskora(
        [
            "deploy",
            "--cloud",
            "gke",
            "-f",
            str(filled),
            "--check",
            "--skip-image-check",
            "--set",
            "cloudSqlProxy.instanceConnectionName=Acme:europe-west1:taskora",
        ]
    )

    assert result.exit_code == 2
    schema_error = (
        f"- at '/cloudSqlProxy/instanceConnectionName': 'Acme:europe-west1:taskora' "
        f"{CONNECTION_NAME_HINT}"
    )
    lines = result.stderr.splitlines()
    # Indented under its check in the report, then under its item in the error summary.
    assert f"    {schema_error}" in lines
    assert f"  {schema_error}." in lines
    assert "  Fix: correct the values that helm names, then run the command again" in lines


def test_pattern_hint_leaves_other_lines() -> None:
    message = (
        "helm template failed with exit code 1: values don't meet the specifications:\n"
        "taskora:\n"
        "- at '/replicaCount': got string, want integer\n"
        "- at '/image/repository': 'Foo' does not match pattern '^[a-z]+$'\n"
        "- at '/cloudSqlProxy/instanceConnectionName': 'x' does not match pattern '^a$'"
    )

    assert explain_schema_errors(message).splitlines() == [
        "helm template failed with exit code 1: values don't meet the specifications:",
        "taskora:",
        "- at '/replicaCount': got string, want integer",
        "- at '/image/repository': 'Foo' does not match pattern '^[a-z]+$'",
        f"- at '/cloudSqlProxy/instanceConnectionName': 'x' {CONNECTION_NAME_HINT}",
    ]


def test_schema_hint_string_wanted() -> None:
    """A number or boolean where the schema wants a string names --set-string for its key."""
    message = (
        "taskora:\n"
        "- at '/ingress/annotations/nginx.ingress.kubernetes.io~1proxy-read-timeout': got "
        "number, want string\n"
        "- at '/imagePullSecrets/0/name': got boolean, want string\n"
        "- at '/replicaCount': got string, want integer"
    )

    assert explain_schema_errors(message).splitlines() == [
        "taskora:",
        "- at '/ingress/annotations/nginx.ingress.kubernetes.io~1proxy-read-timeout': got "
        "number, want string. Quote the value in the values file, or pass it with --set-string "
        "ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/proxy-read-timeout=VALUE, which "
        "keeps it a string",
        "- at '/imagePullSecrets/0/name': got boolean, want string. Quote the value in the "
        "values file, or pass it with --set-string imagePullSecrets[0].name=VALUE, which keeps "
        "it a string",
        "- at '/replicaCount': got string, want integer",
    ]


def test_schema_hint_from_real_helm(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        ["deploy", "--cloud", "doks", "--dry-run", "--set", "ingress.annotations.a\\.b/c=7200"]
    )

    assert result.exit_code == 2
    assert (
        "- at '/ingress/annotations/a.b~1c': got number, want string. Quote the value in the "
        "values file, or pass it with --set-string ingress.annotations.a\\.b/c=VALUE, which "
        "keeps it a string"
    ) in result.stderr.splitlines()


def test_status_history_piped_not_cut(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    """capsys is not a terminal, so the history prints as aligned plain lines."""
    history = [vars(entry) for entry in LONG_HISTORY]
    fake_cluster.on(
        "helm",
        "status",
        stdout=json.dumps(
            {
                "name": "taskora",
                "namespace": "prod",
                "version": 8,
                "info": {
                    "status": "deployed",
                    "last_deployed": "2026-12-05T11:30:00Z",
                    "description": "Rollback to 7",
                },
                "chart": {
                    "metadata": {
                        "name": "taskora",
                        "version": "0.1.0",
                        "appVersion": "0.2.0-g5d6e7f8",
                    }
                },
            }
        ),
    )
    fake_cluster.on("helm", "history", stdout=json.dumps(history))

    result = run_taskora(["deploy", "status", "-n", "prod"])

    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[2:] == [
        (
            "revision  updated                                  status      chart          "
            "app version     description"
        ),
        (
            "7         2026-12-04 10:00:00.123456789 +0000 UTC  superseded  taskora-0.1.0  "
            "0.1.0-g1a2b3c4  Upgrade complete after the migration Job taskora-migration succeeded"
        ),
        (
            "8         2026-12-05 11:30:00.987654321 +0000 UTC  deployed    taskora-0.1.0  "
            "0.2.0-g5d6e7f8  Rollback to 7"
        ),
    ]
    assert "…" not in result.stdout


def test_status_history_terminal_wraps() -> None:
    """On an 80-column terminal the table wraps long cells instead of cutting them."""
    output = io.StringIO()
    console = Console(file=output, force_terminal=True, width=80, color_system=None)

    deploy_cli._print_history(LONG_REPORT, console)

    text = output.getvalue()
    assert "…" not in text
    assert max(len(line) for line in text.splitlines()) <= 80
    rows = table_rows(text)
    assert len(rows) == 3
    # Wrapping breaks a cell at its spaces, so the cells are compared without them.
    for row, entry in zip(rows[1:], LONG_HISTORY, strict=True):
        expected = [
            str(entry.revision),
            entry.updated,
            entry.status,
            entry.chart,
            entry.app_version,
            entry.description,
        ]
        assert row == [cell.replace(" ", "") for cell in expected]


def table_rows(text: str) -> list[list[str]]:
    """Read the cells of a Rich table drawn with lines between rows, without their spaces."""
    rows: list[list[str]] = []
    current: list[str] = []
    for line in text.splitlines():
        if line[:1] in "┃│":
            parts = line.replace("┃", "│").split("│")[1:-1]
            if not current:
                current = ["" for _ in parts]
            current = [cell + part.replace(" ", "") for cell, part in zip(current, parts)]
        elif current:
            rows.append(current)
            current = []
    return rows


def test_aligned_lines_widths() -> None:
    assert deploy_cli.aligned_lines(("a", "bb"), [("long", "x"), ("s", "")]) == [
        "a     bb",
        "long  x",
        "s",
    ]


def test_json_error_release_not_found(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "status", stderr="Error: release: not found\n", exit_code=1)

    result = run_taskora(["deploy", "status", "-n", "prod", "--json"])

    assert result.exit_code == 5
    assert result.stdout == ""
    assert json.loads(result.stderr) == {
        "error": "release taskora not found in namespace prod: check --release and "
        "--namespace, or list releases with `helm list --all-namespaces`",
        "exit_code": 5,
    }


def test_json_error_usage(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--cloud", "gcp", "--dry-run", "--json"])

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "unknown cloud 'gcp': use one of aks, doks, gke",
        "exit_code": 2,
    }


def test_json_error_rollback(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    result = run_taskora(["deploy", "rollback", "0", "--json"])

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {
        "error": "invalid revision 0: revisions start at 1. List them with `taskora deploy status`",
        "exit_code": 2,
    }


def test_json_error_schema(run_taskora: Run, real_helm: Path) -> None:
    result = run_taskora(
        ["deploy", "--cloud", "doks", "--dry-run", "--json", "--set", "replicaCount=many"]
    )

    assert result.exit_code == 2
    document = json.loads(result.stderr)
    assert document["exit_code"] == 2
    assert document["error"].startswith("helm template failed with exit code 1: ")
    assert document["error"].endswith("- at '/replicaCount': got string, want integer")


def test_plain_error_without_json(run_taskora: Run) -> None:
    result = run_taskora(["deploy", "--cloud", "gcp", "--dry-run"])

    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: unknown cloud 'gcp': use one of aks, doks, gke"


@pytest.mark.parametrize("command", [["deploy"], ["deploy", "status"], ["deploy", "rollback"]])
def test_help_documents_json_errors(run_taskora: Run, command: list[str]) -> None:
    result = run_taskora([*command, "--help"])

    assert result.exit_code == 0
    help_text = " ".join(result.stdout.split())
    assert "an error as a JSON object with the keys error and exit_code on stderr" in help_text


def test_status_unknown_context_real_helm(
    run_taskora: Run, real_helm: Path, kubeconfig: Path
) -> None:
    result = run_taskora(["deploy", "status", "--context", "nope"])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {UNKNOWN_CONTEXT}"


def test_rollback_unknown_context_real_helm(
    run_taskora: Run, real_helm: Path, kubeconfig: Path
) -> None:
    result = run_taskora(["deploy", "rollback", "--context", "nope", "--json"])

    assert result.exit_code == 2
    assert json.loads(result.stderr) == {"error": UNKNOWN_CONTEXT, "exit_code": 2}


@pytest.mark.parametrize(
    "stderr",
    [
        'Error: Kubernetes cluster unreachable: context "nope" does not exist\n',
        'Error: kubernetes cluster unreachable: context "nope" does not exist\n',
    ],
    ids=["helm3", "helm4"],
)
def test_status_unknown_context(run_taskora: Run, fake_cluster: FakeCluster, stderr: str) -> None:
    fake_cluster.on("helm", "status", stderr=stderr, exit_code=1)

    result = run_taskora(["deploy", "status", "--context", "nope"])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {UNKNOWN_CONTEXT}"


def test_deploy_unknown_context(
    run_taskora: Run, fake_cluster: FakeCluster, tmp_path: Path
) -> None:
    filled = write_filled_placeholders(tmp_path, "doks")
    fake_cluster.healthy()
    fake_cluster.on(
        "kubectl",
        "config",
        "get-contexts",
        "nope",
        stderr="error: context nope not found\n",
        exit_code=1,
    )

    result = run_taskora(["deploy", "--cloud", "doks", "-f", str(filled), "--context", "nope"])

    assert result.exit_code == 2
    assert not any(call[:2] == ["helm", "upgrade"] for call in fake_cluster.calls())
    assert (
        "- context: context 'nope' not found in the kubeconfig. Fix: list the contexts with "
        "`kubectl config get-contexts`, or add the cluster's with "
        "`doctl kubernetes cluster kubeconfig save CLUSTER`"
    ) in result.stderr.splitlines()


def test_diff_unknown_context(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on("helm", "plugin", "list", stdout="NAME\tVERSION\tDESCRIPTION\n")
    fake_cluster.on(
        "helm",
        "get",
        "manifest",
        stderr='Error: Kubernetes cluster unreachable: context "nope" does not exist\n',
        exit_code=1,
    )

    result = run_taskora(["deploy", "--cloud", "doks", "--diff", "--context", "nope"])

    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {UNKNOWN_CONTEXT}"


def test_helm_debug_hint_removed(run_taskora: Run, fake_cluster: FakeCluster) -> None:
    fake_cluster.on(
        "helm",
        "template",
        stderr="Error: YAML parse error on taskora/templates/configmap.yaml: error converting "
        "YAML to JSON: yaml: line 3: did not find expected key\n"
        "Use --debug flag to render out invalid YAML\n",
        exit_code=1,
    )

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: helm template failed with exit code 1: YAML parse error on "
        "taskora/templates/configmap.yaml: error converting YAML to JSON: yaml: line 3: did "
        "not find expected key"
    )


def test_preflight_error_punctuation() -> None:
    report = PreflightReport()
    report.add(
        "cluster",
        CheckStatus.FAILED,
        "kubectl get /version failed with exit code 1: The connection to the server "
        "10.0.0.1:443 was refused - did you specify the right host or port?",
        "check that the cluster is running",
    )
    report.add("dapr", CheckStatus.FAILED, "namespace dapr-system does not exist", "install Dapr")

    lines = PreflightError(report).message.splitlines()

    assert lines[1] == (
        "- cluster: kubectl get /version failed with exit code 1: The connection to the server "
        "10.0.0.1:443 was refused - did you specify the right host or port? Fix: check that "
        "the cluster is running"
    )
    assert lines[2] == "- dapr: namespace dapr-system does not exist. Fix: install Dapr"


def test_check_without_helm_reports(
    run_taskora: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only kubectl and docker are faked, and PATH contains nothing else, so helm is missing.

    The cluster checks need only kubectl, so they still run.
    """
    fake = FakeCluster.create(tmp_path / "cluster", tools=("kubectl", "docker"))
    filled = write_filled_placeholders(tmp_path, "doks")
    fake.healthy(secrets=profile_secrets("doks", filled))
    monkeypatch.setenv("PATH", str(fake.bin_dir))
    monkeypatch.delenv("TASKORA_HELM", raising=False)
    monkeypatch.delenv("TASKORA_KUBECTL", raising=False)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(filled), "--check", "--skip-image-check"]
    )

    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "Preflight:"
    assert lines[1] == "  FAILED helm: helm not found on PATH"
    assert lines[2].startswith("  ok kubectl: kubectl v1.33.2 at ")
    assert lines[3] == "  ok values: no profile placeholder is left"
    assert lines[4] == "  skipped render: helm template needs helm, which is missing"
    assert lines[5] == "  ok context: context do-fra1-prod (the current context)"
    assert lines[6] == "  ok cluster: the API server answered: Kubernetes v1.33.1"
    assert not any(line.startswith("  skipped cluster resources") for line in lines)
    assert "Error: nothing deployed: 1 preflight check failed" in lines
    assert (
        "- helm: helm not found on PATH. Fix: install Helm 3 or 4 "
        "(https://helm.sh/docs/intro/install/) or set TASKORA_HELM to the path of the helm "
        "executable"
    ) in lines
    assert {call[0] for call in fake.calls()} == {"kubectl"}


def test_check_without_helm_json(
    run_taskora: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeCluster.create(tmp_path / "cluster", tools=("kubectl", "docker"))
    filled = write_filled_placeholders(tmp_path, "doks")
    fake.healthy(secrets=profile_secrets("doks", filled))
    monkeypatch.setenv("PATH", str(fake.bin_dir))
    monkeypatch.delenv("TASKORA_HELM", raising=False)

    result = run_taskora(
        ["deploy", "--cloud", "doks", "-f", str(filled), "--check", "--skip-image-check", "--json"]
    )

    assert result.exit_code == 1
    checks = {check["name"]: check for check in json.loads(result.stdout)["checks"]}
    assert checks["helm"]["status"] == "failed"
    assert checks["helm"]["detail"] == "helm not found on PATH"
    assert checks["helm"]["fix"] == (
        "install Helm 3 or 4 (https://helm.sh/docs/intro/install/) or set TASKORA_HELM to the "
        "path of the helm executable"
    )
    assert checks["render"]["status"] == "skipped"
    error = json.loads(result.stderr)
    assert error["exit_code"] == 1
    assert error["error"].startswith("nothing deployed: 1 preflight check failed\n- helm: ")


def test_dry_run_without_helm_still_fails(
    run_taskora: Run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("TASKORA_HELM", raising=False)

    result = run_taskora(["deploy", "--cloud", "doks", "--dry-run"])

    assert result.exit_code == 1
    assert result.stderr.startswith("Error: helm not found on PATH: install Helm 3 or 4")
