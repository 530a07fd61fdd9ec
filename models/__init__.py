"""Schema and domain rules of bouncedesk: no Textual, no printing."""
