"""Subcommands of the ``bouncedesk`` command, one module each."""
