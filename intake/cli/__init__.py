"""The `intake` command: one entry point, one module per command group."""
