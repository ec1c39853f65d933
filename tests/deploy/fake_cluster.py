"""Fake ``helm``, ``kubectl`` and ``docker`` executables that stand in for a cluster.

No Kubernetes cluster, container registry or Docker engine runs on the test machine, so
the tests put these scripts first on ``PATH``. Each one records its argv (and the content
of a ``-f`` values file) and replies with the output that a test scripted for that command,
matched by argv prefix, the most recently scripted rule first. A command without a scripted
reply exits with code 97 and prints why, so an unexpected call fails the test visibly. A rule
may instead hand the call to a real executable, which is how ``helm template`` stays real.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from taskora.deploy import assets

# Replaces the temporary values file path in recorded argv, so tests can compare exactly.
VALUES_FILE = "<values file>"


def template_arguments(namespace: str = "taskora") -> list[str]:
    """Return the arguments of the local helm template that a deploy and --check run first."""
    return ["taskora", str(assets.CHART_DIR), "--namespace", namespace, "-f", VALUES_FILE]


_SCRIPT = """#!{python}
import json, os, sys
from pathlib import Path

home = Path({home!r})
tool = Path(sys.argv[0]).name
args = sys.argv[1:]
record = {{"tool": tool, "args": args}}
if "-f" in args and args.index("-f") + 1 < len(args):
    values_path = Path(args[args.index("-f") + 1])
    record["values"] = values_path.read_text() if values_path.is_file() else None
with open(home / "calls.jsonl", "a") as log:
    log.write(json.dumps(record) + "\\n")

rules = json.loads((home / "rules.json").read_text())
for rule in reversed(rules):
    prefix = rule["prefix"]
    if rule["tool"] == tool and args[: len(prefix)] == prefix:
        if rule.get("passthrough"):
            os.execv(rule["passthrough"], [rule["passthrough"], *args])
        sys.stdout.write(rule["stdout"])
        sys.stderr.write(rule["stderr"])
        sys.exit(rule["exit"])
