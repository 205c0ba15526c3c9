"""The ``cvm`` command line: one Typer sub-app per domain, all output through one console."""
