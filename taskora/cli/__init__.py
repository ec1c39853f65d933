"""The ``taskora`` command line."""
