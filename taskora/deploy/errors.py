"""The error raised for every deployment failure that the user can act on."""

from __future__ import annotations

from taskora.errors import TaskoraError


class DeployError(TaskoraError):
    """Invalid deploy input, a missing ``helm``, or a failed ``helm`` run."""
