"""Pure task logic: validation and rules, with no I/O."""
