"""The export dialog: format and file; the export itself runs under a progress dialog."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, RadioButton, RadioSet, Static

#: format id -> (label, file extension)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("CSV", ".csv"),
    "xlsx": ("Excel (XLSX)", ".xlsx"),
    "jsonl": ("JSON Lines", ".jsonl"),
}


@dataclass(frozen=True, slots=True)
class ExportChoice:
    fmt: str
    path: Path


def free_name(directory: Path, stem: str, ext: str) -> str:
    """``stem.ext``, or ``stem-2.ext`` ... : a file name not yet taken in ``directory``."""
    name = f"{stem}{ext}"
    n = 2
    while (directory / name).exists():
        name = f"{stem}-{n}{ext}"
        n += 1
    return name


class ExportDialog(ModalScreen[ExportChoice | None]):
    """Choose CSV, XLSX or JSON Lines and a path (relative to the working directory).

    The path is checked before the dialog closes: its folder must exist and an
    existing file is only overwritten after a second Enter.
    """

    CSS_PATH = "dialogs.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def __init__(self, count: int, stem: str, directory: Path | None = None) -> None:
        super().__init__()
        self.count = count
        self.directory = directory or Path.cwd()
        self.stem = stem
        self.fmt = "csv"
        self._overwrite_ok: Path | None = None

    def compose(self) -> ComposeResult:
        rows = "row" if self.count == 1 else "rows"
        with Vertical(id="dialog", classes="export"):
            yield Static(Text(f"Export {self.count:,} {rows}", style="bold"), classes="dialog-title")
            with RadioSet(id="export-format"):
                for fmt, (label, _ext) in FORMATS.items():
                    yield RadioButton(label, value=fmt == self.fmt, id=f"fmt-{fmt}")
            yield Static(Text("File (relative to the working folder):"), classes="dialog-body")
            yield Input(free_name(self.directory, self.stem, ".csv"), id="export-path")
            yield Static("", id="export-error", classes="dialog-error", markup=False)
            yield Static(Text("Tab: next field   Enter: export   Esc: cancel", style="dim"), classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        fmt = (event.pressed.id or "fmt-csv").removeprefix("fmt-")
        old_ext, new_ext = FORMATS[self.fmt][1], FORMATS[fmt][1]
        self.fmt = fmt
        path_input = self.query_one("#export-path", Input)
        value = path_input.value
        if value.lower().endswith(old_ext):
            path_input.value = value[: -len(old_ext)] + new_ext

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.submit()

    def submit(self) -> None:
        error = self.query_one("#export-error", Static)
        raw = self.query_one("#export-path", Input).value.strip()
        if not raw:
            error.update(Text("Give a file name."))
            return
        try:
            path = Path(raw).expanduser()
            if not path.is_absolute():
                path = self.directory / path
            if path.is_dir():
                error.update(Text(f"{path} is a folder: add a file name."))
                return
            named = next((label for fmt, (label, ext) in FORMATS.items()
                          if fmt != self.fmt and path.suffix.lower() == ext), None)
            if named is not None:  # an XLSX file called .csv opens as garbage
                error.update(Text(f"{path.name} names a {named} file, but {FORMATS[self.fmt][0]} is chosen: "
                                  "change the name or the format."))
                return
            if not path.parent.is_dir():
                error.update(Text(f"Folder {path.parent} does not exist."))
                return
            if path.exists() and self._overwrite_ok != path:
                self._overwrite_ok = path
                error.update(Text(f"{path.name} exists: press Enter again to overwrite it."))
                return
        except (OSError, RuntimeError) as exc:  # a name too long, a folder we may not look into, ~nouser
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            error.update(Text(f"Cannot write there: {reason}."))
            return
        self.dismiss(ExportChoice(self.fmt, path))

    def action_cancel(self) -> None:
        self.dismiss(None)