sys.stderr.write("fake %s: no scripted reply for %s\\n" % (tool, json.dumps(args)))
sys.exit(97)
"""

HELM_VERSION = "v3.19.0+g3d8990f\n"
KUBECTL_CLIENT_VERSION = json.dumps(
    {"clientVersion": {"major": "1", "minor": "33", "gitVersion": "v1.33.2"}}
)
SERVER_VERSION = json.dumps({"major": "1", "minor": "33", "gitVersion": "v1.33.1"})
DAPR_CRDS = ("components.dapr.io", "configurations.dapr.io", "resiliencies.dapr.io")
BACKEND_CONFIG_CRD = "backendconfigs.cloud.google.com"
SECRET_PROVIDER_CLASS_CRD = "secretproviderclasses.secrets-store.csi.x-k8s.io"
# The IngressClasses and the ClusterIssuer that the profiles name, all present in healthy().
INGRESS_CLASSES = ("nginx", "webapprouting.kubernetes.azure.com")
CLUSTER_ISSUER = "letsencrypt-prod"
# What each profile's add-on checks read after the Dapr check: (kind, name).
PROFILE_ADDONS = {
    "doks": [("ingressclasses", "nginx"), ("clusterissuers.cert-manager.io", CLUSTER_ISSUER)],
    "gke": [
        ("clusterissuers.cert-manager.io", CLUSTER_ISSUER),
        ("customresourcedefinitions", BACKEND_CONFIG_CRD),
    ],
    "aks": [
        ("ingressclasses", "webapprouting.kubernetes.azure.com"),
        ("clusterissuers.cert-manager.io", CLUSTER_ISSUER),
        ("customresourcedefinitions", SECRET_PROVIDER_CLASS_CRD),
    ],
}
UNREACHABLE = "Unable to connect to the server: dial tcp 10.0.0.1:443: i/o timeout\n"
# The fixes that status, rollback and --diff print after helm's error when the cluster is down.
UNREACHABLE_FIX = (
    "Check that the cluster is running and your network reaches it (VPN, authorized "
    "networks), and refresh expired credentials with your cloud's command: `doctl kubernetes "
    "cluster kubeconfig save CLUSTER`, `gcloud container clusters get-credentials CLUSTER "
    "--location LOCATION`, `az aks get-credentials --resource-group GROUP --name CLUSTER`"
)


@dataclass
class FakeCluster:
    """The directory of the fake executables, their scripted replies and their call log."""

    home: Path

    @property
    def bin_dir(self) -> Path:
        """Directory to put first on ``PATH``."""
        return self.home / "bin"

    @classmethod
    def create(
        cls, home: Path, tools: tuple[str, ...] = ("helm", "kubectl", "docker")
    ) -> FakeCluster:
        """Write the fake executables named in ``tools`` into ``home/bin``."""
        fake = cls(home)
        fake.bin_dir.mkdir(parents=True)
        (home / "rules.json").write_text("[]")
        (home / "calls.jsonl").write_text("")
        script = _SCRIPT.format(python=sys.executable, home=str(home))
        for tool in tools:
            path = fake.bin_dir / tool
            path.write_text(script)
            path.chmod(0o755)
        return fake

    def on(
        self, tool: str, *prefix: str, stdout: str = "", stderr: str = "", exit_code: int = 0
    ) -> None:
        """Reply to ``tool PREFIX...`` with this output and exit code."""
        self._add(
            {
                "tool": tool,
                "prefix": list(prefix),
                "stdout": stdout,
                "stderr": stderr,
                "exit": exit_code,
            }
        )

    def passthrough(self, tool: str, *prefix: str, executable: Path) -> None:
        """Run ``executable`` with the same arguments for ``tool PREFIX...``."""
        self._add({"tool": tool, "prefix": list(prefix), "passthrough": str(executable)})

    def calls(self) -> list[list[str]]:
        """Return every recorded call as ``[tool, *args]``, with values paths replaced."""
        return [[record["tool"], *_masked(record["args"])] for record in self._records()]

    def values_passed(self, tool: str, subcommand: str) -> list[str]:
        """Return the values files' content passed with ``-f`` to ``tool SUBCOMMAND``."""
        return [
            record["values"]
            for record in self._records()
            if record["tool"] == tool and subcommand in record["args"] and "values" in record
        ]

    def healthy(
        self,
        *,
        context: str = "do-fra1-prod",
        namespace: str = "taskora",
        secrets: dict[str, list[str]] | None = None,
    ) -> None:
        """Script a reachable cluster with Dapr, the namespace and the given Secrets."""
        self.on("helm", "version", "--short", stdout=HELM_VERSION)
        self.on("kubectl", "version", "--client", stdout=KUBECTL_CLIENT_VERSION)
        self.on("kubectl", "config", "current-context", stdout=context + "\n")
        self.on("kubectl", "config", "get-contexts", context, stdout=context + "\n")
        kubectl = ["--context", context, "--request-timeout", "15s"]
        self.on("kubectl", *kubectl, "get", "--raw", "/version", stdout=SERVER_VERSION)
        self.on(
            "kubectl", *kubectl, "get", "namespace", "dapr-system", stdout="namespace/dapr-system\n"
        )
        self.on(
            "kubectl",
            *kubectl,
            "get",
            "customresourcedefinitions",
            stdout="".join(
                f"customresourcedefinition.apiextensions.k8s.io/{crd}\n"
                for crd in (*DAPR_CRDS, BACKEND_CONFIG_CRD, SECRET_PROVIDER_CLASS_CRD)
            ),
        )
        self.on(
            "kubectl",
            *kubectl,
            "get",
            "ingressclasses",
            stdout="".join(f"ingressclass.networking.k8s.io/{name}\n" for name in INGRESS_CLASSES),
        )
        self.on(
            "kubectl",
            *kubectl,
            "get",
            "clusterissuers.cert-manager.io",
            stdout=f"clusterissuer.cert-manager.io/{CLUSTER_ISSUER}\n",
        )
        self.on(
            "kubectl", *kubectl, "get", "namespace", namespace, stdout=f"namespace/{namespace}\n"
        )
        for name, keys in (
            secrets if secrets is not None else {"taskora-database": ["password"]}
        ).items():
            self.on(
                "kubectl",
                *kubectl,
                "--namespace",
                namespace,
                "get",
                "secret",
                name,
                stdout=" ".join([name, *keys]),
            )
        self.on("docker", "manifest", "inspect", stdout=json.dumps(_IMAGE_MANIFEST))

    def _add(self, rule: dict[str, Any]) -> None:
        rules_path = self.home / "rules.json"
        rules = json.loads(rules_path.read_text())
        rules.append(rule)
        rules_path.write_text(json.dumps(rules))

    def _records(self) -> list[dict[str, Any]]:
        lines = (self.home / "calls.jsonl").read_text().splitlines()
        return [json.loads(line) for line in lines if line]


