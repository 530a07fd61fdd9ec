"""The help screen: every key of the screen it was opened from, and the global keys.

Built from the live bindings (``Screen.active_bindings``), so keys remapped
in ``keymap.toml`` and the keys of the focused widget are shown as they
really are.
"""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Footer, Static


def key_rows(app: App, screen: Screen) -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(screen keys, global keys) as (key, description, binding id) rows, in binding order."""
    mine: list[tuple[str, str, str]] = []
    globals_: list[tuple[str, str, str]] = []
    seen: set[tuple[int, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if binding.system and not binding.description:
            continue
        ident = (id(active.node), binding.action)
        key = app.get_key_display(binding)
        description = binding.tooltip or binding.description or binding.action.replace("_", " ")
        row = (key, description, binding.id or "")
        target = globals_ if isinstance(active.node, App) else mine
        if ident in seen:  # one action bound to several keys: one row listing all keys
            for i, (k, d, b) in enumerate(target):
                if d == description and b == row[2]:
                    target[i] = (f"{k}, {key}", d, b)
            continue
        seen.add(ident)
        target.append(row)
    return mine, globals_


def keys_table(title: str, rows: list[tuple[str, str, str]]) -> Table:
    table = Table(title=title, title_justify="left", show_header=True, header_style="bold", expand=True,
                  box=None, padding=(0, 1))
    table.add_column("Key", no_wrap=True, style="bold")
    table.add_column("Does")
    table.add_column("Binding id (keymap.toml)", style="dim", no_wrap=True)
    for key, description, binding_id in rows:
        table.add_row(Text(key), Text(description), Text(binding_id))
    return table


class HelpScreen(ModalScreen[None]):
    """All keys of ``screen`` and the global keys; Escape, ``q``, ``?`` or F1 close it."""

    CSS_PATH = "screens.tcss"
    BINDINGS = [
        Binding("escape,q,question_mark,f1", "close", "Close", id="help.close"),
    ]

    def __init__(self, screen: Screen) -> None:
        super().__init__()
        self.source = screen

    def compose(self) -> ComposeResult:
        mine, globals_ = key_rows(self.app, self.source)
        name = getattr(self.source, "TITLE", None) or type(self.source).__name__
        with VerticalScroll(id="help-body"):
            yield Static(keys_table(f"Keys of {name}", mine), id="help-screen-keys")
            yield Static(keys_table("Everywhere", globals_), id="help-global-keys")
            yield Static(Text(
                "Remap keys in $XDG_CONFIG_HOME/bouncedesk/keymap.toml: binding_id = \"key\" "
                "(several keys: \"k,ctrl+k\"). ctrl+p opens the command palette.", style="dim"))
        yield Footer()

    def action_close(self) -> None:
        self.dismiss(None)
