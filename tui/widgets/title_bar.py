"""The title row of every screen: what the screen shows, and the keys of the app's four screens.

Why not the footer: at 80 columns the footer has room for a screen's own
keys only (a list screen's eight, the recipients' filters), and the global
keys 1-4 came last and were cut ("1 Mai").  The title row has room to the
right of the title; there the four screens read like tabs, the one the
operator is in marked, with the keys as remapped in keymap.toml.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.dom import DOMNode
from textual.widgets import Static

_SWITCH = re.compile(r"switch_mode\('(\w+)'\)")


def app_screens(app: App) -> list[tuple[str, str, str]]:
    """(binding id, label, mode) of the app's top-level screens, in key order: its ``switch_mode`` keys."""
    out = []
    for binding in app.BINDINGS:
        if isinstance(binding, Binding) and binding.id and (m := _SWITCH.fullmatch(binding.action)):
            out.append((binding.id, binding.description, m.group(1)))
    return out


def bound_keys(node: DOMNode) -> dict[str, str]:
    """binding id -> the key shown for it, of ``node``'s own bindings, with the keymap applied.

    Textual applies keymap.toml to copies of the bindings as it resolves a key
    (``Screen._binding_chain``), so the node's own map still has the defaults.
    """
    app = node.app
    bindings = node._bindings.copy()  # noqa: SLF001 - Textual's bindings map, as the binding chain uses it
    if app._keymap:  # noqa: SLF001
        bindings.apply_keymap(app._keymap)  # noqa: SLF001
    shown: dict[str, str] = {}
    for key_bindings in bindings.key_to_bindings.values():
        for binding in key_bindings:
            if binding.id and binding.id not in shown:
                shown[binding.id] = app.get_key_display(binding)
    return shown


def modes_text(app: App, current: str | None) -> Text:
    """"1 Mailings  2 Blocked  3 Complaints  4 Audit" with ``current`` marked."""
    keys = bound_keys(app)
    text = Text(no_wrap=True, overflow="ellipsis")
    for n, (binding_id, label, mode) in enumerate(app_screens(app)):
        if n:
            text.append("  ")
        style = "reverse bold" if mode == current else ""
        text.append(f"{keys.get(binding_id, '?')} ", style="bold" if mode != current else style)
        text.append(label, style=style)
    return text


class TitleBar(Horizontal):
    """The screen's title (``#title``, updated by the screen) and the app's screens on the right (``#modes``)."""

    def __init__(self, title: str | Text = "") -> None:
        super().__init__(classes="title-row")
        self._title = title

    def compose(self) -> ComposeResult:
        yield Static(self._title, id="title", classes="title", markup=False)
        yield Static(id="modes", classes="title modes", markup=False)

    def on_mount(self) -> None:
        self.query_one("#modes", Static).update(modes_text(self.app, getattr(self.app, "current_mode", None)))