def preflight_calls(
    context: str = "do-fra1-prod",
    namespace: str = "taskora",
    secrets: tuple[str, ...] = ("taskora-database",),
    image: str | None = None,
    given_context: bool = False,
    addons_of: str | None = None,
    values_checked: bool = False,
) -> list[list[str]]:
    """Return the exact calls a passing preflight makes, in order.

    ``addons_of`` names the profile whose add-on checks run (None: values without an
    Ingress, BackendConfig or Key Vault). ``values_checked`` adds the local ``helm
    template`` that a deploy and ``--check`` run after the helm and kubectl checks.
    """
    kubectl = ["kubectl", "--context", context, "--request-timeout", "15s"]
    calls = [
        ["helm", "version", "--short"],
        ["kubectl", "version", "--client", "--output", "json"],
    ]
    if values_checked:
        calls.append(["helm", "template", *template_arguments(namespace)])
    calls += [
        ["kubectl", "config", "get-contexts", context, "--output", "name"]
        if given_context
        else ["kubectl", "config", "current-context"],
        [*kubectl, "get", "--raw", "/version"],
        [*kubectl, "get", "namespace", "dapr-system", "--output", "name", "--ignore-not-found"],
        [
            *kubectl,
            "get",
            "customresourcedefinitions",
            *DAPR_CRDS,
            "--output",
            "name",
            "--ignore-not-found",
        ],
    ]
    for kind, name in PROFILE_ADDONS.get(addons_of or "", []):
        calls.append([*kubectl, "get", kind, name, "--output", "name", "--ignore-not-found"])
    calls.append(
        [*kubectl, "get", "namespace", namespace, "--output", "name", "--ignore-not-found"]
    )
    for secret in secrets:
        calls.append(
            [
                *kubectl,
                "--namespace",
                namespace,
                "get",
                "secret",
                secret,
                "--ignore-not-found",
                "--output",
                "go-template={{.metadata.name}}{{range $key, $value := .data}} {{$key}}{{end}}",
            ]
        )
    if image is not None:
        calls.append(["docker", "manifest", "inspect", image])
    return calls


# What `docker manifest inspect` prints for a single-platform image.
_IMAGE_MANIFEST = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "size": 1234,
        "digest": "sha256:" + "a" * 64,
    },
    "layers": [],
}


def _masked(args: list[str]) -> list[str]:
    masked = list(args)
    for index, arg in enumerate(masked[:-1]):
        if arg == "-f" and "taskora-deploy-" in masked[index + 1]:
            masked[index + 1] = VALUES_FILE
    return masked


# The host that replaces the profiles' placeholder host taskora.example.com.
FILLED_HOST = "tasks.acme.example"


def write_filled_placeholders(directory: Path, cloud: str) -> Path:
    """Write a values file that replaces every placeholder of the profile.

    ``replace-me`` becomes ``acme``, and the host taskora.example.com becomes
    :data:`FILLED_HOST`.

    It follows the profile as it is, so these tests need no list of its placeholders.
    """
    from taskora.deploy.plan import DeployRequest, merge_request_values

    merged = merge_request_values(DeployRequest(cloud=cloud)).values
    path = directory / f"acme-{cloud}.yaml"
    path.write_text(yaml.safe_dump(_filled(merged) or {}), encoding="utf-8")
    return path


def profile_secrets(cloud: str, values_file: Path) -> dict[str, list[str]]:
    """Return the Secrets, with their keys, that preflight must find for this deploy."""
    from taskora.deploy.plan import DeployRequest, merge_request_values
    from taskora.deploy.preflight import secret_references

    merged = merge_request_values(DeployRequest(cloud=cloud, values_files=(values_file,)))
    return {
        secret.name: list(secret.keys)
        for secret in secret_references(merged.values)
        if not secret.provided_by
    }


def _filled(node: Any) -> Any:
    """Return only the parts of ``node`` that contain a placeholder, with it replaced."""
    if isinstance(node, dict):
        filled = {key: _filled(child) for key, child in node.items()}
        return {key: child for key, child in filled.items() if child is not None} or None
    if isinstance(node, list):
        items = [_filled(child) for child in node]
        return (
            [filled if filled is not None else child for filled, child in zip(items, node)]
            if any(item is not None for item in items)
            else None
        )
    if isinstance(node, str) and "replace-me" in node.lower():
        return node.replace("replace-me", "acme").replace("Replace-Me", "acme")
    if node == "taskora.example.com":
        return FILLED_HOST
    return None
