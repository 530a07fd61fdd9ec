"""The user's key remapping: ``$XDG_CONFIG_HOME/bouncedesk/keymap.toml``.

The file maps binding ids to keys, for example::

    # move the action menu to "a" and also "ctrl+a"
    "bulk.menu" = "a,ctrl+a"
    app.help = "f2"          # unquoted dotted ids work too

It is applied with ``App.set_keymap``; ids are shown in the help screen.
Keys that do not survive SSH and most terminals (ctrl+shift+..., ctrl+m,
ctrl+i, ctrl+h: the same bytes as Enter, Tab and Backspace) are refused.
A broken file never stops the app: its problems are reported and the
rest applies.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

#: keys a terminal cannot tell apart from another key, or does not send over SSH
UNSAFE_KEYS = frozenset({"ctrl+m", "ctrl+i", "ctrl+h", "ctrl+j", "ctrl+left_square_bracket", "ctrl+["})


def keymap_path() -> Path:
    """Where the keymap lives: ``$XDG_CONFIG_HOME`` (default ``~/.config``) / bouncedesk / keymap.toml."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "bouncedesk" / "keymap.toml"


def unsafe_key(key: str) -> bool:
    """True for a key that cannot be told apart or does not pass over SSH."""
    key = key.strip().lower()
    return key in UNSAFE_KEYS or ("ctrl+" in key and "shift+" in key)


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted ids written unquoted (``bulk.menu = "a"``) are nested tables in TOML: join them back."""
    items: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def load_keymap(path: Path | None = None) -> tuple[dict[str, str], list[str]]:
    """(binding id -> keys, problems) from the keymap file; a missing file is an empty keymap."""
    path = path or keymap_path()
    if not path.exists():
        return {}, []
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: cannot read the keymap: {exc}"]
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, value in _flatten(data):
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{path}: {binding_id}: expected a key string such as \"ctrl+k\", got {value!r}")
            continue
        keys = [k.strip() for k in value.split(",") if k.strip()]
        bad = [k for k in keys if unsafe_key(k)]
        if bad:
            problems.append(f"{path}: {binding_id}: {', '.join(bad)} does not work over SSH or in every terminal")
            keys = [k for k in keys if k not in bad]
        if keys:
            keymap[binding_id] = ",".join(keys)
    return keymap, problems
