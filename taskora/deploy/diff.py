"""Compare the manifests of the deployed release with a new render, resource by resource.

This is the fallback of ``taskora deploy --diff`` when the helm-diff plugin is missing. It
compares ``helm get manifest`` (what the last revision applied) with ``helm template``, so it
shows what the chart and values change. Changes made in the cluster outside helm, and
values that templates read with ``lookup``, are not seen. Hook resources, such as the
migration Job, are left out on both sides because ``helm get manifest`` does not list them.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from taskora.deploy.errors import DeployError


class ChangeKind(StrEnum):
    """Kind of change of one resource."""

    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class ResourceChange:
    """One resource that the deploy would add, remove or change, with its unified diff."""

    resource: str
    change: ChangeKind
    diff: str

    def as_dict(self) -> dict[str, str]:
        """Return the change as JSON-ready data."""
        return {"resource": self.resource, "change": self.change.value, "diff": self.diff}


def compare_manifests(deployed: str, rendered: str) -> list[ResourceChange]:
    """Return the changes from ``deployed`` to ``rendered``, sorted by resource name.

    Both are multi-document YAML. Each resource is compared after sorting its keys, so
    only changes of content show, not of formatting or order. Secret values are replaced
    by a digest before comparing, so a diff shows that a value changed, never the value.
    """
    before = _resources(deployed, "the deployed release")
    after = _resources(rendered, "the new render")
    changes: list[ResourceChange] = []
    for resource in sorted(before.keys() | after.keys()):
        old = before.get(resource)
        new = after.get(resource)
        if old == new:
            continue
        if old is None:
            change = ChangeKind.ADDED
        elif new is None:
            change = ChangeKind.REMOVED
        else:
            change = ChangeKind.CHANGED
        lines = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            (new or "").splitlines(keepends=True),
            fromfile=f"deployed {resource}",
            tofile=f"new {resource}",
        )
        changes.append(ResourceChange(resource=resource, change=change, diff="".join(lines)))
    return changes


def _resources(text: str, origin: str) -> dict[str, str]:
    """Map ``Kind namespace/name`` to the resource as key-sorted YAML, leaving out hooks."""
    try:
        documents = [document for document in yaml.safe_load_all(text) if document]
    except yaml.YAMLError as error:
        raise DeployError(f"cannot read the manifests of {origin} as YAML: {error}") from None

    resources: dict[str, str] = {}
    for document in documents:
        if not isinstance(document, dict):
            continue
        metadata = document.get("metadata") or {}
        if "helm.sh/hook" in (metadata.get("annotations") or {}):
            continue
        namespace = metadata.get("namespace")
        name = f"{namespace}/{metadata.get('name')}" if namespace else str(metadata.get("name"))
        resource = f"{document.get('kind')} {name}"
        if document.get("kind") == "Secret":
            document = _redacted(document)
        resources[resource] = yaml.safe_dump(document, sort_keys=True, default_flow_style=False)
    return resources


def _redacted(secret: dict[str, Any]) -> dict[str, Any]:
    redacted = dict(secret)
    for field in ("data", "stringData"):
        values = secret.get(field)
        if isinstance(values, dict):
            redacted[field] = {
                key: f"(redacted, sha256 {hashlib.sha256(str(value).encode()).hexdigest()[:12]})"
                for key, value in values.items()
            }
    return redacted
