"""Modal dialogs: each returns a value through ``dismiss`` and Escape always cancels."""
