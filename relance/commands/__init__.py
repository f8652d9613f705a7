"""Subcommands of ``relance``; each module has ``register(cli)``."""
