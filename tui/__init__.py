"""The Textual app and the ``bouncedesk`` command."""
