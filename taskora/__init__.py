"""Taskora: an event-driven task service, its CLI and its deployment toolkit."""

__version__ = "0.1.0"
