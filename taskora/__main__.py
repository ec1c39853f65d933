"""Allow ``python -m taskora``."""

from taskora.cli.app import main

main()
