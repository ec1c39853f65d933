"""Rendering helpers of the chart tests: the install cases and ``helm template`` runs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

from taskora.deploy import assets

RELEASE = "taskora"
NAMESPACE = "taskora"
DEV_VALUES = assets.CHART_DIR / "ci" / "dev-values.yaml"
# Each install the chart supports: the three cloud profiles and a development install.
INSTALL_CASES: dict[str, Path] = {
    "doks": assets.PROFILES_DIR / "doks.yaml",
    "gke": assets.PROFILES_DIR / "gke.yaml",
    "aks": assets.PROFILES_DIR / "aks.yaml",
    "dev": DEV_VALUES,
}
# Kubernetes minor versions that DOKS, GKE and AKS offer, checked with kubernetes-validate:
# 1.32 to 1.37, the newest whose schemas kubernetes-validate ships.
KUBERNETES_VERSIONS = ["1.32.0", "1.33.0", "1.34.0", "1.35.0", "1.36.0", "1.37.0"]


def helm(helm_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run helm with ``args`` and return the completed process, whatever its exit code."""
    return subprocess.run(
        [str(helm_path), *args], capture_output=True, text=True, timeout=120, check=False
    )


def template_text(helm_path: Path, case: str | None, *args: str) -> str:
    """Return the manifests of ``helm template`` for an install case (None: chart defaults)."""
    command = ["template", RELEASE, str(assets.CHART_DIR), "--namespace", NAMESPACE]
    if case is not None:
        command += ["-f", str(INSTALL_CASES[case])]
    completed = helm(helm_path, *command, *args)
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def render(helm_path: Path, case: str | None, *args: str) -> list[dict[str, Any]]:
    """Return the documents of ``helm template`` for an install case."""
    return [doc for doc in yaml.safe_load_all(template_text(helm_path, case, *args)) if doc]


def only(documents: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """Return the only document of ``kind`` (and ``name`` when given)."""
    found = [
        doc
        for doc in documents
        if doc["kind"] == kind and (name is None or doc["metadata"]["name"] == name)
    ]
    assert len(found) == 1, f"expected one {kind} {name or ''}, found {len(found)}"
    return found[0]


def template_error(helm_path: Path, *args: str) -> str:
    """Run ``helm template`` expecting a failure and return its stderr."""
    completed = helm(
        helm_path, "template", RELEASE, str(assets.CHART_DIR), "--namespace", NAMESPACE, *args
    )
    assert completed.returncode == 1, completed.stdout[-2000:]
    return completed.stderr
