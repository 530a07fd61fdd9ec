"""The user's key remapping: ``$XDG_CONFIG_HOME/bouncedesk/keymap.toml``.

The file maps binding ids to keys, for example::

    # move the action menu to "a" and also "ctrl+a"
    "bulk.menu" = "a,ctrl+a"
    app.help = "f2"          # unquoted dotted ids work too

It is applied with ``App.set_keymap``; ids are shown in the help screen.
Keys that do not survive SSH and most terminals (ctrl+shift+..., ctrl+m,
ctrl+i, ctrl+h: the same bytes as Enter, Tab and Backspace) are refused.
A broken file never stops the app: a file that is not TOML is reported
and ignored; in a readable one, each bad entry (an id no binding has, a key
name Textual does not know, such as ``Ctrl+K`` or ``escpe``) is reported and
the rest applies.
"""

from __future__ import annotations

import os
import string
import tomllib
from collections.abc import Callable, Collection
from pathlib import Path

from textual.keys import Keys, _character_to_key

from tui.workers import reason_text

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


_MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
#: Key names Textual sends besides single characters: f1, escape, pageup, question_mark, ...
_NAMED_KEYS = frozenset(
    {k.value.rsplit("+", 1)[-1] for k in Keys if not k.value.startswith("<")}
    | {_character_to_key(c) for c in string.punctuation + " "}
)


def key_problem(key: str) -> str | None:
    """Why ``key`` can never be pressed (a misspelled name or modifier), or None for a real key."""
    *modifiers, base = key.split("+") if key != "+" else ["+"]
    wrong = [m for m in modifiers if m not in _MODIFIERS]
    if wrong:
        return f"{key}: unknown modifier {wrong[0]!r} (ctrl, shift, alt, meta; lower case)"
    if len(base) == 1 or base in _NAMED_KEYS:
        return None
    return f"{key}: not a key name (for example ctrl+k, f2, escape, question_mark)"


def _flatten(data: dict, prefix: str = "") -> list[tuple[str, object]]:
    """Dotted ids written unquoted (``bulk.menu = "a"``) are nested tables in TOML: join them back."""
    items: list[tuple[str, object]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            items.extend(_flatten(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def load_keymap(path: Path | None = None,
                known: Callable[[], Collection[str]] | None = None) -> tuple[dict[str, str], list[str]]:
    """(binding id -> keys, problems) from the keymap file; a missing file is an empty keymap.

    ``known()``: the binding ids of the app, asked only when there is a file (it imports every
    screen); another id is reported, not silently ignored.
    """
    path = path or keymap_path()
    try:
        if not path.exists():
            return {}, []
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: cannot read the keymap: {reason_text(exc)}"]
    keymap: dict[str, str] = {}
    problems: list[str] = []
    ids = known() if known is not None else None
    for binding_id, value in _flatten(data):
        if ids is not None and binding_id not in ids:
            problems.append(f"{path}: {binding_id}: no binding has this id (the help screen lists them)")
            continue
        if not isinstance(value, str) or not value.strip():
            problems.append(f"{path}: {binding_id}: expected a key string such as \"ctrl+k\", got {value!r}")
            continue
        keys = [k.strip() for k in value.split(",") if k.strip()]
        bad = [k for k in keys if unsafe_key(k)]
        if bad:
            problems.append(f"{path}: {binding_id}: {', '.join(bad)} does not work over SSH or in every terminal")
        unknown = [(k, why) for k in keys if k not in bad and (why := key_problem(k))]
        problems.extend(f"{path}: {binding_id}: {why}" for _, why in unknown)
        keys = [k for k in keys if k not in bad and k not in {u for u, _ in unknown}]
        if keys:
            keymap[binding_id] = ",".join(keys)
        elif not bad and not unknown:
            problems.append(f"{path}: {binding_id}: no key given")
    return keymap, problems
